"""``python -m lightning_module quality``: a checkpoint's figures on the independent test set.

    python -m lightning_module quality --checkpoint checkpoints/seed_cnn_synthetic.ckpt [--json quality.json]

Prints balanced accuracy, macro F1 and per-class recall with 95 % bootstrap intervals beside the majority
baseline, the confusion matrix and recall per defect type (protocol: :mod:`.model_quality`). The independent set
is made under ``--data-root`` on first use. A checkpoint that is missing, unreadable, trained on the set's seed
or of classes the set cannot score ends the command with one ``error:`` line and exit status 2 (raised to
``lightning_module.__main__``, which words every command's errors the same way).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lightning_module.evaluation.model_quality import measure_checkpoint_quality
from lightning_module.files import atomic_write_json


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lightning_module quality", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, type=Path, help="a TreeRisk checkpoint (.ckpt)")
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON to this file")
    parser.add_argument("--limit", type=_at_least_one, default=None,
                        help="rate a random sample of this many photos (quick looks; quote full-set figures only)")
    parser.add_argument("--data-root", type=Path, default=Path("data"),
                        help="folder that holds (or will hold) the independent set (default: data)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report = measure_checkpoint_quality(args.checkpoint, args.data_root, limit=args.limit)
    print(report.format_text())
    if args.json is not None:
        atomic_write_json(args.json, report.to_json())
        print(f"\nReport written to {args.json}")
    return 0
