"""``python -m lightning_module defects``: which defects does a checkpoint use?

    python -m lightning_module defects --checkpoint checkpoints/seed_cnn_synthetic.ckpt --limit 200
    python -m lightning_module defects --checkpoint runs/x/version_0/checkpoints/best.ckpt --json > reliance.json

Prints a table (or, with ``--json``, the record of docs/BENCHMARKS.md; with ``--markdown``, the model card's table).
A checkpoint that cannot be used, or one trained on the independent set's seed, ends with ``error: <why>`` and
exit status 2, like the other subcommands.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lightning_module.evaluation.defect_reliance import DefectRelianceReport, measure_defect_reliance, write_report
from lightning_module.evaluation.defect_reliance_card import interval_text, markdown_table
from lightning_module.evaluation.independent_set import INDEPENDENT_SEED, INDEPENDENT_SIZE, IndependentSetError
from lightning_module.evaluation.predictor import load_predictor
from lightning_module.models.checkpoints import CheckpointError

USAGE_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lightning_module defects", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, type=Path, help="a TreeRisk checkpoint (.ckpt)")
    parser.add_argument("--limit", type=int, default=None,
                        help=f"scan only the first N trees of the {INDEPENDENT_SIZE}-tree independent set "
                             f"(seed {INDEPENDENT_SEED}); default all")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="print the JSON record instead of the table")
    shown.add_argument("--markdown", action="store_true", help="print the model card's markdown table")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON record to this file")
    return parser


def text_table(report: DefectRelianceReport) -> str:
    """The report as a plain table for a terminal, in the generator's defect order."""
    lines = [f"{'defect':<18} {'trees':>5}  {'risk drop (95 % interval)':<28} {'true-class drop (95 %)':<28} verdict"]
    for d in report.defects:
        lines.append(f"{d.defect:<18} {d.trees:>5}  {interval_text(d.risk_drop, d.risk_low, d.risk_high):<28} "
                     f"{interval_text(d.mean_drop, d.low, d.high):<28} {d.verdict}")
    lines.append(f"{report.backbone} · {report.trees_scanned} trees scanned, {report.trees_with_defects} with "
                 f"defects, {report.photos_rated} photos rated in {report.seconds:.0f} s · ignores: "
                 f"{', '.join(report.ignored) or 'none'}")
    if report.warning:
        lines.append(f"warning: {report.warning}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.limit is not None and args.limit < 1:
            raise ValueError(f"--limit must be 1 or more, got {args.limit}")
        predictor = load_predictor(args.checkpoint)
        quiet = args.json or args.markdown

        def progress(done: int, total: int) -> None:
            if not quiet and (done % 50 == 0 or done == total):
                print(f"  {done}/{total} trees", file=sys.stderr, flush=True)

        report = measure_defect_reliance(predictor, limit=args.limit, progress=progress)
    except (CheckpointError, IndependentSetError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    if args.out is not None:
        write_report(report, args.out)
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(markdown_table(report) if args.markdown else text_table(report))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
