"""Model quality on the independent set, for one or more checkpoints, against the majority baseline.

    .venv/bin/python bench/model_quality.py [CHECKPOINT ...] [--limit N] [--data-root data] [--json-dir DIR]

Without arguments every ``checkpoints/*.ckpt`` is measured. For each: the tables of
``python -m lightning_module quality`` (the same function, ``measure_checkpoint_quality``), then one line per
checkpoint with its balanced accuracy and macro F1 as a ratio to the majority baseline measured on the same
photos in the same run, and the targets (balanced accuracy ≥ 0.90, macro F1 ≥ 0.88, Probable recall ≥ 0.95)
met or not. A checkpoint the protocol refuses (trained on the set's seed, classes the set cannot score) is
reported and skipped. ``--limit`` is for developing on a sample; figures worth quoting use the full set.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lightning_module.evaluation.independent_set import IndependentSetError  # noqa: E402
from lightning_module.evaluation.model_quality import QualityReport, measure_checkpoint_quality  # noqa: E402
from lightning_module.models.checkpoints import CheckpointError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="*", type=Path, help="default: every checkpoints/*.ckpt")
    parser.add_argument("--limit", type=int, default=None, help="rate a random sample of this many photos")
    parser.add_argument("--data-root", type=Path, default=ROOT / "data", help="where the independent set lives")
    parser.add_argument("--json-dir", type=Path, default=None, help="write <checkpoint name>.quality.json here")
    args = parser.parse_args(argv)
    checkpoints = args.checkpoints or sorted((ROOT / "checkpoints").glob("*.ckpt"))
    if not checkpoints:
        parser.error("no checkpoints given and none in checkpoints/")

    reports: list[QualityReport] = []
    refused: list[str] = []
    for checkpoint in checkpoints:
        try:
            report = measure_checkpoint_quality(checkpoint, args.data_root, limit=args.limit)
        except (CheckpointError, IndependentSetError) as error:
            refused.append(f"{checkpoint}: refused: {error}")
            print(refused[-1], "\n")
            continue
        reports.append(report)
        print(report.format_text())
        print(f"(predicting took {report.seconds:.1f} s)\n")
        if args.json_dir is not None:
            args.json_dir.mkdir(parents=True, exist_ok=True)
            out = args.json_dir / f"{checkpoint.stem}.quality.json"
            out.write_text(json.dumps(report.to_json(), indent=2) + "\n")

    print("summary (ratio = model / majority baseline, same photos, same run)")
    for report in reports:
        print(report.summary_line())
        print("  " + "; ".join(f"{t.name} ≥ {t.threshold:.2f}: {'met' if met else 'not met'}"
                               for t, _, met in report.targets()))
    for line in refused:
        print(line)
    return 0 if reports else 1


if __name__ == "__main__":
    sys.exit(main())
