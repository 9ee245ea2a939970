"""The built-in synthetic roadside-tree generator: determinism, class shares, manifest boxes, scoring, safety."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image

from lightning_module.data.photo_gps import image_gps
from lightning_module.synthetic import (
    DEFECT_WEIGHTS,
    DEFECTS,
    MANIFEST_COLUMNS,
    class_counts,
    classify,
    ensure_synthetic_dataset,
    generate_dataset,
    read_manifest,
    risk_score,
)
from lightning_module.synthetic.cli import main as cli_main
from lightning_module.synthetic.domains import parse_domain
from lightning_module.synthetic.render import render
from lightning_module.synthetic.scoring import class_interval, sample_severities
from lightning_module.synthetic.spec import TOWN_LAT, TOWN_LON, sample_photo, sample_tree

W, H = 160, 120  # tiny photos keep the suite fast


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("synth") / "data", n=40, seed=3, width=W, height=H)


# -- determinism ------------------------------------------------------------------------------------------------

def test_same_seed_and_options_give_byte_identical_files_with_any_worker_count(tmp_path, dataset):
    again = generate_dataset(tmp_path / "again", n=40, seed=3, width=W, height=H, workers=2)
    assert _files(again) == _files(dataset)


def test_another_seed_gives_other_images(tmp_path, dataset):
    other = generate_dataset(tmp_path / "other", n=40, seed=4, width=W, height=H)
    ours = {p: b for p, b in _files(dataset).items() if p.endswith(".jpg")}
    theirs = {p: b for p, b in _files(other).items() if p.endswith(".jpg")}
    assert not set(ours.values()) & set(theirs.values())


# -- classes and labels -----------------------------------------------------------------------------------------

def test_default_class_counts_are_the_labs():
    assert class_counts(458) == {"Improbable": 322, "Possible": 80, "Probable": 56}
    counts = class_counts(100, include_imminent=True)
    assert sum(counts.values()) == 100 and set(counts) == {"Improbable", "Possible", "Probable", "Imminent"}


def test_class_shares_folders_and_manifest_agree(dataset):
    rows = read_manifest(dataset)
    expected = class_counts(40)
    assert Counter(r["label"] for r in rows) == expected
    for label, count in expected.items():
        assert len(list((dataset / label).glob("*.jpg"))) == count
    for row in rows:  # the label is the scoring rule's verdict on the recorded severities
        severities = {d: row[f"severity_{d}"] for d in DEFECTS}
        assert row["label"] == row["label_clean"] == classify(risk_score(severities))
        assert abs(row["risk_score"] - risk_score(severities)) < 1e-3
        assert row["path"].startswith(row["label"] + "/") and (dataset / row["path"]).is_file()


def test_class_shares_hold_for_a_larger_set_within_tolerance():
    counts = class_counts(1000)
    shares = np.array([counts[c] for c in ("Improbable", "Possible", "Probable")]) / 1000
    assert np.allclose(shares, np.array([322, 80, 56]) / 458, atol=0.002)


@pytest.mark.parametrize("include_imminent", [False, True])
def test_sampled_severities_always_score_as_the_requested_class(include_imminent):
    rng = random.Random(0)
    labels = ["Improbable", "Possible", "Probable"] + (["Imminent"] if include_imminent else [])
    for _ in range(150):
        label = rng.choice(labels)
        severities = sample_severities(label, rng, include_imminent)
        assert all(s == 0 or 0.05 <= s <= 1 for s in severities.values())
        assert classify(risk_score(severities), include_imminent) == label


def test_riskier_classes_carry_more_and_worse_defects():
    rng = random.Random(1)
    means = {}
    for label in ("Improbable", "Possible", "Probable"):
        draws = [sample_severities(label, rng) for _ in range(200)]
        means[label] = (np.mean([sum(s > 0 for s in d.values()) for d in draws]),
                        np.mean([max(d.values()) for d in draws]))
    assert means["Improbable"][0] < means["Possible"][0] < means["Probable"][0]
    assert means["Improbable"][1] < means["Possible"][1] < means["Probable"][1]


def test_scoring_rule_is_monotone_in_every_severity():
    rng = np.random.default_rng(0)
    for _ in range(300):
        base = {d: float(v) for d, v in zip(DEFECTS, rng.uniform(0, 1, len(DEFECTS)) * (rng.uniform(size=10) < 0.5))}
        for d in DEFECTS:
            worse = dict(base, **{d: min(1.0, base[d] + float(rng.uniform(0.01, 0.5)))})
            assert risk_score(worse) >= risk_score(base)
            assert risk_score(worse) > risk_score(base) or base[d] == 1.0 or worse[d] == base[d]
            order = ["Improbable", "Possible", "Probable", "Imminent"]
            for imminent in (False, True):
                rank_worse = order.index(classify(risk_score(worse), imminent))
                assert rank_worse >= order.index(classify(risk_score(base), imminent))
    assert risk_score(dict.fromkeys(DEFECTS, 0.0)) == 0.0 and classify(0.0) == "Improbable"
    assert all(0 < w <= 1 for w in DEFECT_WEIGHTS.values())


def test_scoring_rejects_unknown_defects_and_bad_severities():
    with pytest.raises(ValueError, match="Unknown defect"):
        risk_score({"termites": 0.5})
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        risk_score({"lean": 1.5})
    with pytest.raises(ValueError, match="Unknown class"):
        class_interval("Imminent", include_imminent=False)


def test_label_noise_flips_that_share_of_trees_to_a_neighbouring_class(tmp_path):
    out = generate_dataset(tmp_path / "noisy", n=40, seed=3, width=W, height=H, label_noise=0.25)
    rows = read_manifest(out)
    flipped = [r for r in rows if r["label"] != r["label_clean"]]
    assert len(flipped) == 10
    order = ["Improbable", "Possible", "Probable"]
    assert all(abs(order.index(r["label"]) - order.index(r["label_clean"])) == 1 for r in flipped)
    assert all(r["path"].startswith(r["label"] + "/") for r in rows)


def test_imminent_class_is_optional(tmp_path):
    out = generate_dataset(tmp_path / "imm", n=30, seed=0, width=W, height=H, include_imminent=True)
    assert Counter(r["label"] for r in read_manifest(out)) == class_counts(30, include_imminent=True)
    assert (out / "Imminent").is_dir()


# -- manifest and boxes -----------------------------------------------------------------------------------------

def test_manifest_has_the_promised_columns_and_boxes_inside_the_image(dataset):
    with open(dataset / "manifest.csv", newline="") as handle:
        header = next(csv.reader(handle))
    assert header == list(MANIFEST_COLUMNS)
    for column in ("path", "label", "group", "risk_score", "domain", "width", "height", "label_clean"):
        assert column in header
    for d in DEFECTS:
        assert f"severity_{d}" in header and f"bbox_{d}" in header
    for row in read_manifest(dataset):
        assert (row["width"], row["height"]) == (W, H)
        for d in DEFECTS:
            box = row[f"bbox_{d}"]
            if row[f"severity_{d}"] == 0:
                assert box is None
            elif box is not None:
                x0, y0, x1, y1 = box
                assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H


def _trees_covering_every_defect(seed: int = 11) -> dict[str, object]:
    found: dict[str, object] = {}
    for index in range(400):
        spec = sample_tree(seed, index, ("Possible", "Probable")[index % 2], parse_domain("default"))
        for d in DEFECTS:
            if spec.severities[d] > 0 and d not in found:
                found[d] = spec
        if len(found) == len(DEFECTS):
            break
    return found


def test_every_defect_appears_in_a_dataset_and_gets_a_box(tmp_path):
    out = generate_dataset(tmp_path / "all", n=120, seed=5, width=W, height=H)
    rows = read_manifest(out)
    for d in DEFECTS:
        present = [r for r in rows if r[f"severity_{d}"] > 0]
        assert present, f"{d} never appears"
        assert sum(r[f"bbox_{d}"] is not None for r in present) >= 0.9 * len(present), d


@pytest.mark.parametrize("defect", DEFECTS)
def test_box_lies_on_the_drawn_defect(defect):
    spec = _trees_covering_every_defect()[defect]
    photo = sample_photo(11, spec, 0)
    with_it, boxes = render(spec, photo, 320, 240)
    without, _ = render(spec, photo, 320, 240, disabled={defect})
    assert defect in boxes
    x0, y0, x1, y1 = boxes[defect]
    diff = np.abs(np.asarray(with_it, np.int16) - np.asarray(without, np.int16)).max(axis=2) > 24
    inside = diff[y0:y1, x0:x1]
    # Thin shapes (diagonal limbs, a narrow crack) fill little of their box; solid ones most of it.
    least = {"dead_limbs": 0.04, "wire_contact": 0.04, "trunk_crack": 0.08, "fungal_conks": 0.05}.get(defect, 0.1)
    assert inside.mean() > least, f"only {inside.mean():.0%} of the {defect} box changed"
    if defect not in ("lean", "codominant_stems"):  # these move the whole tree; the others only add pixels
        margin = 4  # blur spreads an edge by a pixel or two
        grown = np.zeros_like(diff)
        grown[max(0, y0 - margin):y1 + margin, max(0, x0 - margin):x1 + margin] = True
        assert diff[grown].sum() >= 0.9 * diff.sum(), f"{defect} changed pixels outside its box"


def test_switching_a_defect_off_changes_nothing_else():
    spec = _trees_covering_every_defect()["cavity"]
    photo = sample_photo(11, spec, 0)
    a, _ = render(spec, photo, W, H, disabled={"cavity"})
    b, _ = render(spec, photo, W, H, disabled={"cavity"})
    assert a.tobytes() == b.tobytes()


def test_trees_and_defects_stay_mostly_in_the_centre_square(dataset):
    # The training pipeline crops the centre square of the 4:3 photo.
    left, right = (W - H) / 2, (W + H) / 2
    centres = [((b[0] + b[2]) / 2) for r in read_manifest(dataset) for d in DEFECTS if (b := r[f"bbox_{d}"])]
    assert centres and np.mean([left <= c <= right for c in centres]) >= 0.9


# -- photos -----------------------------------------------------------------------------------------------------

def test_photos_are_4_3_jpegs_with_exif_camera_time_gps_and_upright_orientation(dataset):
    row = read_manifest(dataset)[0]
    with Image.open(dataset / row["path"]) as image:
        assert image.format == "JPEG" and image.size == (W, H)
        exif = image.getexif()
        assert exif[ExifTags.Base.Make] and exif[ExifTags.Base.Model]
        assert exif[ExifTags.Base.DateTime].count(":") == 4
        assert exif[ExifTags.Base.Orientation] == 1
        lat, lon = image_gps(image)
    assert abs(lat - TOWN_LAT) < 0.1 and abs(lon - TOWN_LON) < 0.1
    assert abs(lat - float(row["latitude"])) < 1e-3


def test_several_photos_per_tree_share_a_group_and_differ(tmp_path):
    out = generate_dataset(tmp_path / "multi", n=12, seed=2, width=W, height=H, photos_per_tree=3)
    rows = read_manifest(out)
    assert len(rows) == 12
    groups = Counter(r["group"] for r in rows)
    assert max(groups.values()) == 3
    for group in groups:
        members = [r for r in rows if r["group"] == group]
        assert len({r["label"] for r in members}) == 1
        assert len({(out / r["path"]).read_bytes() for r in members}) == len(members)


def test_domains_change_season_light_and_viewpoint(tmp_path):
    out = generate_dataset(tmp_path / "winter", n=12, seed=0, width=W, height=H, domain="Dusk+winter+drone")
    rows = read_manifest(out)
    assert {r["domain"] for r in rows} == {"winter+dusk+drone"}
    assert {r["sky"] for r in rows} == {"dusk"} and {r["view"] for r in rows} == {"drone"}
    assert all(r["leaf_on"] == "false" for r in rows if r["tree_form"] == "deciduous")
    with pytest.raises(ValueError, match="Unknown domain word 'autumn'"):
        generate_dataset(tmp_path / "bad", n=5, width=W, height=H, domain="autumn")


# -- never overwrite; ensure on first use -----------------------------------------------------------------------

def test_refuses_a_folder_with_other_files_and_keeps_them(tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="mine"):
        generate_dataset(target, n=5, width=W, height=H)
    with pytest.raises(FileExistsError, match="not a synthetic dataset"):
        ensure_synthetic_dataset(target, n=5, width=W, height=H)
    assert (target / "holiday.jpg").read_bytes() == b"precious" and len(list(target.iterdir())) == 1


def test_same_complete_dataset_is_reused_and_other_options_are_refused(dataset):
    before = _files(dataset)
    assert generate_dataset(dataset, n=40, seed=3, width=W, height=H) == dataset
    assert ensure_synthetic_dataset(dataset, n=40, seed=3, width=W, height=H, workers=2) == dataset
    assert _files(dataset) == before
    with pytest.raises(FileExistsError, match="different options"):
        ensure_synthetic_dataset(dataset, n=41, seed=3, width=W, height=H)
    with pytest.raises(FileExistsError, match="different options"):
        generate_dataset(dataset, n=40, seed=9, width=W, height=H)


def test_ensure_generates_on_first_use_and_into_an_empty_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert ensure_synthetic_dataset(empty, n=6, seed=1, width=W, height=H) == empty
    assert json.loads((empty / "synth_config.json").read_text())["options"]["n"] == 6
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_ensure_regenerates_a_half_written_dataset_of_ours(tmp_path):
    target = generate_dataset(tmp_path / "half", n=6, seed=1, width=W, height=H)
    reference = _files(target)
    # As if killed mid-way: no completion marker yet, some images missing.
    (target / ".synth_complete").unlink()
    next(target.rglob("*.jpg")).unlink()
    with pytest.raises(FileExistsError):
        generate_dataset(target, n=6, seed=1, width=W, height=H)
    ensure_synthetic_dataset(target, n=6, seed=1, width=W, height=H)
    assert _files(target) == reference


def test_ensure_refuses_a_damaged_complete_dataset(tmp_path):
    target = generate_dataset(tmp_path / "damaged", n=6, seed=1, width=W, height=H)
    next(target.rglob("*.jpg")).unlink()
    with pytest.raises(FileExistsError, match="has been changed"):
        ensure_synthetic_dataset(target, n=6, seed=1, width=W, height=H)


def test_ensure_clears_leftovers_of_a_killed_run(tmp_path):
    leftover = tmp_path / ".data.partial-999999-deadbeef"
    leftover.mkdir()
    owner = {"pid": 2**22 + 12345, "host": os.uname().nodename, "target": "data"}
    (leftover / ".synth_in_progress").write_text(json.dumps(owner))
    ensure_synthetic_dataset(tmp_path / "data", n=4, seed=0, width=W, height=H)
    assert not leftover.exists()


def test_two_processes_ensuring_at_once_both_get_one_complete_dataset(tmp_path):
    target = tmp_path / "shared"
    code = (
        "import sys; from pathlib import Path; from lightning_module.synthetic import ensure_synthetic_dataset;"
        f"ensure_synthetic_dataset(Path(sys.argv[1]), n=16, seed=2, width={W}, height={H}); print('ok')"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0] and all("ok" in o for o in outputs)
    assert len(read_manifest(target)) == 16
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_ensure_waits_while_another_process_generates_the_same_folder(tmp_path):
    import threading

    from lightning_module.files import exclusive_lock

    target = tmp_path / "waits"
    ensure = threading.Thread(target=ensure_synthetic_dataset, args=(target,), kwargs=dict(n=4, width=W, height=H))
    with exclusive_lock(tmp_path / ".waits.lock"):  # the lock a generating process holds beside its target
        ensure.start()
        ensure.join(1.0)
        assert ensure.is_alive() and not target.exists(), "it waits for the holder instead of generating beside it"
    ensure.join(60)
    assert not ensure.is_alive() and len(read_manifest(target)) == 4


def test_bad_options_get_clear_messages(tmp_path):
    with pytest.raises(ValueError, match="not 4:3"):
        generate_dataset(tmp_path / "x", n=5, width=640, height=640)
    with pytest.raises(ValueError, match="at most 4032x3024"):
        generate_dataset(tmp_path / "x", n=5, width=8000, height=6000)
    with pytest.raises(ValueError, match="label_noise"):
        generate_dataset(tmp_path / "x", n=5, width=W, height=H, label_noise=1.5)
    with pytest.raises(ValueError, match="between 1"):
        generate_dataset(tmp_path / "x", n=0)
    assert not (tmp_path / "x").exists()


# -- command line -----------------------------------------------------------------------------------------------

def test_cli_makes_a_dataset_and_prints_a_summary(tmp_path, capsys):
    out = tmp_path / "cli"
    assert cli_main(["--out", str(out), "--n", "8", "--seed", "1", "--width", str(W), "--photos-per-tree", "2"]) == 0
    printed = capsys.readouterr().out
    assert "8 images" in printed and "Improbable" in printed and str(out) in printed and " s " in printed
    assert json.loads((out / "synth_config.json").read_text())["options"]["height"] == H


def test_cli_reports_problems_without_a_traceback(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    assert cli_main(["--out", str(tmp_path / "taken"), "--n", "5", "--width", str(W)]) == 2
    assert "Refusing" in capsys.readouterr().err
    assert cli_main(["--out", str(tmp_path / "bad"), "--width", "640", "--height", "500"]) == 2
    assert "4:3" in capsys.readouterr().err
