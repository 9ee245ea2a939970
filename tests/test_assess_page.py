"""The Assess page, headless (AppTest): real uploaded files of every awkward kind, one at a time and all at once."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from assess_samples import exif_rotated_jpeg, gps_jpeg, jpeg, upload_samples, zip_bytes
from lightning_module.evaluation.bundled_models import DEFAULT_MODEL
from lightning_module.models.networks import build_network

PAGE = str(Path(__file__).resolve().parents[1] / "dashboard" / "views" / "assess.py")
CLASSES = ["Improbable", "Possible", "Probable"]
MIME = {"jpg": "image/jpeg", "png": "image/png", "gif": "image/gif", "zip": "application/zip"}


def _write_run(root: Path, image_size: int = 64, name: str = "demo", classes: list[str] = CLASSES) -> Path:
    """A finished run with a real (untrained) TreeRisk checkpoint, as `fit` leaves it."""
    torch.manual_seed(0)
    network = build_network("seed_cnn", len(classes), "grayscale", image_size)
    run = root / name / "version_0"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({
        "state_dict": {f"network.{k}": v for k, v in network.state_dict().items()},
        "hyper_parameters": {"class_names": classes, "backbone": "seed_cnn", "image_size": image_size,
                             "color_mode": "grayscale", "scenario": "all"},
    }, run / "checkpoints" / "best.ckpt")
    (run / "run.json").write_text(json.dumps({
        "status": "finished", "backbone": "seed_cnn", "best": {"val/bal_acc": 0.5}, "timings": {"ended": "2026-11-24T04:00:00"},
    }))
    return run


@pytest.fixture()
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "runs"
    _write_run(root)
    monkeypatch.setenv("TREERISK_RUNS_DIR", str(root))
    return root


def _open(timeout: float = 120, run: str = "demo") -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=timeout)
    at.run()
    assert not at.exception, at.exception
    model = at.selectbox(key="assess_model")
    run_index = next(i for i, option in enumerate(model.options) if option.startswith(f"Run {run}/version_0"))
    if model.index != run_index:
        model.select_index(run_index)
        at.run()
    return at


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [s.value for s in at.subheader]
    return "\n".join(parts)


def _upload(at: AppTest, key: str, files: list[tuple[str, bytes]]) -> None:
    widget = at.file_uploader(key=key)
    widget.set_value([(name, data, MIME.get(name.rsplit(".", 1)[-1], "application/octet-stream")) for name, data in files])
    at.run()
    assert not at.exception, at.exception


def test_without_any_model_the_page_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dashboard.parts.shared.models as models  # the module the page itself imports (same process)

    # A copy without the bundled checkpoints (a fresh clone before `make bundled-checkpoint` could be one).
    monkeypatch.setattr(models, "bundled_checkpoints", lambda folder=None: [])
    monkeypatch.setenv("TREERISK_RUNS_DIR", str(tmp_path / "nothing"))
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception
    assert DEFAULT_MODEL.file_name in at.info[0].value and "not in this copy yet" in at.info[0].value
    assert "No model to assess with" in at.warning[0].value
    assert not at.file_uploader  # nothing to upload into


def test_each_kind_of_upload_gets_the_right_answer_on_its_own(runs: Path) -> None:
    at = _open()
    for sample in upload_samples():
        at.file_uploader(key="assess_upload").set_value((sample.name, sample.data, "application/octet-stream"))
        at.run()
        assert not at.exception, (sample.name, at.exception)
        errors = " ".join(e.value for e in at.error)
        if sample.ok:
            assert not errors, (sample.name, errors)
            assert any(s.value == sample.name for s in at.subheader), sample.name
            assert sample.says in _texts(at), (sample.name, sample.says)
            bars = [h.proto.body for h in at.get("html") if 'class="tr-bars"' in h.proto.body]
            assert [("Class probabilities" in b, "Probability of each risk rating" in b) for b in bars] == \
                [(True, False), (False, True)], "class probabilities, then the rating's, as bars with their percentages"
            assert at.download_button(key="assess_report").label.startswith("Download the one-page report")
        else:
            assert sample.name in errors and sample.says in errors, (sample.name, errors)
            assert not at.download_button


def test_all_kinds_in_one_batch_every_file_gets_its_row(runs: Path) -> None:
    at = _open()
    samples = upload_samples()
    files = [(s.name, s.data) for s in samples]
    files.append(("trees.zip", zip_bytes({"a/oak.jpg": gps_jpeg(42.45, -76.5), "a/../../x.jpg": jpeg(), "b.txt": b"hi"})))
    _upload(at, "assess_batch_upload", files)
    frame = at.dataframe[0].value
    names = [s.name for s in samples] + ["trees.zip › a/oak.jpg", "trees.zip › a/../../x.jpg", "trees.zip › b.txt"]
    assert list(frame["File"]) == names
    by_name = frame.set_index("File")
    for sample in samples:
        row = by_name.loc[sample.name]
        if sample.ok:
            assert row["Class"] in CLASSES and row["Rating"] in ("Low", "Moderate", "High", "Extreme"), sample.name
        else:
            assert sample.says in row["Notes"], (sample.name, row["Notes"])
    assert by_name.loc["trees.zip › a/oak.jpg", "Class"] in CLASSES
    assert "unsafe path" in by_name.loc["trees.zip › a/../../x.jpg", "Notes"]
    assert "not a photo type" in by_name.loc["trees.zip › b.txt", "Notes"]
    metrics = {m.label: m.value for m in at.metric}
    good = sum(s.ok for s in samples) + 1  # + the zip's oak.jpg
    assert metrics["Photos rated"] == str(good) and metrics["Could not be read"] == str(len(names) - good)
    assert "Where the photos were taken** (1 with GPS)" in _texts(at)
    labels = [b.label for b in at.download_button]
    assert "Download CSV" in labels and "Download GeoJSON" in labels


def test_examples_camera_and_the_risk_choices(runs: Path) -> None:
    at = _open()
    at.button(key="assess_example_0").click()
    at.run()
    assert not at.exception
    assert any(s.value.startswith("example_1") for s in at.subheader)

    # Very low likelihood of impact: every likelihood of failure gives "Unlikely", so the rating is Low.
    at.segmented_control(key="assess_impact").set_value("Very low")
    at.run()
    assert '<span class="tr-badge" style="background:#2e7d32">Low risk</span>' in _texts(at)
    at.segmented_control(key="assess_impact").set_value("High")
    at.segmented_control(key="assess_consequences").set_value("Severe")
    at.run()
    path_text = next(m.value for m in at.markdown if "tr-path" in m.value)
    assert "impact <span class=\"tr-step\">High</span>" in path_text and "consequences <span class=\"tr-step\">Severe</span>" in path_text

    at.toggle(key="assess_camera_on").set_value(True)
    at.run()
    at.camera_input(key="assess_camera").set_value(("shot.jpg", exif_rotated_jpeg(), "image/jpeg"))
    at.run()
    assert not at.exception
    assert any(s.value == "camera photo" for s in at.subheader)
    assert "120×160 px photo" in _texts(at)  # EXIF orientation applied


def test_screen_the_example_photos_button(runs: Path) -> None:
    at = _open()
    at.button(key="assess_batch_try").click()
    at.run()
    assert not at.exception
    frame = at.dataframe[0].value
    assert len(frame) == 3 and frame["Class"].notna().all()


def test_a_broken_checkpoint_or_a_non_isa_model_is_explained(runs: Path) -> None:
    broken = _write_run(runs, name="broken")
    (broken / "checkpoints" / "best.ckpt").write_bytes(b"not a checkpoint")
    at = _open(run="broken")
    assert "cannot be used" in at.error[0].value and "Not a valid checkpoint" in at.error[0].value
    assert not at.file_uploader  # nothing offered with a model that cannot load

    _write_run(runs, name="other", classes=["healthy", "sick"])
    at = _open(run="other")
    at.file_uploader(key="assess_upload").set_value(("tree.jpg", jpeg(), "image/jpeg"))
    at.run()
    assert not at.exception
    assert "No ISA risk" in _texts(at)
    assert any("'healthy', 'sick' are not ISA" in e.value for e in at.error)
    _upload(at, "assess_batch_upload", [("tree.jpg", jpeg())])
    assert any("are not ISA" in w.value for w in at.warning)
    assert list(at.dataframe[0].value["Rating"]) == ["n/a"]


def _image_captions(at: AppTest) -> list[str]:
    """The captions under the answer's pictures (one HTML element: dashboard.parts.assess.style.pictures_html)."""
    bodies = [element.proto.body for element in at.get("html")]
    return [html.unescape(c) for body in bodies for c in re.findall(r"<figcaption>(.*?)</figcaption>", body)]


