"""Every dashboard page, headless (streamlit AppTest) on fixture runs: what a user sees, number by number."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).parent
REPO = TESTS.parent
sys.path[:0] = [str(TESTS), str(REPO)]
import fixtures_runs as fx  # noqa: E402
from conftest import make_photo_folder  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from lightning_module.runs import launcher  # noqa: E402

APP = REPO / "dashboard" / "app.py"
PAGES = REPO / "dashboard" / "views"


@pytest.fixture(scope="session")
def entry() -> str:
    """The app's entry point, with its navigation, as a user starts it."""
    return str(APP)


@pytest.fixture()
def runs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv("TREERISK_RUNS_DIR", str(root))
    monkeypatch.setenv("TREERISK_DATA_DIR", str(tmp_path / "data"))
    return root


@pytest.fixture()
def all_runs(runs_root: Path) -> dict[str, Path]:
    return fx.all_runs(runs_root)


@pytest.fixture()
def open_page(entry: str):
    def opener(page: str, **query: str) -> AppTest:
        return _open(entry, page, **query)

    return opener


def _open(entry: str, page: str, **query: str) -> AppTest:
    at = AppTest.from_file(entry, default_timeout=60)
    at.run()
    at.switch_page(str(PAGES / f"{page}.py"))
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _decoded(value):
    """Plotly sends numeric arrays as base64 ``{"dtype", "bdata"[, "shape"]}``; turn them back into lists."""
    if isinstance(value, dict) and "bdata" in value and "dtype" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        if "shape" in value:
            array = array.reshape([int(n) for n in str(value["shape"]).split(",")])
        return array.tolist()
    if isinstance(value, dict):
        return {k: _decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value


def charts(at: AppTest) -> dict[str, dict]:
    """Every plotly figure on the page by its title."""
    figures = [_decoded(json.loads(chart.proto.spec)) for chart in at.get("plotly_chart")]
    return {(f["layout"].get("title") or {}).get("text", "untitled"): f for f in figures}


def trace(figure: dict, name: str) -> dict:
    return next(t for t in figure["data"] if t.get("name") == name)


def table(at: AppTest, column: str):
    """The first table on the page with ``column`` (AppTest does not keep a data frame's key)."""
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


# ------------------------------------------------------------------------------------------------ app
def test_app_frames_every_page_with_sections(all_runs) -> None:
    at = AppTest.from_file(str(APP), default_timeout=60).run()  # the real entry point, as `streamlit run` starts it
    assert not at.exception
    assert at.title[0].value == ":material/park: TreeRisk"  # Overview is the default page
    for page, title in (("train", "Train"), ("runs", "Runs"), ("compare", "Compare runs")):
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception and at.title[0].value == title


# ------------------------------------------------------------------------------------------------ overview
def test_overview_shows_latest_runs_beside_the_baseline(open_page, all_runs, tmp_path: Path) -> None:
    make_photo_folder(tmp_path / "data" / "lab", per_class=(4, 3, 3))
    at = open_page("overview")
    metrics = {m.label: m for m in at.metric}
    assert metrics["Training runs"].value == "7"
    assert metrics["Training now"].value == "2"  # running and starting (the crashed one is not counted)
    best = metrics["Best balanced accuracy"]
    assert (best.value, best.delta) == ("0.71", "+0.38")
    assert best.proto.delta_description == "vs majority baseline 0.33" and "finished/version_0, epoch 3" in best.proto.help

    latest = table(at, "majority baseline").set_index("run")
    assert latest.loc["finished/version_0", "best bal. acc"] == pytest.approx(0.71)
    assert latest.loc["finished/version_0", "majority baseline"] == pytest.approx(1 / 3)
    assert latest.loc["finished/version_0", "verdict"] == "✓ +0.38 over baseline"
    assert latest.loc["collapsed/version_0", "verdict"] == "✗ COLLAPSED"
    assert latest.loc["crashed/version_0", "status"] == "crashed"
    assert latest.loc["broken/version_0", "status"] == "unreadable"

    photos = table(at, "dataset").set_index("dataset")
    assert photos.loc["lab", "photos"] == 10 and photos.loc["lab", "Improbable"] == 4


def test_overview_without_runs_or_data_says_what_to_do(open_page, runs_root: Path) -> None:
    at = open_page("overview")
    assert "No training runs yet." in texts(at.info)
    assert "built-in synthetic set is generated there the first time" in texts(at.info)
    assert {m.label: m.value for m in at.metric}["Best balanced accuracy"] == "–"


# ------------------------------------------------------------------------------------------------ runs
def test_runs_page_headline_curves_and_baseline_of_a_finished_run(open_page, all_runs) -> None:
    at = open_page("runs", run="finished/version_0")
    assert at.selectbox(key="picked_run").value == "finished/version_0"
    headline = at.metric[0]
    assert (headline.label, headline.value, headline.delta) == ("Balanced accuracy", "0.71", "+0.38")
    assert headline.proto.delta_description == "vs majority baseline 0.33"
    assert [m.label for m in at.metric] == ["Balanced accuracy", "Macro F1", "Accuracy"]  # balanced metrics lead

    figures = charts(at)
    assert {"Balanced accuracy", "Macro F1", "Accuracy", "Loss"} <= set(figures)
    bal_acc = figures["Balanced accuracy"]
    assert trace(bal_acc, "validation")["y"] == pytest.approx(fx.FINISHED_BAL_ACC)
    assert trace(bal_acc, "training")["x"] == [1, 2, 3]
    assert trace(bal_acc, "majority baseline (0.33)")["y"] == pytest.approx([1 / 3, 1 / 3])
    assert trace(figures["Accuracy"], "majority baseline (0.60)")["y"] == pytest.approx([0.6, 0.6])
    assert not any("baseline" in t.get("name", "") for t in figures["Loss"]["data"])
    assert not at.error  # not collapsed, not failed


def test_runs_page_confusion_matrix_follows_the_epoch_slider_and_normalises(open_page, all_runs) -> None:
    at = open_page("runs", run="finished/version_0")
    heatmap = charts(at)["untitled"]["data"][0]
    assert heatmap["z"] == [[6, 0, 0], [1, 1, 0], [0, 1, 1]]  # the latest epoch by default
    per_class = table(at, "recall")
    assert list(per_class["recall"]) == pytest.approx([0.4, 0.6, 0.8])
    assert list(per_class["images"]) == [6, 2, 2]

    at.select_slider(key="epoch-finished/version_0").set_value("1").run()
    assert charts(at)["untitled"]["data"][0]["z"] == [[4, 2, 0], [1, 1, 0], [0, 1, 1]]
    at.toggle(key="normalise-finished/version_0").set_value(True).run()
    heatmap = charts(at)["untitled"]["data"][0]
    assert heatmap["text"][0] == ["67%", "33%", "0%"]
    assert heatmap["z"][1] == pytest.approx([0.5, 0.5, 0])


def test_runs_page_gallery_shows_misclassified_photos_with_their_classes(open_page, all_runs) -> None:
    at = open_page("runs", run="finished/version_0")
    assert "**2 of 10 validation photos misclassified** after epoch 3" in texts(at.markdown)
    captions = sorted(image.proto.imgs[0].caption for image in at.get("image"))
    assert captions == ["true Possible → predicted Improbable (50%)", "true Probable → predicted Possible (60%)"]


def test_runs_page_details_hyperparameters_data_report_and_timing(open_page, all_runs) -> None:
    at = open_page("runs", run="finished/version_0")
    settings = table(at, "setting").set_index("setting")["value"]
    assert settings["learning rate"] == "0.002" and settings["batch size"] == "16" and settings["backbone"] == "seed_cnn"
    assert "1 photo(s) skipped" in texts(at.warning)
    skipped = table(at, "reason")
    assert skipped.loc[0, "reason"] == "not a readable image (truncated file)"
    assert table(at, "val").loc["Possible", "val"] == 2
    assert "**Device:** cpu" in texts(at.markdown) and "**mean** 13.5 s per epoch" in texts(at.markdown)


def test_collapsed_run_gets_a_banner_and_no_green_gain(open_page, all_runs) -> None:
    at = open_page("runs", run="collapsed/version_0")
    banner = texts(at.error)
    assert "Collapsed model" in banner and "predicts **Improbable** for 100% of" in banner
    headline = at.metric[0]
    assert (headline.value, headline.delta) == ("0.33", "+0.00")
    assert headline.proto.delta_description == "vs majority baseline 0.33"
    assert headline.proto.color == headline.proto.MetricColor.GRAY  # "+0.00" must not look like a gain


def test_failed_run_shows_why_and_offers_resume(open_page, all_runs) -> None:
    at = open_page("runs", run="failed/version_0")
    assert fx.FAILED_ERROR in texts(at.error)
    assert [b.label for b in at.button] == ["Resume"]
    assert "Seed set to 0" in texts(at.code)  # the log is open for a failed run


def test_running_run_shows_progress_and_stop(open_page, all_runs) -> None:
    at = open_page("runs", run="running/version_0")
    assert [b.label for b in at.button] == ["Stop"]
    progress = at.get("progress")[0].proto
    assert progress.value == 20 and progress.text.startswith("Epoch 3 of 10")
    assert charts(at)["Balanced accuracy"]["data"][1]["y"] == pytest.approx([0.5, 0.55])


def test_a_run_training_on_another_machine_says_where_and_is_not_stopped_here(open_page, runs_root: Path) -> None:
    import subprocess
    from datetime import datetime, timedelta, timezone

    from lightning_module.training.run_files import update_run_json

    # Its pid is a process on the cluster node; here the same number is a bystander, which must survive Stop.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run_dir = fx.build_run(runs_root, "node", status="running", bal_accs=[0.5], max_epochs=10, pid=bystander.pid,
                               started_minutes_ago=5)
        beat = (datetime.now(timezone.utc) - timedelta(seconds=40)).isoformat()
        update_run_json(run_dir, host="gpu-node-17", heartbeat=beat)
        at = open_page("runs", run="node/version_0")
        assert at.get("progress"), "a live run of another machine shows its progress"
        assert any("on gpu-node-17, heard from 4" in c.value for c in at.caption), texts(at.caption)
        at.button(key="stop").click()
        at.run()
        assert "trains on gpu-node-17" in texts(at.warning) and "stop it there" in texts(at.warning)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_runs_that_have_no_epoch_crashed_or_cannot_be_read_still_render(open_page, all_runs) -> None:
    starting = open_page("runs", run="starting/version_0")
    assert "No epoch has finished yet" in texts(starting.info)
    assert [m.value for m in starting.metric] == ["–", "–", "–"]
    assert "Preparing data and model" in starting.get("progress")[0].proto.text

    crashed = open_page("runs", run="crashed/version_0")
    assert "This run crashed:" in texts(crashed.warning) and "no longer running" in texts(crashed.warning)
    assert [b.label for b in crashed.button] == ["Resume"]

    broken = open_page("runs", run="broken/version_0")
    assert "run.json cannot be read" in texts(broken.warning)
    assert [m.value for m in broken.metric] == ["–", "–", "–"]


