"""Where photos come from: a folder per class, or a CSV manifest ``path,label[,group]``.

Problems that make training meaningless (a missing folder, an empty class, manifest rows pointing nowhere)
raise :class:`DataSourceError` before anything is decoded. Individual unreadable photos are not this module's
business: ingest skips them and reports why.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from lightning_module.data.categories import canonical_class_name
from lightning_module.data.imaging import SUPPORTED_SUFFIXES


class DataSourceError(ValueError):
    """The data as configured cannot be trained on; the message says what to fix."""


@dataclass(frozen=True)
class PhotoRecord:
    """One photo: its file, its class as written by the user (canonicalised), and its source group."""

    path: Path
    label: str
    group: str


@dataclass(frozen=True)
class IgnoredFile:
    path: Path
    reason: str


def discover_folder(root: Path, group_regex: str | None = None) -> tuple[list[PhotoRecord], list[IgnoredFile]]:
    """Photos under ``root/<class>/`` (nested folders allowed). Files of other types are listed as ignored.

    Every photo is its own group unless ``group_regex`` is given: then the regex's first capture group (or
    whole match) of the file name names the source photo, so crops of one photo never straddle splits.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise DataSourceError(f"Data folder not found: {root}")
    if not root.is_dir():
        raise DataSourceError(f"Not a folder: {root} (give a folder with one sub-folder per class, or a .csv manifest)")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataSourceError(
            f"No class folders in {root}: expected one sub-folder per class, e.g. {root}/Probable/*.jpg"
        )
    pattern = _compile_group_regex(group_regex)
    records: list[PhotoRecord] = []
    ignored: list[IgnoredFile] = []
    for class_dir in class_dirs:
        label = canonical_class_name(class_dir.name)
        for path in sorted(p for p in class_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                ignored.append(IgnoredFile(path, f"unsupported file type '{path.suffix or '(none)'}'"))
                continue
            records.append(PhotoRecord(path, label, _group_of(path, root, pattern)))
    _require_photos_per_class(records, [canonical_class_name(d.name) for d in class_dirs], root)
    return records, ignored


def read_manifest(manifest: Path, group_regex: str | None = None) -> list[PhotoRecord]:
    """Rows of a CSV with columns ``path,label[,group]``; relative paths are relative to the manifest's folder."""
    manifest = Path(manifest).expanduser()
    if not manifest.is_file():
        raise DataSourceError(f"Manifest not found: {manifest}")
    with manifest.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {c.strip().lower(): c for c in reader.fieldnames or []}
        for required in ("path", "label"):
            if required not in columns:
                raise DataSourceError(
                    f"Manifest {manifest} has no '{required}' column; its header must be path,label[,group]"
                )
        rows = list(reader)
    pattern = _compile_group_regex(group_regex)
    records: list[PhotoRecord] = []
    missing: list[str] = []
    for line_number, row in enumerate(rows, start=2):
        raw_path = (row.get(columns["path"]) or "").strip()
        label = (row.get(columns["label"]) or "").strip()
        if not raw_path or not label:
            raise DataSourceError(f"Manifest {manifest}, line {line_number}: empty path or label")
        path = Path(raw_path).expanduser()
        path = path if path.is_absolute() else manifest.parent / path
        if not path.is_file():
            missing.append(f"line {line_number}: {raw_path}")
            continue
        group = (row.get(columns["group"]) or "").strip() if "group" in columns else ""
        records.append(PhotoRecord(path, canonical_class_name(label), group or _group_of(path, manifest.parent, pattern)))
    if missing:
        shown = "; ".join(missing[:5]) + (f"; and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DataSourceError(f"Manifest {manifest} names {len(missing)} file(s) that do not exist: {shown}")
    if not records:
        raise DataSourceError(f"Manifest {manifest} lists no photos")
    return records


def _compile_group_regex(group_regex: str | None) -> re.Pattern[str] | None:
    if not group_regex:
        return None
    try:
        return re.compile(group_regex)
    except re.error as error:
        raise DataSourceError(f"group_regex {group_regex!r} is not a valid regular expression: {error}") from None


def _group_of(path: Path, root: Path, pattern: re.Pattern[str] | None) -> str:
    if pattern is not None:
        match = pattern.search(path.name)
        if match:
            return match.group(1) if match.groups() else match.group(0)
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _require_photos_per_class(records: list[PhotoRecord], classes: list[str], root: Path) -> None:
    counts = Counter(r.label for r in records)
    empty = [c for c in classes if counts[c] == 0]
    if empty:
        raise DataSourceError(f"Class folder(s) with no photos in {root}: {', '.join(empty)}")
