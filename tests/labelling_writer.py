"""A rater in a process of its own, for the concurrency and kill tests of the ratings database.

    python tests/labelling_writer.py URL SET_ID RATER ROUNDS [--pause SECONDS]

Rates every photo of the set ``ROUNDS`` times over (a label that depends on the rater, the photo and the round),
one transaction per rating, and prints ``committed <photo id> <label>`` after each commit returns, so a test that
kills this process knows exactly which ratings the database promised to keep.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lightning_module.labelling.database import open_database  # noqa: E402
from lightning_module.labelling.ratings import CLASS_LABELS, photo_sets, photos_of, record_rating, sign_in  # noqa: E402


def label_for(rater: str, photo_id: int, round_: int) -> str:
    """What ``rater`` says about the photo in this round: different per rater, photo and round, yet reproducible."""
    return CLASS_LABELS[(sum(map(ord, rater)) + photo_id * 7 + round_) % len(CLASS_LABELS)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("set_id", type=int)
    parser.add_argument("rater")
    parser.add_argument("rounds", type=int)
    parser.add_argument("--pause", type=float, default=0.0)
    args = parser.parse_args()
    db = open_database(args.url)
    photo_set = next(s for s in photo_sets(db) if s.id == args.set_id)
    rater = sign_in(db, args.rater)
    print("ready", flush=True)
    for round_ in range(args.rounds):
        for photo in photos_of(db, photo_set):
            label = label_for(rater.name, photo.id, round_)
            record_rating(db, photo.id, rater, label, confidence=1 + round_ % 3, defects=("cavity",) if round_ % 2 else ())
            print(f"committed {photo.id} {label}", flush=True)
            if args.pause:
                time.sleep(args.pause)
    return 0


if __name__ == "__main__":
    sys.exit(main())
