"""One task of a grid's Slurm job array: ``python -m lightning_module.grid.executors.slurm_worker <folder> <i>``.

Trains fold ``i`` of ``<folder>/folds.json`` (the submission folder the grid wrote) and writes what happened to
``<folder>/result-<i>.json``: ``{"error": null}`` when the fold's fit ran, else the reason in words. The fold's
run directory, in the grid's output folder, holds everything else. Exit status 0 when the fit ran, 1 when not.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

from lightning_module.files import atomic_write_json
from lightning_module.grid.folds import FoldJob, run_fold


def main(argv: list[str] | None = None) -> int:
    folder, index = (argv if argv is not None else sys.argv[1:])[:2]
    entry = json.loads((Path(folder) / "folds.json").read_text())["folds"][int(index)]
    job = FoldJob(**{**entry, "arguments": tuple(entry["arguments"])})
    print(f"fold {index} on {socket.gethostname()}: {job.label} -> {job.attempt_dir}", flush=True)
    error = run_fold(job)
    atomic_write_json(Path(folder) / f"result-{index}.json", {"error": error, "host": socket.gethostname()})
    if error is not None:
        print(f"error: {error}", file=sys.stderr, flush=True)
    return 0 if error is None else 1


if __name__ == "__main__":
    sys.exit(main())
