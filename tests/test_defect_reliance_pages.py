"""The dashboard's defect-reliance views, headless (AppTest): the Runs page button and Assess's "without" view."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

TESTS = Path(__file__).parent
REPO = TESTS.parent
sys.path[:0] = [str(TESTS), str(REPO)]
import fixtures_runs as fx  # noqa: E402

from dashboard.parts.runs import defect_reliance as runs_part  # noqa: E402
from lightning_module.evaluation.defect_reliance import read_report  # noqa: E402
from lightning_module.models.networks import build_network  # noqa: E402
from lightning_module.synthetic import DEFECTS, generate_dataset, read_manifest  # noqa: E402

APP = REPO / "dashboard" / "app.py"
RUNS_PAGE = REPO / "dashboard" / "views" / "runs.py"
ASSESS_PAGE = str(REPO / "dashboard" / "views" / "assess.py")
CHART = runs_part.CHART_TITLE


def _checkpoint(path: Path, image_size: int = 64) -> Path:
    torch.manual_seed(0)
    network = build_network("seed_cnn", len(fx.CLASSES), "grayscale", image_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {f"network.{k}": v for k, v in network.state_dict().items()},
                "hyper_parameters": {"class_names": fx.CLASSES, "backbone": "seed_cnn", "image_size": image_size,
                                     "color_mode": "grayscale", "scenario": "Pr_Po_Im"}}, path)
    return path


def _synthetic_run(root: Path, name: str) -> Path:
    """A finished fixture run that says it trained on the built-in synthetic data, with a real checkpoint."""
    run = fx.finished_run(root, name)
    record = json.loads((run / "run.json").read_text())
    record["data"] = {"source": "synthetic", "description": "synthetic (data/synthetic-n458-seed0)"}
    (run / "run.json").write_text(json.dumps(record))
    _checkpoint(run / "checkpoints" / "best.ckpt")
    return run


@pytest.fixture()
def runs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv("TREERISK_RUNS_DIR", str(root))
    monkeypatch.setenv("TREERISK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(runs_part, "DASHBOARD_TREES", 6)  # the page reads it when the button is pressed
    return root


def _runs_page(run_id: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.switch_page(str(RUNS_PAGE))
    at.query_params["run"] = run_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _chart_titles(at: AppTest) -> list[str]:
    return [(json.loads(c.proto.spec)["layout"].get("title") or {}).get("text", "") for c in at.get("plotly_chart")]


def test_runs_page_measures_on_demand_keeps_the_result_and_draws_the_chart(runs_root: Path) -> None:
    run = _synthetic_run(runs_root, "synth")
    at = _runs_page("synth/version_0")
    button = at.button(key="reliance-synth/version_0")
    assert button.label == runs_part.BUTTON and CHART not in _chart_titles(at)  # nothing measured until asked
    button.click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert CHART in _chart_titles(at)
    report = read_report(run / runs_part.RELIANCE_FILE)
    assert report is not None and report.trees_scanned == 6 and report.seed == 9001
    figure = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if CHART in c.proto.spec)
    true_class, risk = figure["data"]
    assert (true_class["name"], risk["name"]) == ("drop in P(true class)", "drop in predicted risk")
    measured = sorted((d for d in report.defects if d.trees), key=lambda d: d.risk_drop)
    assert len(risk["y"]) == len(measured) and "arrayminus" in risk["error_x"]
    assert risk["x"] == pytest.approx([d.risk_drop for d in measured])
    assert [y.split(" · ")[0] for y in risk["y"]] == [d.defect.replace("_", " ") for d in measured]

    again = _runs_page("synth/version_0")  # a later visit shows the kept result at once
    assert CHART in _chart_titles(again)
    assert again.button(key="reliance-synth/version_0").label == "Measure again"
    assert not [w for w in again.warning if "earlier version" in w.value]


def test_runs_page_offers_nothing_for_runs_on_real_photos(runs_root: Path) -> None:
    fx.finished_run(runs_root, "photos")
    at = _runs_page("photos/version_0")
    assert not [b for b in at.button if b.label == runs_part.BUTTON]


# -- Assess -----------------------------------------------------------------------------------------------------

@pytest.fixture()
def assess_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "runs"
    run = root / "demo" / "version_0"
    _checkpoint(run / "checkpoints" / "best.ckpt")
    (run / "run.json").write_text(json.dumps({"status": "finished", "backbone": "seed_cnn",
                                              "best": {"val/bal_acc": 0.5}}))
    monkeypatch.setenv("TREERISK_RUNS_DIR", str(root))
    monkeypatch.setenv("TREERISK_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def _assess() -> AppTest:
    at = AppTest.from_file(ASSESS_PAGE, default_timeout=120)
    at.run()
    model = at.selectbox(key="assess_model")
    model.select_index(next(i for i, o in enumerate(model.options) if o.startswith("Run demo/version_0")))
    at.run()
    assert not at.exception, at.exception
    return at


def _without_box(at: AppTest):
    return next((s for s in at.selectbox if s.key and s.key.startswith("assess_without_")), None)


def test_an_example_photo_can_be_seen_without_each_of_its_defects(assess_env: Path) -> None:
    at = _assess()
    at.button(key="assess_example_2").click()  # example_3_probable.jpg: cavity, dead limbs, crown dieback
    at.run()
    assert not at.exception, at.exception
    box = _without_box(at)
    assert box is not None and box.options[0].startswith("cavity")
    assert [o.split(" (")[0] for o in box.options] == ["cavity", "dead limbs", "crown dieback"]
    assert any("Without the cavity" in m.value for m in at.markdown)
    box.select_index(2)
    at.run()
    assert not at.exception, at.exception
    texts = "\n".join(c.value for c in at.caption)
    assert "Without the crown dieback" in texts and "Generator's class: Probable" in texts


def test_a_generated_photo_from_the_data_folder_gets_the_view_and_a_foreign_one_does_not(assess_env: Path) -> None:
    folder = generate_dataset(assess_env / "data" / "synthetic-n8-seed5", n=8, seed=5, width=160, height=120)
    row = next(r for r in read_manifest(folder) if any(r[f"severity_{d}"] > 0 for d in DEFECTS))
    at = _assess()
    name = Path(row["path"]).name
    at.file_uploader(key="assess_upload").set_value((name, (folder / row["path"]).read_bytes(), "image/jpeg"))
    at.run()
    assert not at.exception, at.exception
    box = _without_box(at)
    assert box is not None and box.key.endswith(f"{row['group']}_p0")
    assert not [c for c in at.caption if "not byte for byte" in c.value]

    at.file_uploader(key="assess_upload").set_value(("oak.jpg", (folder / row["path"]).read_bytes(), "image/jpeg"))
    at.run()
    assert not at.exception and _without_box(at) is None  # a name no manifest lists: no view
