"""What raters do: register photo sets, sign in by name, rate a photo, read ratings back, pick the next photo.

The guarantees a labelling session needs, and where each comes from:

* **A rater never sees another rater's label first.** Nothing here hands a rater's page anyone else's rating:
  :func:`own_rating` reads one rater's own, :func:`next_photos` orders photos by the rater's own progress only.
* **Ratings are never lost or mixed.** :func:`record_rating` is one upsert on the unique (photo, rater) pair in
  one transaction: rating again replaces the rater's own rating and nothing else, and two raters writing at the
  same moment each keep theirs (``tests/test_labelling_database.py`` checks it with threads and processes, on
  SQLite and PostgreSQL).
* **Seeding is idempotent.** Photo sets, photos and raters are inserted with "on conflict do nothing", so two
  dashboards opening the same set at once register it once.

Photos are stored relative to their set's root, so a project folder can move without orphaning its ratings.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lightning_module.data.categories import ISA_CATEGORIES
from lightning_module.synthetic.defects import DEFECT_LABELS, DEFECTS

from .database import CANNOT_TELL, LABELS, LabelDatabase, PhotoRow, PhotoSetRow, RaterRow, RatingRow, now

# What a rater can say about a photo, in the order the Label page shows the buttons (keys 1-4, then 0).
RATING_CHOICES: tuple[str, ...] = LABELS
CLASS_LABELS: tuple[str, ...] = ISA_CATEGORIES
CONFIDENCE_LEVELS: dict[int, str] = {1: "unsure", 2: "fairly sure", 3: "sure"}
MAX_NAME_LENGTH = 60
# Names of simulated raters end so; a person's name may not, so the two can never be confused on any page.
SIMULATED_MARK = "(simulated)"
ORDERS = ("random", "uncertain")
_NAME_ALLOWED = re.compile(r"^[\w .,'@()&/+-]+$")


class RatingError(ValueError):
    """A rating or a rater's name that cannot be stored; the message says what to change."""


@dataclass(frozen=True)
class PhotoSet:
    id: int
    source: str
    title: str
    root: Path
    photos: int


@dataclass(frozen=True)
class Photo:
    id: int
    set_id: int
    relative: str  # as stored: relative to the set's root, or absolute
    path: Path  # where the file is on this machine
    group: str


@dataclass(frozen=True)
class Rater:
    id: int
    name: str
    simulated: bool
    description: str


@dataclass(frozen=True)
class Rating:
    photo_id: int
    photo: str  # the photo's stored (relative) path
    path: Path
    group: str
    rater: str
    simulated: bool
    label: str
    confidence: int | None
    defects: tuple[str, ...]
    rated_at: datetime | None


# ---------------------------------------------------------------------------------------------------- writing
def _insert(session: Session):  # noqa: ANN202 - the dialect's INSERT, which knows ON CONFLICT
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def add_photo_set(db: LabelDatabase, source: str, title: str, root: Path, photos: Sequence[tuple[str, str]]) -> PhotoSet:
    """Register a set and its (relative path, group) photos; photos already there are kept as they are."""
    with db.transaction() as session:
        insert = _insert(session)
        session.execute(insert(PhotoSetRow).values(source=source, title=title, root=str(root), created_at=now())
                        .on_conflict_do_nothing(index_elements=["source"]))
        row = session.execute(select(PhotoSetRow).where(PhotoSetRow.source == source)).scalar_one()
        have = set(session.execute(select(PhotoRow.path).where(PhotoRow.set_id == row.id)).scalars())
        new = [{"set_id": row.id, "path": path, "photo_group": group} for path, group in photos if path not in have]
        for start in range(0, len(new), 500):
            session.execute(insert(PhotoRow).values(new[start:start + 500])
                            .on_conflict_do_nothing(index_elements=["set_id", "path"]))
        count = session.execute(select(func.count()).select_from(PhotoRow).where(PhotoRow.set_id == row.id)).scalar_one()
        return PhotoSet(row.id, row.source, row.title, Path(row.root), int(count))


def clean_rater_name(name: str) -> str:
    """The name as stored (spaces collapsed), or :class:`RatingError` saying what is wrong with it."""
    cleaned = " ".join(str(name).split())
    if not cleaned:
        raise RatingError("Enter your name to start rating.")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise RatingError(f"Use a name of at most {MAX_NAME_LENGTH} characters.")
    if not _NAME_ALLOWED.match(cleaned):
        raise RatingError("Use letters, digits, spaces and . , ' @ ( ) & / + - in your name.")
    return cleaned


