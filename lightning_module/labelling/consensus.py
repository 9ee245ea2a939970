"""From ratings to training data: the consensus manifest by majority vote, and every rater's labels kept apart.

**Consensus** (:func:`consensus`): a photo's label is the class with the most votes, and only when it leads
outright. "cannot tell" is a vote too. A photo whose top votes tie, or whose most common answer is "cannot
tell", gets no label: it is left out of the manifest and reported with its votes, never guessed. Photos no one
rated are counted, not listed as labelled.

**The manifest** (:func:`write_consensus_manifest`) is what the Train page's "Manifest (.csv)" and
``--data.source`` read: ``path,label,group`` (absolute paths, so it works wherever it is saved; the group keeps
photos of one tree on one side of every split), then ``votes`` and ``raters`` for the curious. Photos left out
go to ``<name>-left-out.csv`` beside it with their votes and why.

**Per-rater labels** (:func:`write_rater_labels`): long format, ``path,rater,simulated,label,confidence,defects,
rated_at``, one row per rating (confidence 1 unsure, 2 fairly sure, 3 sure; defects space-separated keys), so a
later run can be scored against each rater rather than only the consensus.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lightning_module.data.categories import ISA_CATEGORIES
from lightning_module.files import atomic_write_text

from .database import CANNOT_TELL
from .ratings import Photo, Rating

MANIFEST_COLUMNS = ("path", "label", "group", "votes", "raters")
LEFT_OUT_COLUMNS = ("path", "group", "reason", "votes")
RATER_COLUMNS = ("path", "rater", "simulated", "label", "confidence", "defects", "rated_at")
# Why a photo has no consensus label, in the words the reports use.
TIE, UNSURE, UNRATED = "tie", "cannot tell", "unrated"


@dataclass(frozen=True)
class ConsensusRow:
    """One photo's votes and verdict: ``label`` is None when ``reason`` says why there is none."""

    photo: Photo
    votes: dict[str, int]
    label: str | None
    reason: str  # "majority", "tie", "cannot tell" or "unrated"

    def votes_text(self) -> str:
        return "; ".join(f"{label} {count}" for label, count in sorted(self.votes.items(), key=lambda kv: -kv[1]))


@dataclass(frozen=True)
class ConsensusSummary:
    labelled: int
    ties: int
    cannot_tell: int
    unrated: int
    per_class: dict[str, int]

    def text(self) -> str:
        classes = ", ".join(f"{name} {count}" for name, count in self.per_class.items()) or "none"
        return (f"{self.labelled} photos labelled by majority ({classes}); left out: {self.ties} tied, "
                f"{self.cannot_tell} mostly 'cannot tell', {self.unrated} not rated")


def verdict(votes: Counter[str]) -> tuple[str | None, str]:
    """(label, reason) for one photo's votes: an outright leader wins; a tie or a leading "cannot tell" gives none."""
    if not votes:
        return None, UNRATED
    ranked = votes.most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None, TIE
    if ranked[0][0] == CANNOT_TELL:
        return None, UNSURE
    return ranked[0][0], "majority"


def consensus(photos: Sequence[Photo], ratings: Sequence[Rating], raters: Sequence[str] | None = None) -> list[ConsensusRow]:
    """Each photo's verdict from the ratings of ``raters`` (every rater when None), in ``photos`` order."""
    chosen = None if raters is None else set(raters)
    votes: dict[int, Counter[str]] = {}
    for rating in ratings:
        if chosen is None or rating.rater in chosen:
            votes.setdefault(rating.photo_id, Counter())[rating.label] += 1
    rows = []
    for photo in photos:
        counted = votes.get(photo.id, Counter())
        label, reason = verdict(counted)
        rows.append(ConsensusRow(photo, dict(counted), label, reason))
    return rows


def summarise(rows: Sequence[ConsensusRow]) -> ConsensusSummary:
    reasons = Counter(row.reason for row in rows)
    per_class = Counter(row.label for row in rows if row.label is not None)
    ordered = {name: per_class[name] for name in ISA_CATEGORIES if per_class[name]}
    return ConsensusSummary(reasons["majority"], reasons[TIE], reasons[UNSURE], reasons[UNRATED], ordered)


def _csv(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return text.getvalue()


def consensus_manifest_text(rows: Sequence[ConsensusRow]) -> str:
    """The manifest's CSV text: labelled photos only."""
    return _csv(MANIFEST_COLUMNS, [
        (row.photo.path.as_posix(), row.label, row.photo.group, row.votes_text(), sum(row.votes.values()))
        for row in rows if row.label is not None
    ])


def left_out_text(rows: Sequence[ConsensusRow]) -> str:
    """The photos rated but given no label (ties and "cannot tell"), with their votes."""
    return _csv(LEFT_OUT_COLUMNS, [(row.photo.path.as_posix(), row.photo.group, row.reason, row.votes_text())
                                   for row in rows if row.label is None and row.reason != UNRATED])


def left_out_path(manifest: Path) -> Path:
    return manifest.with_name(f"{manifest.stem}-left-out.csv")


def write_consensus_manifest(rows: Sequence[ConsensusRow], path: Path | str) -> tuple[Path, Path]:
    """Write the manifest and its left-out list (atomically); returns both paths."""
    path = Path(path).expanduser()
    if path.suffix.lower() != ".csv":
        raise ValueError(f"The consensus manifest must be a .csv file, got {path}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, consensus_manifest_text(rows))
    atomic_write_text(left_out_path(path), left_out_text(rows))
    return path, left_out_path(path)


def rater_labels_text(ratings: Sequence[Rating]) -> str:
    """Every rating in long format (one row per photo and rater)."""
    return _csv(RATER_COLUMNS, [
        (r.path.as_posix(), r.rater, str(r.simulated).lower(), r.label,
         r.confidence or "", " ".join(r.defects),
         r.rated_at.isoformat() if r.rated_at else "")
        for r in ratings
    ])


def write_rater_labels(ratings: Sequence[Rating], path: Path | str) -> Path:
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, rater_labels_text(ratings))
    return path