def test_the_explanation_method_can_be_switched_and_the_heatmap_follows(runs: Path) -> None:
    from lightning_module.evaluation.explain import DEFAULT_EXPLANATION_METHOD, EXPLANATION_METHODS

    at = _open()
    at.button(key="assess_example_0").click()
    at.run()
    selector = at.selectbox(key="assess_explanation")
    assert selector.options == [m.label for m in EXPLANATION_METHODS.values()]
    assert selector.value == DEFAULT_EXPLANATION_METHOD
    default_label = EXPLANATION_METHODS[DEFAULT_EXPLANATION_METHOD].label
    assert any(default_label in caption for caption in _image_captions(at))
    other = next(name for name in reversed(EXPLANATION_METHODS) if name != DEFAULT_EXPLANATION_METHOD)
    selector.set_value(other)
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="assess_explanation").value == other
    assert any(EXPLANATION_METHODS[other].label in caption for caption in _image_captions(at))
    assert not any(default_label in caption for caption in _image_captions(at))


def test_a_photo_that_is_no_tree_gets_the_unfamiliar_warning_alone_and_in_a_batch(runs: Path, tmp_path: Path) -> None:
    from assess_samples import page_of_text

    # The run lists validation photos, so the page calibrates the unfamiliar-photo check on them.
    photos = []
    for index in range(24):
        photos.append(tmp_path / "val" / f"tree_{index}.jpg")
        photos[-1].parent.mkdir(exist_ok=True)
        photos[-1].write_bytes(jpeg(seed=index))
    (runs / "demo" / "version_0" / "predictions").mkdir()
    listing = ["path,true,pred,confidence"] + [f"{p},Improbable,Improbable,0.5" for p in photos]
    (runs / "demo" / "version_0" / "predictions" / "val_epoch_0.csv").write_text("\n".join(listing) + "\n")
    says = "does not look like the tree photos the model learned from"

    at = _open()
    at.file_uploader(key="assess_upload").set_value(("page.png", page_of_text(), "image/png"))
    at.run()
    assert not at.exception, at.exception
    assert any(says in w.value for w in at.warning)
    at.file_uploader(key="assess_upload").set_value(("tree.jpg", jpeg(seed=300), "image/jpeg"))
    at.run()
    assert not any(says in w.value for w in at.warning)

    _upload(at, "assess_batch_upload", [("page.png", page_of_text()), ("tree.jpg", jpeg(seed=301))])
    assert list(at.dataframe[0].value["Unfamiliar"]) == [True, False]
    assert any("1 photo does not look like the tree photos" in w.value for w in at.warning)


def test_removing_the_photo_clears_its_answer(runs: Path) -> None:
    """A removed photo's answer goes; the next photo's answer comes (a replaced photo reaches the page as "removed",
    then "added")."""
    at = _open()
    at.file_uploader(key="assess_upload").set_value(("tree.jpg", jpeg(), "image/jpeg"))
    at.run()
    assert [s.value for s in at.subheader] == ["tree.jpg"]
    at.file_uploader(key="assess_upload").set_value(None)
    at.run()
    assert not at.exception, at.exception
    assert not at.subheader, "the removed photo's answer is gone"
    assert any(i.value.startswith("Upload a photo") for i in at.info)
    at.file_uploader(key="assess_upload").set_value(("other.jpg", jpeg(seed=7), "image/jpeg"))
    at.run()
    assert [s.value for s in at.subheader] == ["other.jpg"]