def sign_in(db: LabelDatabase, name: str) -> Rater:
    """The person called ``name``, registered on first use. Refuses the name of a simulated rater."""
    cleaned = clean_rater_name(name)
    if cleaned.casefold().endswith(SIMULATED_MARK):
        raise RatingError(f"Names ending in '{SIMULATED_MARK}' belong to the demo's simulated raters; use your own.")
    rater = _rater(db, cleaned, simulated=False, description="")
    if rater.simulated:
        raise RatingError(f"'{cleaned}' is a simulated rater's name; use your own.")
    return rater


def simulated_rater(db: LabelDatabase, name: str, description: str) -> Rater:
    """A simulated rater (the demo's), registered on first use; its name must end in '(simulated)'."""
    if not name.endswith(SIMULATED_MARK):
        raise RatingError(f"A simulated rater's name must end in '{SIMULATED_MARK}', got {name!r}.")
    return _rater(db, name, simulated=True, description=description)


def _rater(db: LabelDatabase, name: str, simulated: bool, description: str) -> Rater:
    with db.transaction() as session:
        session.execute(_insert(session)(RaterRow).values(name=name, simulated=simulated, description=description,
                                                          created_at=now())
                        .on_conflict_do_nothing(index_elements=["name"]))
        row = session.execute(select(RaterRow).where(RaterRow.name == name)).scalar_one()
        return Rater(row.id, row.name, row.simulated, row.description)


def check_rating(label: str, confidence: int | None, defects: Iterable[str]) -> tuple[str, int | None, str]:
    """(label, confidence, defects as stored) or :class:`RatingError`."""
    if label not in RATING_CHOICES:
        raise RatingError(f"Unknown rating {label!r}; choose one of {', '.join(RATING_CHOICES)}.")
    if confidence is not None and confidence not in CONFIDENCE_LEVELS:
        raise RatingError(f"Confidence must be one of {', '.join(map(str, CONFIDENCE_LEVELS))}, got {confidence!r}.")
    chosen = set(defects)
    unknown = chosen - set(DEFECTS)
    if unknown:
        raise RatingError(f"Unknown defect(s) {', '.join(sorted(unknown))}; choose from {', '.join(DEFECT_LABELS.values())}.")
    return label, confidence, ",".join(d for d in DEFECTS if d in chosen)


def record_rating(db: LabelDatabase, photo_id: int, rater: Rater, label: str, confidence: int | None = None,
                  defects: Iterable[str] = ()) -> None:
    """Store ``rater``'s rating of the photo, replacing their own earlier rating of it (one transaction)."""
    record_ratings(db, [(photo_id, rater.id, label, confidence, tuple(defects))], replace=True)


def record_ratings(db: LabelDatabase, ratings: Iterable[tuple[int, int, str, int | None, Sequence[str]]],
                   replace: bool = True) -> None:
    """Store many (photo id, rater id, label, confidence, defects) in one transaction; with ``replace=False`` a
    rating already there is kept (idempotent seeding)."""
    rows = []
    for photo_id, rater_id, label, confidence, defects in ratings:
        label, confidence, stored = check_rating(label, confidence, defects)
        rows.append({"photo_id": photo_id, "rater_id": rater_id, "label": label, "confidence": confidence,
                     "defects": stored, "rated_at": now()})
    if not rows:
        return
    with db.transaction() as session:
        insert = _insert(session)
        for start in range(0, len(rows), 500):
            statement = insert(RatingRow).values(rows[start:start + 500])
            if replace:
                statement = statement.on_conflict_do_update(
                    index_elements=["photo_id", "rater_id"],
                    set_={name: statement.excluded[name] for name in ("label", "confidence", "defects", "rated_at")},
                )
            else:
                statement = statement.on_conflict_do_nothing(index_elements=["photo_id", "rater_id"])
            session.execute(statement)


# ---------------------------------------------------------------------------------------------------- reading
def photo_sets(db: LabelDatabase) -> list[PhotoSet]:
    """Every registered set with its number of photos, oldest first."""
    with db.transaction() as session:
        counts = dict(session.execute(select(PhotoRow.set_id, func.count()).group_by(PhotoRow.set_id)).all())
        rows = session.execute(select(PhotoSetRow).order_by(PhotoSetRow.id)).scalars().all()
        return [PhotoSet(r.id, r.source, r.title, Path(r.root), int(counts.get(r.id, 0))) for r in rows]


