"""Photos to rate: every photo under a folder, or the rows of a CSV manifest, with the group each belongs to.

Unlike training data, photos to rate usually have no label yet, so a folder need not have class folders: every
supported photo under it counts, at any depth. A manifest needs only a ``path`` column; ``group`` is kept when
present (photos of one tree stay one group in the consensus manifest, so its splits stay per tree), and any
``label`` column is ignored, because a rater must not be shown one. Problems are :class:`PhotoSourceError`\\ s
worded for the user.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from lightning_module.data.imaging import SUPPORTED_SUFFIXES

# More than this is not a labelling session but a data dump: refuse, and say how to split it.
MAX_PHOTOS = 100_000


class PhotoSourceError(ValueError):
    """A folder or manifest that gives no photos to rate; the message says what to fix."""


@dataclass(frozen=True)
class PhotosToRate:
    """Where photos come from: ``source`` (the folder or manifest, resolved), ``root`` (what ``photos``' paths are
    relative to), and (relative path, group) of each photo."""

    source: Path
    root: Path
    photos: tuple[tuple[str, str], ...]
    kind: str  # "folder" or "manifest"


def photos_to_rate(source: Path | str) -> PhotosToRate:
    """The photos of a folder (any depth) or of a ``.csv`` manifest with a ``path`` column."""
    path = Path(str(source).strip()).expanduser()
    if not str(source).strip():
        raise PhotoSourceError("Give the folder of photos, or the manifest (.csv), to rate.")
    if not path.exists():
        raise PhotoSourceError(f"{path} does not exist.")
    path = path.resolve()
    found = _from_manifest(path) if path.is_file() else _from_folder(path)
    if len(found.photos) > MAX_PHOTOS:
        raise PhotoSourceError(f"{path} holds {len(found.photos):,} photos; rate at most {MAX_PHOTOS:,} at a time "
                               "(split it into several folders or manifests).")
    return found


def _from_folder(folder: Path) -> PhotosToRate:
    photos = [
        (p.relative_to(folder).as_posix(), p.relative_to(folder).as_posix())
        for p in sorted(folder.rglob("*"))
        if p.suffix.lower() in SUPPORTED_SUFFIXES and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    if not photos:
        raise PhotoSourceError(f"No photos in {folder} (looked for {', '.join(SUPPORTED_SUFFIXES)} at any depth).")
    return PhotosToRate(folder, folder, tuple(photos), "folder")


def _from_manifest(manifest: Path) -> PhotosToRate:
    if manifest.suffix.lower() != ".csv":
        raise PhotoSourceError(f"{manifest} is a file but not a .csv manifest: give a folder, or a CSV with a path column.")
    root = manifest.parent
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = {c.strip().lower(): c for c in reader.fieldnames or []}
            if "path" not in columns:
                raise PhotoSourceError(f"Manifest {manifest} has no 'path' column.")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise PhotoSourceError(f"Cannot read the manifest {manifest}: {error}") from None
    photos: list[tuple[str, str]] = []
    missing: list[str] = []
    for line, row in enumerate(rows, start=2):
        raw = (row.get(columns["path"]) or "").strip()
        if not raw:
            continue
        photo = Path(raw).expanduser()
        photo = photo if photo.is_absolute() else root / photo
        if not photo.is_file():
            missing.append(f"line {line}: {raw}")
            continue
        try:
            relative = photo.resolve().relative_to(root).as_posix()
        except ValueError:
            relative = photo.resolve().as_posix()
        group = (row.get(columns["group"]) or "").strip() if "group" in columns else ""
        photos.append((relative, group or relative))
    if missing:
        shown = "; ".join(missing[:3]) + (f"; and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise PhotoSourceError(f"Manifest {manifest} names {len(missing)} file(s) that do not exist: {shown}")
    if not photos:
        raise PhotoSourceError(f"Manifest {manifest} lists no photos.")
    unique = dict(photos)  # a photo listed twice is rated once
    return PhotosToRate(manifest, root, tuple(unique.items()), "manifest")