def test_resume_from_the_runs_page_restarts_the_run(open_page, all_runs, monkeypatch: pytest.MonkeyPatch) -> None:
    resumed: list[Path] = []
    monkeypatch.setattr(launcher, "resume_training", lambda path: resumed.append(Path(path)) or launcher.StartedRun(Path(path), 1, []))
    at = open_page("runs", run="failed/version_0")
    at.button[0].click().run()
    assert resumed == [all_runs["failed"]]


def test_runs_page_without_runs_points_to_train(open_page, runs_root: Path) -> None:
    at = open_page("runs")
    assert "No training runs in" in texts(at.info)


# ------------------------------------------------------------------------------------------------ train
def test_train_page_refuses_a_missing_folder_before_starting(open_page, runs_root: Path, tmp_path: Path) -> None:
    at = open_page("train")
    at.radio(key="data_kind").set_value("folder").run()
    at.text_input(key="data_folder").input(str(tmp_path / "nowhere")).run()
    at.button(key="start").click().run()
    assert "Training not started" in texts(at.error) and f"Data folder not found: {tmp_path / 'nowhere'}" in texts(at.error)
    assert not any(runs_root.iterdir())


def test_train_page_names_the_class_missing_for_the_scenario(open_page, runs_root: Path, tmp_path: Path) -> None:
    folder = make_photo_folder(tmp_path / "two", per_class=(4, 0, 4))
    at = open_page("train")
    at.radio(key="data_kind").set_value("folder").run()
    at.text_input(key="data_folder").input(str(folder)).run()
    at.button(key="start").click().run()
    assert "Scenario 'Pr_Po_Im' needs class 'Possible'" in texts(at.error)
    at.selectbox(key="scenario").set_value("Pr_Im").run()
    assert at.caption[1].value == "Tells apart: Improbable · Probable"


