"""Re-drawing synthetic scenes without a defect, and measuring which defects a model relies on."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lightning_module.__main__ import main as cli_main
from lightning_module.evaluation.defect_reliance import (
    IGNORES,
    MIN_TREES,
    TOO_FEW,
    USES,
    DefectRelianceReport,
    bootstrap_interval,
    class_index,
    measure_defect_reliance,
    predicted_risk,
    read_report,
    verdict,
    write_report,
)
from lightning_module.evaluation.defect_reliance_card import markdown_table
from lightning_module.evaluation.predictor import Predictor
from lightning_module.models.networks import build_network
from lightning_module.synthetic import DEFECTS, SynthOptions, classify, generate_dataset, read_manifest, risk_score
from lightning_module.synthetic.redraw import (
    RedrawError,
    Scene,
    redraw,
    redraw_without,
    render_scene,
    scene_of_file_name,
    scene_of_row,
    tree_spec,
)
from lightning_module.synthetic.spec import sample_tree
from lightning_module.synthetic.domains import parse_domain

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"
W, H = 160, 120
CLASSES = ["Improbable", "Possible", "Probable"]
# Defects drawn onto the finished tree; lean and codominant stems move the whole tree, dieback regrows leaves.
ADDITIVE = ("trunk_crack", "cavity", "dead_limbs", "hanging_branch", "root_plate_heave", "fungal_conks", "wire_contact")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    # Imminent on and two photos per tree: the redraw must find both from the row alone.
    return generate_dataset(tmp_path_factory.mktemp("redraw") / "data", n=16, seed=3, width=W, height=H,
                            include_imminent=True, photos_per_tree=2)


def _trees_with(defect: str, count: int, seed: int = 7, label: str = "Probable", size=(320, 240)) -> list[Scene]:
    """``count`` scenes of ``label`` trees that have ``defect``, found by drawing specs (nothing rendered)."""
    found = []
    for index in range(2000):
        scene = Scene(seed, index, 0, label, "default", *size)
        if tree_spec(scene).severities[defect] > 0:
            found.append(scene)
            if len(found) == count:
                return found
    raise AssertionError(f"no {label} tree with {defect} in 2000")


# -- re-drawing -------------------------------------------------------------------------------------------------

def test_redraw_with_nothing_removed_is_byte_identical_to_every_generated_file(dataset: Path) -> None:
    rows = read_manifest(dataset)
    assert {r["photo"] for r in rows} == {"0", "1"} and any(r["label"] == "Probable" for r in rows)
    for row in rows:
        assert redraw_without(row, None).jpeg == (dataset / row["path"]).read_bytes(), row["path"]


def test_the_example_photos_are_redrawn_byte_for_byte_from_their_manifest() -> None:
    with (EXAMPLES / "manifest.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))  # raw strings, as a CSV reader gives them
    assert {r["path"] for r in rows} == {p.name for p in EXAMPLES.glob("*.jpg")}
    for row in rows:
        assert redraw_without(row, None).jpeg == (EXAMPLES / row["path"]).read_bytes(), row["path"]


def test_render_scene_and_file_names_find_the_same_photo(dataset: Path) -> None:
    options = SynthOptions(n=16, seed=3, width=W, height=H, include_imminent=True, photos_per_tree=2)
    # A Probable tree: the only class whose drawing says whether the dataset had an Imminent class.
    row = next(r for r in read_manifest(dataset) if r["label_clean"] == "Probable" and r["photo"] == "1")
    scene = scene_of_row(row)
    assert scene.include_imminent
    assert scene_of_file_name(Path(row["path"]).name, options) == scene
    assert scene_of_file_name("synth_s4_t00000_p0.jpg", options) is None  # another seed's file
    image = render_scene(options, scene.index, scene.photo)
    with Image.open(dataset / row["path"]) as stored:
        assert np.array_equal(np.asarray(image), np.asarray(stored))
    with pytest.raises(ValueError, match="no photo 5 of tree 0"):
        render_scene(options, 0, 5)


def test_a_row_this_generator_did_not_draw_is_refused(dataset: Path) -> None:
    row = dict(read_manifest(dataset)[0])
    with pytest.raises(RedrawError, match="does not match"):
        redraw_without({**row, "severity_cavity": 0.5 + float(row["severity_cavity"]) / 4}, None)
    with pytest.raises(RedrawError, match="not made by the synthetic generator"):
        scene_of_row({**row, "group": "tree-17"})
    with pytest.raises(RedrawError, match="incomplete"):
        scene_of_row({k: v for k, v in row.items() if k != "label_clean"})
    with pytest.raises(ValueError, match="Unknown defect"):
        redraw_without(row, "mistletoe")


@pytest.mark.parametrize("defect", ADDITIVE)
def test_removing_an_added_defect_changes_only_pixels_near_its_box(defect: str) -> None:
    scene = _trees_with(defect, 1)[0]
    with_it, without = redraw(scene), redraw(scene, defect)
    assert defect in with_it.boxes and defect not in without.boxes
    x0, y0, x1, y1 = with_it.boxes[defect]
    diff = np.abs(np.asarray(with_it.image(), np.int16) - np.asarray(without.image(), np.int16)).max(axis=2) > 24
    assert diff.any(), f"removing {defect} changed nothing"
    margin = 8  # JPEG works in 8-pixel blocks (16 for colour): an edit bleeds a block's width at most
    near = np.zeros_like(diff)
    near[max(0, y0 - margin):y1 + margin, max(0, x0 - margin):x1 + margin] = True
    assert diff[near].sum() >= 0.95 * diff.sum(), f"{defect}: changes outside its box"
    others = {d: b for d, b in with_it.boxes.items() if d != defect}
    assert {d: without.boxes.get(d) for d in others} == others  # every other defect is drawn where it was


@pytest.mark.parametrize("defect", ["lean", "codominant_stems", "crown_dieback"])
def test_removing_a_structural_defect_keeps_the_street_and_the_camera(defect: str) -> None:
    scene = _trees_with(defect, 1)[0]
    with_it, without = redraw(scene), redraw(scene, defect)
    diff = np.abs(np.asarray(with_it.image(), np.int16) - np.asarray(without.image(), np.int16)).max(axis=2) > 24
    assert 0 < diff.mean() < 0.25, f"{defect}: {diff.mean():.0%} of the photo changed"
    # The tree stands in the middle: the ground in the bottom corners is the same street, seen by the same camera.
    h, w = diff.shape
    corners = np.concatenate([diff[-h // 5:, : w // 5].ravel(), diff[-h // 5:, -w // 5:].ravel()])
    assert corners.mean() < 0.01, f"{defect}: {corners.mean():.1%} of the bottom corners changed"


def test_removing_a_defect_sets_it_to_zero_and_rescores_the_tree() -> None:
    for defect in DEFECTS:
        scene = _trees_with(defect, 1, size=(W, H))[0]
        before = tree_spec(scene).severities
        drawn = redraw(scene, defect)
        assert drawn.severities[defect] == 0.0
        assert {d: s for d, s in drawn.severities.items() if d != defect} == \
               {d: s for d, s in before.items() if d != defect}
        assert drawn.risk_score == pytest.approx(risk_score(drawn.severities))
        assert drawn.risk_score < risk_score(before)
        assert drawn.label == classify(drawn.risk_score)
        assert CLASSES.index(drawn.label) <= CLASSES.index(scene.label)  # never riskier without a defect
    assert redraw(scene).label == scene.label == "Probable"


def test_drawing_a_tree_does_not_depend_on_which_trees_were_drawn_before() -> None:
    spec = sample_tree(7, 3, "Probable", parse_domain("default"))
    for index in (9, 1, 5):
        sample_tree(7, index, "Possible", parse_domain("default"))
    assert sample_tree(7, 3, "Probable", parse_domain("default")) == spec


# -- reliance ---------------------------------------------------------------------------------------------------

class DarkPixelModel(torch.nn.Module):
    """A stand-in with a known dependence: the darker pixels, the riskier (cavities and cracks are near black)."""

    def __init__(self, slope: float = 150.0) -> None:
        super().__init__()
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dark = (x.float() < 40).float().mean(dim=(1, 2, 3))
        return torch.stack([torch.zeros_like(dark), self.slope * dark, self.slope * dark], dim=1)


class ConstantModel(torch.nn.Module):
    """Looks at nothing: the same answer for every photo."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor([[1.0, 0.5, 0.2]]).repeat(len(x), 1)


