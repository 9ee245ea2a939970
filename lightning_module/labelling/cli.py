"""``python -m lightning_module labels``: the ratings database from the command line.

    labels demo                                   the built-in photos, rated by three simulated raters
    labels add --photos PATH                      register a folder or manifest of photos to rate
    labels sets                                   the photo sets, with how many photos and ratings each has
    labels agreement [--set S] [--checkpoint C]   kappas with 95 % intervals; the model beside the raters
    labels export --out consensus.csv [--per-rater ratings.csv]   the consensus manifest, and every rating
    labels simulate --data DIR --out FILE         the simulated raters' labels of a synthetic set, as CSV

The database is ``$TREERISK_DB``, else ``labels.sqlite`` in the data folder (``--data-dir``, default
``$TREERISK_DATA_DIR`` or ``data``). Mistakes end with one ``error:`` line (``lightning_module/__main__.py``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .agreement import AgreementReport, agreement_report, model_agreement
from .consensus import consensus, summarise, write_consensus_manifest, write_rater_labels
from .database import DB_ENV, LabelDatabase, database_url, open_database
from .demo import BUILTIN_PHOTOS, ensure_demo, register, simulated_ratings_of_folder
from .photo_sources import photos_to_rate
from .ratings import PhotoSet, RatingError, photo_sets, photos_of, ratings_of

DATA_DIR_ENV = "TREERISK_DATA_DIR"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lightning_module labels",
                                     description="Ratings of photos by several raters: demo, agreement, export.")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get(DATA_DIR_ENV) or "data"),
                        help="the data folder: labels.sqlite and the built-in photos (default $TREERISK_DATA_DIR, else data)")
    parser.add_argument("--db", default=None, help=f"database URL (default ${DB_ENV}, else SQLite in the data folder)")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="the built-in photos rated by three simulated raters")
    demo.add_argument("--n", type=int, default=BUILTIN_PHOTOS, help=f"photos in the built-in set (default {BUILTIN_PHOTOS})")
    add = commands.add_parser("add", help="register a folder or manifest of photos to rate")
    add.add_argument("--photos", required=True, help="a folder of photos (any depth) or a CSV with a path column")
    commands.add_parser("sets", help="the photo sets and their ratings")
    for name, text in (("agreement", "agreement between raters, and with a model"), ("export", "the consensus manifest")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--set", default=None, help="photo set: its number (see `sets`) or its source path; "
                                                         "default: the one with the most ratings")
        command.add_argument("--raters", default=None, help="comma-separated rater names (default: all)")
    agreement = commands.choices["agreement"]
    agreement.add_argument("--checkpoint", type=Path, default=None, help="also compare this model with the raters")
    agreement.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    export = commands.choices["export"]
    export.add_argument("--out", type=Path, required=True, help="the consensus manifest to write (.csv)")
    export.add_argument("--per-rater", type=Path, default=None, help="also write every rating, one row each")
    simulate = commands.add_parser("simulate", help="the simulated raters' labels of a synthetic set, as CSV")
    simulate.add_argument("--data", type=Path, required=True, help="a synthetic set made by `synth`")
    simulate.add_argument("--out", type=Path, required=True, help="the CSV to write")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "simulate":
        written = write_rater_labels(simulated_ratings_of_folder(args.data), args.out)
        print(f"Simulated raters' labels of {args.data} written to {written}.")
        return 0
    db = open_database(args.db or database_url(args.data_dir))
    try:
        return _run(args, db)
    finally:
        db.close()


def _run(args: argparse.Namespace, db: LabelDatabase) -> int:
    print(f"Ratings database: {db.describe()}")
    if args.command == "demo":
        photo_set = ensure_demo(db, args.data_dir, args.n)
        print(f"{photo_set.title}: {photo_set.photos} photos, {len(ratings_of(db, photo_set))} ratings.")
    elif args.command == "add":
        photo_set = register(db, photos_to_rate(args.photos))
        print(f"Set {photo_set.id}, {photo_set.title}: {photo_set.photos} photos.")
    elif args.command == "sets":
        for photo_set in photo_sets(db):
            rated = ratings_of(db, photo_set)
            print(f"{photo_set.id}: {photo_set.title} · {photo_set.photos} photos · {len(rated)} ratings by "
                  f"{len({r.rater for r in rated})} raters · {photo_set.source}")
    else:
        photo_set = _chosen_set(db, args.set)
        rated = ratings_of(db, photo_set)
        names = [n.strip() for n in args.raters.split(",")] if args.raters else sorted({r.rater for r in rated})
        unknown = set(names) - {r.rater for r in rated}
        if unknown:
            raise RatingError(f"No ratings by {', '.join(sorted(unknown))} in set {photo_set.id}.")
        rated = [r for r in rated if r.rater in names]
        if args.command == "export":
            rows = consensus(photos_of(db, photo_set), rated, names)
            manifest, left_out = write_consensus_manifest(rows, args.out)
            print(f"{summarise(rows).text()}.\nConsensus manifest: {manifest}\nLeft out, with their votes: {left_out}")
            if args.per_rater:
                print(f"Every rating: {write_rater_labels(rated, args.per_rater)}")
        else:
            _print_agreement(args, db, photo_set, rated, names)
    return 0


def _chosen_set(db: LabelDatabase, wanted: str | None) -> PhotoSet:
    sets = photo_sets(db)
    if not sets:
        raise RatingError("No photo sets yet: run `labels demo`, or `labels add --photos PATH`, or rate on the Label page.")
    if wanted is None:
        return max(sets, key=lambda s: (len(ratings_of(db, s)), s.id))
    for photo_set in sets:
        if wanted == str(photo_set.id) or Path(wanted).expanduser().resolve() == Path(photo_set.source):
            return photo_set
    raise RatingError(f"No photo set {wanted!r}; the sets are: "
                      + "; ".join(f"{s.id} ({s.source})" for s in sets))


def _print_agreement(args: argparse.Namespace, db: LabelDatabase, photo_set: PhotoSet, rated: list, names: list[str]) -> None:
    labels: dict[str, dict[int, str]] = {name: {} for name in names}
    for rating in rated:
        labels[rating.rater][rating.photo_id] = rating.label
    print(f"{photo_set.title}: {photo_set.photos} photos.")
    _print_report("Raters", agreement_report(labels, resamples=args.resamples))
    if args.checkpoint:
        from lightning_module.evaluation.predictor import load_predictor

        from .model_opinion import model_opinion

        predictor = load_predictor(args.checkpoint)
        opinion = model_opinion(predictor, photos_of(db, photo_set))
        name = f"model {args.checkpoint.name}"
        _print_report("The model against the raters",
                      model_agreement(labels, name, opinion.labels(), opinion.classes, args.resamples))


def _print_report(title: str, report: AgreementReport) -> None:
    print(f"\n{title} (kappa [95 % bootstrap interval] (n = photos)):")
    for pair in report.pairs:
        print(f"  {pair.first} vs {pair.second}: Cohen {pair.kappa.text()}; quadratic-weighted "
              f"{pair.weighted_kappa.text()}")
    if report.group is not None:
        print(f"  Fleiss' kappa across {len(report.group.raters)}: {report.group.kappa.text()}")