def test_train_page_starts_what_was_chosen(open_page, runs_root: Path, photo_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[launcher.TrainingRequest] = []

    def fake_start(request: launcher.TrainingRequest, root: Path) -> launcher.StartedRun:
        asked.append(request)
        run_dir = fx.running_run(root, request.run_name)
        return launcher.StartedRun(run_dir, 1, [])

    monkeypatch.setattr(launcher, "start_training", fake_start)
    at = open_page("train")
    assert at.radio(key="pretrained").disabled  # seed_cnn has no ImageNet weights
    at.radio(key="data_kind").set_value("folder").run()
    at.text_input(key="data_folder").input(str(photo_folder))
    at.selectbox(key="image_size_choice").set_value("other…").run()
    at.number_input(key="image_size_other").set_value(32)
    at.number_input(key="epochs").set_value(3)
    at.number_input(key="batch_size").set_value(8)
    at.number_input(key="lr").set_value(0.01)
    at.text_input(key="run_name").input("mine")
    at.button(key="start").click().run()
    assert not at.exception
    request = asked[0]
    assert (request.data_kind, request.data_path, request.image_size) == ("folder", str(photo_folder), 32)
    assert (request.max_epochs, request.batch_size, request.lr, request.run_name) == (3, 8, 0.01, "mine")
    assert (request.accelerator, request.devices, request.pretrained) == ("cpu", 1, "none")
    assert "Started **mine/version_0**" in texts(at.success)
    assert "**mine/version_0**" in texts(at.markdown)  # listed under "Training now"
    assert "Stop" in [b.label for b in at.button]
    # Somebody else starts a run: the page redraws, and this person's confirmation is still there.
    fx.running_run(runs_root, "theirs")
    at.run()
    assert "Started **mine/version_0**" in texts(at.success)
    assert "**theirs/version_0**" in texts(at.markdown)


def test_train_page_lists_runs_in_progress_and_resumable_runs(open_page, all_runs) -> None:
    at = open_page("train")
    shown = texts(at.markdown)
    assert "**running/version_0**" in shown and "**starting/version_0**" in shown
    assert "**finished/version_0**" not in shown
    resumable = {o.split(" · ")[0] for o in at.selectbox(key="resume_pick").options}
    assert resumable == {"crashed/version_0", "failed/version_0"}


def test_train_page_with_nothing_running(open_page, runs_root: Path) -> None:
    at = open_page("train")
    assert "No run is training right now." in texts(at.caption)


# ------------------------------------------------------------------------------------------------ compare
def test_compare_page_side_by_side_with_baselines(open_page, all_runs) -> None:
    at = open_page("compare")
    at.multiselect(key="picked_runs").set_value(["finished/version_0", "collapsed/version_0"]).run()
    scores = table(at, "verdict").set_index("run")
    assert scores.loc["finished/version_0", "best bal. acc"] == pytest.approx(0.71)
    assert scores.loc["finished/version_0", "best epoch"] == 3
    assert scores.loc["collapsed/version_0", "verdict"] == "✗ COLLAPSED"
    assert scores.loc["collapsed/version_0", "baseline bal. acc"] == pytest.approx(1 / 3)
    settings = table(at, "finished/version_0")
    assert list(settings.columns) == ["finished/version_0", "collapsed/version_0"]
    assert settings.loc["epochs"].tolist() == ["3", "2"]  # only what differs, by default

    figure = charts(at)["Balanced accuracy (validation)"]
    assert trace(figure, "finished/version_0")["y"] == pytest.approx(fx.FINISHED_BAL_ACC)
    assert trace(figure, "collapsed/version_0")["y"] == pytest.approx([1 / 3, 1 / 3])
    assert trace(figure, "finished/version_0: majority baseline 0.33")["y"] == pytest.approx([1 / 3, 1 / 3])

    at.selectbox(key="compare_metric").set_value("loss").run()
    assert "Loss (validation)" in charts(at)


def test_compare_page_default_selection_and_empty_states(open_page, all_runs) -> None:
    at = open_page("compare")
    # the newest runs that have at least one finished epoch
    assert at.multiselect(key="picked_runs").value == ["running/version_0", "collapsed/version_0", "finished/version_0"]
    at.multiselect(key="picked_runs").set_value([]).run()
    assert "Choose one or more runs above." in texts(at.info)
