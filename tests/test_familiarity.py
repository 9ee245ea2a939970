"""The unfamiliar-photo check: Mahalanobis distance in the network's own features (evaluation/unfamiliar.py).

It flags what is clearly foreign and lets familiar photos through, its calibration travels inside a bundled
checkpoint and survives re-bundling, and screening rows and exports carry its verdict. The Assess page's warning is
tested in test_assess_page.py; the other familiarity checks (low confidence, too small) in test_explain.py.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from assess_samples import gps_jpeg, jpeg, page_of_text
from lightning_module.assessment.archives import Upload, batch_items
from lightning_module.assessment.exports import geojson_text, rows_to_csv
from lightning_module.assessment.screening import UNFAMILIAR_LABEL, apply_rating, screen
from lightning_module.evaluation import familiarity
from lightning_module.evaluation.predictor import Predictor, load_predictor
from lightning_module.evaluation.unfamiliar import PERCENTILE, FamiliarityReference, PhotoReading, fit_reference
from lightning_module.models.networks import TreeRiskNetwork, build_network
from lightning_module.training.bundle import bundle_run

CLASSES = ["Improbable", "Possible", "Probable"]
SIZE = 32
WARNING = "does not look like the tree photos the model learned from"


def _network() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_network("seed_cnn", len(CLASSES), "grayscale", SIZE).eval()


def _predictor(checkpoint: Path = Path("test.ckpt")) -> Predictor:
    return Predictor(_network(), CLASSES, SIZE, "grayscale", "seed_cnn", "Pr_Po_Im", checkpoint)


def _trees(count: int, first_seed: int = 0) -> list[bytes]:
    """Photos like the ones the test model 'knows': greenish texture with a trunk (tests/assess_samples.py)."""
    return [jpeg(seed=first_seed + i) for i in range(count)]


def _noise() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return _predictor()


@pytest.fixture(scope="module")
def reference(predictor: Predictor) -> FamiliarityReference:
    calibrated = familiarity.calibrate(predictor, _trees(40))
    assert calibrated is not None
    return calibrated


def _verdict(predictor: Predictor, reference: FamiliarityReference, data: bytes) -> familiarity.Familiarity:
    photo = predictor.prepare(data)
    reading = familiarity.read_photo(predictor, photo)
    return familiarity.check(torch.softmax(torch.from_numpy(reading.logits), 0).numpy(), photo, SIZE, reference, reading)


def test_on_synthetic_features_far_points_are_flagged_and_familiar_ones_mostly_not() -> None:
    rng = np.random.default_rng(0)
    centres = {"last_conv": rng.normal(0, 3, (3, 20))}
    spread = {name: rng.normal(0, 1, (c.shape[1], c.shape[1])) / 4 for name, c in centres.items()}

    def readings(count: int, shift: float = 0.0) -> list[PhotoReading]:
        out = []
        for _ in range(count):
            k = int(rng.integers(3))
            features = {}
            for name, c in centres.items():
                x = c[k] + rng.normal(0, 1, c.shape[1]) @ spread[name]
                features[name] = x + shift * rng.normal(0, 1, c.shape[1])
            out.append(PhotoReading(np.eye(3)[k] * 4, features))
        return out

    reference = fit_reference(readings(300), "synthetic features")
    assert reference.photos == 300 and np.isfinite(reference.threshold) and reference.threshold > 0
    familiar = np.mean([reference.is_unfamiliar(r) for r in readings(400)])
    assert familiar <= 0.07  # the threshold is the 97th percentile of held-out familiar scores
    assert all(reference.is_unfamiliar(r) for r in readings(50, shift=3.0))

    # The percentile travels with the threshold; an entry from before it was stored was made at the 98th.
    entry = reference.to_checkpoint_entry()
    assert FamiliarityReference.from_checkpoint_entry(entry).percentile == PERCENTILE
    assert "97th percentile" in reference.summary()["method"]
    del entry["percentile"]
    older = FamiliarityReference.from_checkpoint_entry(entry)
    assert older.threshold == reference.threshold and "98th percentile" in older.summary()["method"]


def test_a_page_of_text_and_noise_are_flagged_and_held_out_trees_mostly_not(
    predictor: Predictor, reference: FamiliarityReference,
) -> None:
    for foreign in (page_of_text(64, 48), _noise()):
        result = _verdict(predictor, reference, foreign)
        assert result.unfamiliar is True and not result.trustworthy
        assert WARNING in result.warnings[0] and "do not trust its rating" in result.warnings[0]
        assert result.unfamiliarity > result.unfamiliarity_threshold == reference.threshold
    held_out = [_verdict(predictor, reference, tree).unfamiliar for tree in _trees(20, first_seed=100)]
    assert sum(held_out) <= 3  # about 1 in 20 familiar photos is flagged by design


def test_without_a_reference_or_readable_features_the_check_is_not_available(
    predictor: Predictor, reference: FamiliarityReference,
) -> None:
    photo = predictor.prepare(page_of_text(64, 48))
    unknown = familiarity.check([0.9, 0.05, 0.05], photo, SIZE)
    assert unknown.unfamiliar is None and unknown.unfamiliarity is None
    assert any("not available" in note for note in unknown.notes)
    # A network without a convolution (a test double) cannot be read: the photo is not checked, and nothing breaks.
    dense = TreeRiskNetwork(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(SIZE * SIZE, 3)), (0.5,), (0.25,),
                            rgb_input=False).eval()
    odd = Predictor(dense, CLASSES, SIZE, "grayscale", "dense", "Pr_Po_Im", Path("odd.ckpt"))
    reading = familiarity.read_photo(odd, photo)
    assert not reading.complete and reading.logits.shape == (3,)
    assert familiarity.check([0.9, 0.05, 0.05], photo, SIZE, reference, reading).unfamiliar is None


def _write_photos(folder: Path, photos: list[bytes]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, data in enumerate(photos):
        path = folder / f"tree_{index:02d}.jpg"
        path.write_bytes(data)
        paths.append(path)
    return paths


def _finished_run(root: Path, photos: list[Path]) -> Path:
    """A finished run as `fit` leaves it: run.json, best.ckpt and the validation listing."""
    run = root / "run" / "version_0"
    (run / "checkpoints").mkdir(parents=True)
    (run / "predictions").mkdir()
    torch.save({
        "state_dict": {f"network.{k}": v for k, v in _network().state_dict().items()},
        "hyper_parameters": {"class_names": CLASSES, "backbone": "seed_cnn", "image_size": SIZE,
                             "color_mode": "grayscale", "scenario": "Pr_Po_Im"},
    }, run / "checkpoints" / "best.ckpt")
    (run / "run.json").write_text(json.dumps({"status": "finished", "best": {"val/bal_acc": 0.5}}))
    rows = ["path,true,pred,confidence"] + [f"{p},Improbable,Improbable,0.5" for p in photos]
    (run / "predictions" / "val_epoch_3.csv").write_text("\n".join(rows + ["/gone.jpg,Possible,Possible,0.4"]) + "\n")
    return run


def test_a_run_is_calibrated_on_its_validation_photos(tmp_path: Path) -> None:
    photos = _write_photos(tmp_path / "val", _trees(25))
    run = _finished_run(tmp_path, photos)
    best = run / "checkpoints" / "best.ckpt"
    assert familiarity.validation_photos(best) == photos  # the missing file is left out
    predictor = load_predictor(best)
    assert familiarity.stored_reference(predictor) is None  # a run's checkpoint carries none
    reference = familiarity.reference_for(predictor)
    assert reference is not None and reference.photos == 25 and reference.source == "validation photos of the run"
    energies = [familiarity.energy_score(familiarity.read_photo(predictor, predictor.prepare(p)).logits) for p in photos]
    assert reference.energy_threshold == pytest.approx(np.percentile(energies, 95), rel=1e-6)  # kept for the bench
    assert familiarity.calibrate(predictor, photos[:5]) is None  # too few to mean anything


def test_the_calibration_travels_in_the_bundle_and_survives_rebundling(tmp_path: Path) -> None:
    photos = _write_photos(tmp_path / "val", _trees(30))
    run = _finished_run(tmp_path, photos)
    out = bundle_run(run, tmp_path / "bundle" / "model.ckpt")
    direct = familiarity.calibrate(load_predictor(run / "checkpoints" / "best.ckpt"), photos,
                                   source="validation photos")
    assert direct is not None

    # The checkpoint alone (no model card beside it) rebuilds the check, and it loads with weights_only=True.
    alone = tmp_path / "elsewhere" / "model.ckpt"
    alone.parent.mkdir()
    shutil.copy(out, alone)
    assert "familiarity" in torch.load(alone, map_location="cpu", weights_only=True)
    predictor = load_predictor(alone)
    stored = familiarity.reference_for(predictor)
    assert stored is not None and stored.threshold == direct.threshold and stored.photos == 30
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["familiarity"]["threshold"] == direct.threshold and card["familiarity"]["stored_in"] == "checkpoint"

    probes = [page_of_text(64, 48), _noise(), *_trees(6, first_seed=200)]
    for data in probes:
        photo = predictor.prepare(data)
        reading = familiarity.read_photo(predictor, photo)
        assert stored.score(reading) == direct.score(reading)
        assert stored.is_unfamiliar(reading) == direct.is_unfamiliar(reading)
    assert stored.is_unfamiliar(familiarity.read_photo(predictor, predictor.prepare(page_of_text(64, 48))))

    again = familiarity.stored_reference(load_predictor(bundle_run(run, out, replace=True)))
    assert again is not None and again.threshold == direct.threshold


def test_writing_a_calibration_into_a_bundled_checkpoint(tmp_path: Path) -> None:
    photos = _write_photos(tmp_path / "val", _trees(25))
    checkpoint = tmp_path / "model.ckpt"
    torch.save({
        "state_dict": {f"network.{k}": v for k, v in _network().state_dict().items()},
        "hyper_parameters": {"class_names": CLASSES, "backbone": "seed_cnn", "image_size": SIZE, "color_mode": "grayscale"},
        "datamodule_hyper_parameters": {"source": "synthetic", "seed": 0},
    }, checkpoint)
    checkpoint.with_suffix(".json").write_text(json.dumps({"model": "seed_cnn"}))
    assert familiarity.main([str(checkpoint), str(tmp_path / "val"), "--write"]) == 0
    content = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert content["datamodule_hyper_parameters"] == {"source": "synthetic", "seed": 0}  # the rest is kept
    reference = familiarity.stored_reference(load_predictor(checkpoint))
    card = json.loads(checkpoint.with_suffix(".json").read_text())
    assert reference is not None and reference.photos == 25 and card["familiarity"]["threshold"] == reference.threshold
    assert card["model"] == "seed_cnn"


def test_screening_rows_and_exports_carry_the_flag(predictor: Predictor, reference: FamiliarityReference) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from dashboard.parts.assess.table import rows_table

    uploads = [Upload("tree.jpg", gps_jpeg(51.5, -0.12)), Upload("page.png", page_of_text(64, 48))]
    rows = screen(predictor, batch_items(uploads), reference)
    tree, page = rows
    assert page.unfamiliar is True and page.warnings[0] == UNFAMILIAR_LABEL and WARNING in page.warning_text[0]
    assert tree.unfamiliar is False and UNFAMILIAR_LABEL not in tree.warnings
    apply_rating(rows, "High", "Severe")
    table = list(csv.DictReader(io.StringIO(rows_to_csv(rows, CLASSES, "High", "Severe"))))
    assert [line["unfamiliar"] for line in table] == ["no", "yes"]
    assert WARNING in table[1]["warnings"]
    geo = json.loads(geojson_text(rows, "High", "Severe"))
    assert geo["features"][0]["properties"]["unfamiliar"] is False
    assert [record["Unfamiliar"] for record in rows_table(rows)] == [False, True]

    unchecked = screen(predictor, batch_items(uploads))  # no calibration for this model
    assert [row.unfamiliar for row in unchecked] == [None, None]
    assert [line["unfamiliar"] for line in csv.DictReader(io.StringIO(rows_to_csv(unchecked, CLASSES, "High", "Severe")))] == ["", ""]