def _predictor(network: torch.nn.Module, tmp_path: Path) -> Predictor:
    return Predictor(network=network, classes=list(CLASSES), image_size=128, color_mode="grayscale",
                     backbone="stub", scenario="Pr_Po_Im", checkpoint=tmp_path / "stub.ckpt")


def test_a_model_that_reads_dark_pixels_relies_on_the_cavity(tmp_path: Path) -> None:
    chosen = _trees_with("cavity", MIN_TREES + 1)
    report = measure_defect_reliance(_predictor(DarkPixelModel(), tmp_path), chosen=chosen)
    cavity = next(d for d in report.defects if d.defect == "cavity")
    assert cavity.trees == MIN_TREES + 1 and cavity.by_class["Probable"].trees == MIN_TREES + 1
    assert cavity.mean_drop > 0 and cavity.low > 0 and cavity.verdict == USES
    assert cavity.risk_drop > 0 and cavity.risk_low > 0
    assert cavity.low <= cavity.mean_drop <= cavity.high and cavity.risk_low <= cavity.risk_drop <= cavity.risk_high
    assert "cavity" in report.used and "cavity" not in report.ignored
    assert report.trees_scanned == report.trees_with_defects == len(chosen)
    assert report.photos_rated == sum(1 + sum(s > 0 for s in tree_spec(c).severities.values()) for c in chosen)
    assert report.warning and "Could not tell which data trained" in report.warning  # the stub has no checkpoint


