"""Honest splits: no source photo on two sides; scenarios group classes exactly as the lab compared them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from lightning_module.data.categories import canonical_class_name, isa_category_of, scenario_classes, scenario_mapping
from lightning_module.data.datamodule import TreeRiskDataModule
from lightning_module.data.sources import DataSourceError, discover_folder, read_manifest
from lightning_module.data.splits import group_k_fold, group_train_val_test_split
from tests.conftest import make_photo, make_photo_folder


def _labels_and_groups(n_groups: int = 60, seed: int = 1) -> tuple[list[int], list[str]]:
    rng = np.random.default_rng(seed)
    labels, groups = [], []
    for g in range(n_groups):
        label = int(rng.choice(3, p=[0.7, 0.18, 0.12]))
        for _ in range(int(rng.integers(1, 5))):  # several crops per source photo
            labels.append(label)
            groups.append(f"photo{g}")
    return labels, groups


def test_no_group_in_two_splits_and_every_sample_used() -> None:
    labels, groups = _labels_and_groups()
    train, val, test = group_train_val_test_split(labels, groups, 0.15, 0.15, seed=0)
    assert sorted(train + val + test) == list(range(len(labels)))
    sides = [{groups[i] for i in part} for part in (train, val, test)]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])


def test_split_is_stratified_and_seeded() -> None:
    labels, groups = _labels_and_groups(200)
    train, val, test = group_train_val_test_split(labels, groups, 0.15, 0.15, seed=0)
    assert (train, val, test) == group_train_val_test_split(labels, groups, 0.15, 0.15, seed=0)
    assert (train, val, test) != group_train_val_test_split(labels, groups, 0.15, 0.15, seed=1)
    overall = Counter(labels)
    for part, share in ((train, 0.70), (val, 0.15), (test, 0.15)):
        counts = Counter(labels[i] for i in part)
        for label, total in overall.items():
            assert abs(counts[label] - share * total) <= 0.06 * total + 4, (label, counts[label], share * total)


def test_k_fold_holds_each_group_out_exactly_once() -> None:
    labels, groups = _labels_and_groups()
    folds = group_k_fold(labels, groups, n_folds=5, seed=0)
    held_out = [i for _, val in folds for i in val]
    assert sorted(held_out) == list(range(len(labels)))
    for train, val in folds:
        assert not ({groups[i] for i in train} & {groups[i] for i in val})
        assert set(Counter(labels[i] for i in val)) == {0, 1, 2}, "every class appears in every fold"


def test_k_fold_refuses_fewer_groups_than_folds() -> None:
    with pytest.raises(ValueError, match="at least 5 groups"):
        group_k_fold([0, 1, 0], ["a", "b", "c"], n_folds=5)


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("Pr_Im", {"Improbable": 18, "Probable": 8}),
        ("PrPo_Im", {"Improbable": 18, "Probable+Possible": 16}),
        ("Pr_PoIm", {"Possible+Improbable": 26, "Probable": 8}),
        ("Pr_Po_Im", {"Improbable": 18, "Possible": 8, "Probable": 8}),
        ("all", {"Improbable": 18, "Possible": 8, "Probable": 8}),
    ],
)
def test_scenario_class_counts(photo_folder: Path, tmp_path: Path, scenario: str, expected: dict[str, int]) -> None:
    data = TreeRiskDataModule(str(photo_folder), scenario=scenario, image_size=16, cache_dir=str(tmp_path / "c"))
    data.setup("fit")
    assert data.classes == list(expected)
    assert data.data_report.used_per_class == expected
    sizes = data.data_report.split_sizes
    assert {c: sizes["train"][c] + sizes["val"][c] + sizes["test"][c] for c in expected} == expected


def test_class_names_match_case_insensitively(tmp_path: Path) -> None:
    for name, index in (("probable", 2), ("IMPROBABLE", 0)):
        for i in range(4):
            make_photo(tmp_path / name / f"{i}.jpg", index, i)
    records, _ = discover_folder(tmp_path)
    assert {r.label for r in records} == {"Probable", "Improbable"}
    assert canonical_class_name("  possible ") == "Possible"
    assert canonical_class_name("Leaning") == "Leaning"
    assert scenario_mapping("all", ["Leaning", "Probable"]) == {"Probable": "Probable", "Leaning": "Leaning"}
    assert isa_category_of("Probable+Possible") == "Probable" and isa_category_of("Leaning") is None


def test_scenario_missing_class_is_named() -> None:
    with pytest.raises(ValueError, match="needs class 'Possible'"):
        scenario_classes("Pr_Po_Im", ["Improbable", "Probable"])


def test_crops_of_one_photo_stay_together(tmp_path: Path) -> None:
    root = make_photo_folder(tmp_path / "crops", per_class=(24, 12, 12), photos_per_group=3)
    data = TreeRiskDataModule(str(root), image_size=16, group_regex=r"^(tree\d+_\w+?)_crop", cache_dir=None)
    data.setup("fit")
    report = data.data_report
    assert sum(report.split_groups.values()) == 16  # 48 crops of 16 source photos
    val_groups = {Path(p).name.rsplit("_crop", 1)[0] for p in data.val_paths}
    test_groups = {Path(p).name.rsplit("_crop", 1)[0] for p in data.test_paths}
    assert not val_groups & test_groups


def test_bad_files_are_skipped_with_reasons_and_training_data_survives(tmp_path: Path) -> None:
    root = make_photo_folder(tmp_path / "data", per_class=(8, 6, 6))
    (root / "Probable" / "empty.jpg").write_bytes(b"")
    (root / "Probable" / "notes.jpg").write_text("field notes, not a photo")
    good = (root / "Possible" / "tree000_Possible_crop0.jpg").read_bytes()
    (root / "Possible" / "cut.jpg").write_bytes(good[: len(good) // 3])
    (root / "Improbable" / "readme.txt").write_text("ignored")
    data = TreeRiskDataModule(str(root), image_size=16, cache_dir=None)
    data.setup("fit")
    reasons = {Path(s["path"]).name: s["reason"] for s in data.data_report.skipped}
    assert set(reasons) == {"empty.jpg", "notes.jpg", "cut.jpg"}
    assert "empty" in reasons["empty.jpg"] and "not an image" in reasons["notes.jpg"]
    assert "truncated" in reasons["cut.jpg"] or "corrupt" in reasons["cut.jpg"]
    assert [Path(i["path"]).name for i in data.data_report.ignored] == ["readme.txt"]
    assert data.data_report.used_per_class == {"Improbable": 8, "Possible": 6, "Probable": 6}


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: root / "missing", "not found"),
        (lambda root: (root / "Probable").mkdir(parents=True) or root, "no photos"),
        (lambda root: root.mkdir() or root, "No class folders"),
    ],
)
def test_unusable_folders_stop_before_training(tmp_path: Path, setup, message: str) -> None:
    with pytest.raises(DataSourceError, match=message):
        discover_folder(setup(tmp_path / "root"))


def test_manifest_with_groups_and_missing_paths(tmp_path: Path) -> None:
    for i in range(3):
        make_photo(tmp_path / "img" / f"{i}.jpg", i, i)
    manifest = tmp_path / "labels.csv"
    manifest.write_text("path,label,group\nimg/0.jpg,improbable,T1\nimg/1.jpg,Possible,T1\nimg/2.jpg,Probable,T2\n")
    records = read_manifest(manifest)
    assert [(r.label, r.group) for r in records] == [("Improbable", "T1"), ("Possible", "T1"), ("Probable", "T2")]
    manifest.write_text("path,label\nimg/0.jpg,Probable\nimg/gone.jpg,Probable\n")
    with pytest.raises(DataSourceError, match="gone.jpg"):
        read_manifest(manifest)
    manifest.write_text("file,class\nimg/0.jpg,Probable\n")
    with pytest.raises(DataSourceError, match="no 'path' column"):
        read_manifest(manifest)


def test_missing_class_for_scenario_stops_with_its_name(tmp_path: Path) -> None:
    root = tmp_path / "two"
    for name, index in (("Improbable", 0), ("Probable", 2)):
        for i in range(4):
            make_photo(root / name / f"{i}.jpg", index, i)
    with pytest.raises(ValueError, match="needs class 'Possible'"):
        TreeRiskDataModule(str(root), scenario="Pr_Po_Im").classes


def test_augmentation_only_on_training_split(photo_folder: Path) -> None:
    data = TreeRiskDataModule(str(photo_folder), image_size=16, cache_dir=None)
    data.setup("fit")
    assert data.train_set.transform is not None
    assert data.val_set.transform is None and data.test_set.transform is None


def test_decoded_photos_are_cached_by_content(photo_folder: Path, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    first = TreeRiskDataModule(str(photo_folder), image_size=16, cache_dir=cache)
    first.setup("fit")
    assert first.data_report.cache_hits == 0
    second = TreeRiskDataModule(str(photo_folder), image_size=16, cache_dir=cache)
    second.setup("fit")
    assert second.data_report.cache_hits == 34
    other_size = TreeRiskDataModule(str(photo_folder), image_size=20, cache_dir=cache)
    other_size.setup("fit")
    assert other_size.data_report.cache_hits == 0
