"""Photo sets in the ratings database, and the demo: three simulated raters over the built-in synthetic photos.

The built-in set is the one the Train page trains on by default (``<data dir>/synthetic-n458-seed0``, made on
first use in a few seconds). :func:`ensure_demo` registers it and has the simulated raters of
:mod:`lightning_module.synthetic.raters` rate every photo, so that the Label and Agreement pages show something
on a fresh machine. It is idempotent and safe to call from several sessions at once: photos and ratings are
inserted with "on conflict do nothing", and a simulated rating never replaces anything. A person's ratings are
never touched. Every simulated rater's name ends in "(simulated)" and its record carries ``simulated = true``.
"""

from __future__ import annotations

from pathlib import Path

from lightning_module.synthetic import ensure_synthetic_dataset, read_config, read_manifest
from lightning_module.synthetic.raters import SIMULATED_RATERS, SimulatedRater, simulate_rating

from .database import CANNOT_TELL, LabelDatabase
from .photo_sources import PhotoSourceError, PhotosToRate, photos_to_rate
from .ratings import PhotoSet, Rating, add_photo_set, photos_of, rated_by, record_ratings, simulated_rater

# The Train page's default synthetic set (its size and seed), so that the demo's photos are the ones trained on.
BUILTIN_PHOTOS = 458
BUILTIN_SEED = 0
MANIFEST = "manifest.csv"


def builtin_set_dir(data_dir: Path | str, n: int = BUILTIN_PHOTOS, seed: int = BUILTIN_SEED) -> Path:
    """Where the data module keeps the built-in synthetic set of ``n`` photos and ``seed`` (its naming)."""
    return Path(data_dir) / f"synthetic-n{n}-seed{seed}"


def register(db: LabelDatabase, found: PhotosToRate, title: str | None = None) -> PhotoSet:
    """Register a folder's or manifest's photos (idempotent)."""
    return add_photo_set(db, str(found.source), title or f"{found.kind}: {found.source}", found.root, found.photos)


def ensure_builtin_set(db: LabelDatabase, data_dir: Path | str, n: int | None = None) -> PhotoSet:
    """The built-in synthetic set (:data:`BUILTIN_PHOTOS` unless ``n``), generated on first use and registered."""
    n = n or BUILTIN_PHOTOS
    # One process: worker processes would re-import the caller's __main__, which in the dashboard is a page script.
    folder = ensure_synthetic_dataset(builtin_set_dir(data_dir, n), n=n, seed=BUILTIN_SEED)
    return register(db, photos_to_rate(folder / MANIFEST), f"Built-in synthetic photos ({n}, seed {BUILTIN_SEED})")


def synthetic_rows(photo_set: PhotoSet) -> tuple[dict[str, dict], bool] | None:
    """(manifest rows by path, include_imminent) when the set is a generated synthetic set, else None."""
    config = read_config(photo_set.root)
    if config is None or not (photo_set.root / MANIFEST).is_file():
        return None
    rows = {row["path"]: row for row in read_manifest(photo_set.root)}
    return rows, bool((config.get("options") or {}).get("include_imminent", False))


def simulated_ratings(photo_set: PhotoSet, photos_by_path: dict[str, int],
                      raters: tuple[SimulatedRater, ...] = SIMULATED_RATERS) -> list[tuple[SimulatedRater, int, tuple]]:
    """(rater, photo id, (label, confidence, defects)) for every simulated rater and photo of a synthetic set."""
    found = synthetic_rows(photo_set)
    if found is None:
        raise ValueError(f"{photo_set.root} is not a synthetic set made by the generator: simulated raters need "
                         "its clean labels and risk scores.")
    rows, imminent = found
    out = []
    for rater in raters:
        for path, photo_id in photos_by_path.items():
            if path in rows:
                said = simulate_rating(rater, rows[path], imminent)
                out.append((rater, photo_id, (said.label or CANNOT_TELL, said.confidence, said.defects)))
    return out


def seed_simulated_raters(db: LabelDatabase, photo_set: PhotoSet,
                          raters: tuple[SimulatedRater, ...] = SIMULATED_RATERS) -> int:
    """Have each simulated rater rate every photo of the synthetic set it has not rated yet; returns how many."""
    photos = {p.relative: p.id for p in photos_of(db, photo_set)}
    stored = {r.name: simulated_rater(db, r.name, r.describe()) for r in raters}
    done = {name: rated_by(db, photo_set, rater) for name, rater in stored.items()}
    todo = [(stored[r.name].id, photo_id, said) for r, photo_id, said in simulated_ratings(photo_set, photos, raters)
            if photo_id not in done[r.name]]
    record_ratings(db, [(photo_id, rater_id, *said) for rater_id, photo_id, said in todo], replace=False)
    return len(todo)


def ensure_demo(db: LabelDatabase, data_dir: Path | str, n: int | None = None) -> PhotoSet:
    """The built-in set, registered and rated by the simulated raters (only what is missing is added)."""
    photo_set = ensure_builtin_set(db, data_dir, n)
    seed_simulated_raters(db, photo_set)
    return photo_set


def simulated_ratings_of_folder(folder: Path | str) -> list[Rating]:
    """The simulated raters' ratings of a synthetic set on disk, without any database (for ``labels simulate``)."""
    folder = Path(folder).expanduser().resolve()
    if read_config(folder) is None:
        raise PhotoSourceError(f"{folder} is not a synthetic set made by `python -m lightning_module synth` "
                               "(no synth_config.json): simulated raters need its clean labels and risk scores.")
    photo_set = PhotoSet(0, str(folder / MANIFEST), "", folder, 0)
    rows = read_manifest(folder)
    ids = {row["path"]: i for i, row in enumerate(rows)}
    groups = {row["path"]: row["group"] for row in rows}
    paths = {i: p for p, i in ids.items()}
    return [Rating(photo_id, paths[photo_id], folder / paths[photo_id], groups[paths[photo_id]], rater.name, True,
                   label, confidence, tuple(defects), None)
            for rater, photo_id, (label, confidence, defects) in simulated_ratings(photo_set, ids)]