def ratings_per_set(db: LabelDatabase) -> dict[int, int]:
    """set id → number of ratings of its photos (sets without any are absent)."""
    statement = (select(PhotoRow.set_id, func.count()).select_from(RatingRow)
                 .join(PhotoRow, RatingRow.photo_id == PhotoRow.id).group_by(PhotoRow.set_id))
    with db.transaction() as session:
        return {set_id: int(count) for set_id, count in session.execute(statement).all()}


def _photo(row: PhotoRow, root: Path) -> Photo:
    path = Path(row.path)
    return Photo(row.id, row.set_id, row.path, path if path.is_absolute() else root / path, row.photo_group)


def photos_of(db: LabelDatabase, photo_set: PhotoSet) -> list[Photo]:
    """The set's photos in the order they were registered."""
    with db.transaction() as session:
        rows = session.execute(select(PhotoRow).where(PhotoRow.set_id == photo_set.id).order_by(PhotoRow.id)).scalars()
        return [_photo(row, photo_set.root) for row in rows]


def raters(db: LabelDatabase) -> list[Rater]:
    with db.transaction() as session:
        rows = session.execute(select(RaterRow).order_by(RaterRow.simulated, RaterRow.name)).scalars()
        return [Rater(r.id, r.name, r.simulated, r.description) for r in rows]


def ratings_of(db: LabelDatabase, photo_set: PhotoSet) -> list[Rating]:
    """Every rating of the set's photos, by photo then rater. For the Agreement page and exports, not for raters."""
    statement = (
        select(RatingRow, PhotoRow, RaterRow)
        .join(PhotoRow, RatingRow.photo_id == PhotoRow.id)
        .join(RaterRow, RatingRow.rater_id == RaterRow.id)
        .where(PhotoRow.set_id == photo_set.id)
        .order_by(PhotoRow.id, RaterRow.name)
    )
    with db.transaction() as session:
        found = []
        for rating, photo, rater in session.execute(statement).all():
            where = _photo(photo, photo_set.root)
            found.append(Rating(photo.id, photo.path, where.path, photo.photo_group, rater.name, rater.simulated,
                                rating.label, rating.confidence,
                                tuple(d for d in rating.defects.split(",") if d), rating.rated_at))
        return found


def own_rating(db: LabelDatabase, photo_id: int, rater: Rater) -> Rating | None:
    """``rater``'s own rating of the photo, if any: the only rating a rater's page ever reads."""
    statement = (select(RatingRow, PhotoRow).join(PhotoRow, RatingRow.photo_id == PhotoRow.id)
                 .where(RatingRow.photo_id == photo_id, RatingRow.rater_id == rater.id))
    with db.transaction() as session:
        found = session.execute(statement).first()
        if found is None:
            return None
        rating, photo = found
        return Rating(photo.id, photo.path, Path(photo.path), photo.photo_group, rater.name, rater.simulated,
                      rating.label, rating.confidence, tuple(d for d in rating.defects.split(",") if d),
                      rating.rated_at)


def rated_by(db: LabelDatabase, photo_set: PhotoSet, rater: Rater) -> set[int]:
    """Ids of the set's photos that ``rater`` has rated."""
    statement = (select(RatingRow.photo_id).join(PhotoRow, RatingRow.photo_id == PhotoRow.id)
                 .where(PhotoRow.set_id == photo_set.id, RatingRow.rater_id == rater.id))
    with db.transaction() as session:
        return set(session.execute(statement).scalars())


# ---------------------------------------------------------------------------------------------------- ordering
def shuffle_key(rater_name: str, photo: Photo) -> str:
    """A rater's own fixed random order: the same after a refresh, different from every other rater's (so the
    order of photos does not make raters agree)."""
    return hashlib.sha256(f"{rater_name}/{photo.relative}".encode()).hexdigest()


def next_photos(photos: Sequence[Photo], rated: set[int], rater_name: str, order: str = "random",
                uncertainty: Mapping[int, float] | None = None, count: int = 1) -> list[Photo]:
    """The next ``count`` photos ``rater_name`` has not rated, in ``order``.

    ``random``: the rater's own fixed shuffle. ``uncertain``: the photos the model is least sure of first
    (``uncertainty`` maps photo id to a score, higher = less sure); photos without a score come last, shuffled.
    """
    if order not in ORDERS:
        raise RatingError(f"Unknown order {order!r}; choose one of {', '.join(ORDERS)}.")
    left = [p for p in photos if p.id not in rated]
    if order == "uncertain":
        scores = uncertainty or {}
        left.sort(key=lambda p: (p.id not in scores, -scores.get(p.id, 0.0), shuffle_key(rater_name, p)))
    else:
        left.sort(key=lambda p: shuffle_key(rater_name, p))
    return left[:count]