def test_on_a_sound_tree_the_true_class_drop_turns_negative_but_the_risk_drop_still_shows_use(tmp_path: Path) -> None:
    # Why the verdict rests on the risk drop: the same model, the same defect, trees of the least risky class.
    chosen = _trees_with("cavity", MIN_TREES + 1, label="Improbable")
    # An Improbable tree's cavity is slight: a steeper stand-in makes its effect clear of the verdict's threshold.
    report = measure_defect_reliance(_predictor(DarkPixelModel(slope=600.0), tmp_path), chosen=chosen)
    cavity = next(d for d in report.defects if d.defect == "cavity")
    assert cavity.mean_drop < 0 and cavity.high < 0  # more sure it is Improbable once the cavity is gone
    assert cavity.risk_drop > 0 and cavity.risk_low > 0 and cavity.verdict == USES
    assert cavity.by_class["Improbable"].risk_drop == pytest.approx(cavity.risk_drop)


def test_predicted_risk_is_the_expected_class_position() -> None:
    assert predicted_risk(np.array([[1.0, 0, 0], [0, 0, 1.0], [0.2, 0.5, 0.3]])) == pytest.approx([0, 1, 0.55])
    assert predicted_risk(np.array([[0.25, 0.75]])) == pytest.approx([0.75])
    # Merged classes count as their most severe category, in whatever order the model lists them.
    listed = np.array([[0.1, 0.9]])
    assert predicted_risk(listed, ["Possible+Improbable", "Probable"]) == pytest.approx([0.9])
    assert predicted_risk(listed, ["Probable+Possible", "Improbable"]) == pytest.approx([0.1])


