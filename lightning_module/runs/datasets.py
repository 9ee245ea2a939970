"""The data on hand: photo sets in the project's data folder, counted per class without decoding anything."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from lightning_module.data.categories import canonical_class_name
from lightning_module.data.imaging import SUPPORTED_SUFFIXES


@dataclass(frozen=True)
class DatasetOnHand:
    name: str
    path: Path
    kind: str  # "synthetic", "folder" or "manifest"
    per_class: dict[str, int] = field(default_factory=dict)

    @property
    def photos(self) -> int:
        return sum(self.per_class.values())


def datasets_on_hand(data_dir: Path | str) -> list[DatasetOnHand]:
    """Folders of class sub-folders, folders with a ``manifest.csv`` (the synthetic sets) and ``.csv`` manifests
    directly in ``data_dir``; sorted by name. Nothing that cannot be read is listed."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        return []
    found: list[DatasetOnHand] = []
    for entry in sorted(data_dir.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and (entry / "manifest.csv").is_file():
            kind = "synthetic" if entry.name.startswith("synthetic") else "manifest"
            counts = _manifest_counts(entry / "manifest.csv")
        elif entry.is_dir():
            kind, counts = "folder", _folder_counts(entry)
        elif entry.suffix.lower() == ".csv":
            kind, counts = "manifest", _manifest_counts(entry)
        else:
            continue
        if counts:
            found.append(DatasetOnHand(entry.name, entry, kind, counts))
    return found


def _manifest_counts(manifest: Path) -> dict[str, int]:
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            label = next((c for c in reader.fieldnames or [] if c.strip().lower() == "label"), None)
            if label is None:
                return {}
            return dict(Counter(canonical_class_name(row[label] or "") for row in reader if (row.get(label) or "").strip()))
    except (OSError, csv.Error, UnicodeDecodeError):
        return {}


def _folder_counts(folder: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        n = sum(1 for p in class_dir.rglob("*") if p.suffix.lower() in SUPPORTED_SUFFIXES and p.is_file())
        if n:
            counts[canonical_class_name(class_dir.name)] = n
    return counts
