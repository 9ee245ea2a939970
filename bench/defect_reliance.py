"""Which defects does each checkpoint use? Belief drop when one defect is removed, on the independent set.

    .venv/bin/python bench/defect_reliance.py [CHECKPOINT ...] [--limit N] [--json-dir DIR]

Without arguments every ``checkpoints/*.ckpt`` is measured. For each: the table of
``python -m lightning_module defects`` (the same function, ``measure_defect_reliance``), the model card's markdown
table, and the time it took, in photos rated per second. A checkpoint the protocol refuses (trained on the set's
seed) is reported and skipped. ``--limit`` scans the first N trees, for developing; figures worth quoting use the
full set (1000 trees, about 2.6 photos drawn and rated per tree with defects).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lightning_module.evaluation.defect_reliance import measure_defect_reliance, write_report  # noqa: E402
from lightning_module.evaluation.defect_reliance_card import markdown_table  # noqa: E402
from lightning_module.evaluation.defects_cli import text_table  # noqa: E402
from lightning_module.evaluation.independent_set import IndependentSetError  # noqa: E402
from lightning_module.evaluation.predictor import load_predictor  # noqa: E402
from lightning_module.models.checkpoints import CheckpointError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="*", type=Path, help="default: every checkpoints/*.ckpt")
    parser.add_argument("--limit", type=int, default=None, help="scan only the first N trees of the set")
    parser.add_argument("--json-dir", type=Path, default=None, help="write <checkpoint name>.defects.json here")
    args = parser.parse_args(argv)
    checkpoints = args.checkpoints or sorted((ROOT / "checkpoints").glob("*.ckpt"))
    if not checkpoints:
        parser.error("no checkpoints given and none in checkpoints/")

    measured = 0
    for checkpoint in checkpoints:
        try:
            report = measure_defect_reliance(load_predictor(checkpoint), limit=args.limit)
        except (CheckpointError, IndependentSetError) as error:
            print(f"{checkpoint}: refused: {error}\n")
            continue
        measured += 1
        print(f"== {checkpoint}")
        print(text_table(report))
        print(markdown_table(report))
        rate = report.photos_rated / max(report.seconds, 1e-9)
        print(f"(drawing and rating {report.photos_rated} photos took {report.seconds:.1f} s: {rate:.1f} photos/s)\n")
        if args.json_dir is not None:
            args.json_dir.mkdir(parents=True, exist_ok=True)
            write_report(report, args.json_dir / f"{checkpoint.stem}.defects.json")
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