def test_a_model_that_looks_at_nothing_ignores_every_defect(tmp_path: Path) -> None:
    chosen = _trees_with("hanging_branch", MIN_TREES, size=(W, H))
    report = measure_defect_reliance(_predictor(ConstantModel(), tmp_path), chosen=chosen)
    measured = [d for d in report.defects if d.trees]
    assert measured and all(d.mean_drop == pytest.approx(0.0, abs=1e-6) for d in measured)
    assert all(d.risk_drop == pytest.approx(0.0, abs=1e-6) for d in measured)
    assert report.used == [] and "hanging_branch" in report.ignored
    assert all(d.verdict == TOO_FEW for d in report.defects if d.trees < MIN_TREES)


def test_the_record_round_trips_and_renders_for_the_model_card(tmp_path: Path) -> None:
    chosen = _trees_with("cavity", MIN_TREES, size=(W, H))
    report = measure_defect_reliance(_predictor(DarkPixelModel(), tmp_path), chosen=chosen)
    record = json.loads(json.dumps(report.to_json()))
    assert record["format"] == "treerisk.defect_reliance/1" and record["uses"] == report.used
    assert [d["defect"] for d in record["defects"]] == list(DEFECTS)
    assert DefectRelianceReport.from_json(record) == report
    write_report(report, tmp_path / "r.json")
    assert read_report(tmp_path / "r.json") == report
    (tmp_path / "broken.json").write_text("{not json")
    assert read_report(tmp_path / "broken.json") is None and read_report(tmp_path / "missing.json") is None
    table = markdown_table(report)
    assert table.count("\n| ") == len(DEFECTS) + 1 and "| cavity | 5 |" in table
    assert "independent synthetic set" in table
    assert "``" not in table  # a defect with no drop gets an empty bar cell, not an empty code span


def test_bootstrap_interval_and_verdicts() -> None:
    values = [0.1, 0.2, 0.15, 0.12, 0.18, 0.11]
    low, high = bootstrap_interval(values)
    assert low < np.mean(values) < high and (low, high) == bootstrap_interval(values)  # same values, same interval
    assert bootstrap_interval([0.3]) == (0.3, 0.3)
    assert verdict(10, 0.1, 0.05, 0.15) == USES
    assert verdict(10, -0.1, -0.15, -0.05) == USES  # belief rises without it: the defect is still used
    assert verdict(10, 0.1, -0.01, 0.2) == IGNORES  # interval includes 0
    assert verdict(10, 0.005, 0.001, 0.009) == IGNORES  # too small to matter
    assert verdict(MIN_TREES - 1, 0.3, 0.2, 0.4) == TOO_FEW
    assert class_index("probable", ["Improbable", "Probable+Possible"]) == 1
    assert class_index("Possible", ["Improbable", "Probable"]) is None


def test_the_defects_command_on_a_real_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    torch.manual_seed(0)
    network = build_network("seed_cnn", 3, "grayscale", 64)
    checkpoint = tmp_path / "tiny.ckpt"
    torch.save({"state_dict": {f"network.{k}": v for k, v in network.state_dict().items()},
                "hyper_parameters": {"class_names": CLASSES, "backbone": "seed_cnn", "image_size": 64,
                                     "color_mode": "grayscale", "scenario": "Pr_Po_Im"}}, checkpoint)
    assert cli_main(["defects", "--checkpoint", str(checkpoint), "--limit", "4", "--json",
                     "--out", str(tmp_path / "out.json")]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["trees_scanned"] == 4 and record["seed"] == 9001 and record["backbone"] == "seed_cnn"
    assert read_report(tmp_path / "out.json").trees_scanned == 4

    assert cli_main(["defects", "--checkpoint", str(tmp_path / "missing.ckpt")]) == 2
    assert "error: Checkpoint not found" in capsys.readouterr().err
    with contextlib.redirect_stderr(io.StringIO()):
        assert cli_main(["defects", "--checkpoint", str(checkpoint), "--limit", "0"]) == 2
