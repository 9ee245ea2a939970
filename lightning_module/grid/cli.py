"""``python -m lightning_module grid --config configs/grid.yaml [--output DIR] [--executor local|ray|slurm]
[--ray-address ADDRESS] [--dry-run]``.

Exit status: 0 every fold finished; 1 some folds failed (the rest of the grid ran; run again to retry them);
2 the grid file, the output folder, the data or the executor cannot be used; 3 another grid is running into
that folder; 130 stopped by the user (run the same command again to go on).
"""

from __future__ import annotations

import argparse
import sys

from lightning_module.grid.data_check import GridDataError
from lightning_module.grid.estimate import duration_text
from lightning_module.grid.executors import ExecutorError
from lightning_module.grid.results import REPORT_MD, TABLE_CSV
from lightning_module.grid.runner import GridBusy, GridOutcome, estimate_grid, run_grid
from lightning_module.grid.spec import EXECUTORS, GridSpec, GridSpecError, load_grid_spec
from lightning_module.grid.tables import as_flag


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lightning_module grid",
        description="Train every cell of an experiment grid with stratified group k-fold cross-validation and "
        "tabulate mean ± sd, 95 % confidence intervals and Welch's t-tests. Resumable: finished folds are kept.",
    )
    parser.add_argument("--config", required=True, help="grid file (YAML), e.g. configs/grid.yaml")
    parser.add_argument("--output", help="folder for the grid's runs and tables (default: the file's 'output')")
    parser.add_argument("--executor", choices=EXECUTORS,
                        help="where the folds train: this machine, a Ray cluster, or a Slurm job array "
                        "(default: the file's executor.kind, else local); docs/SCALE_OUT.md")
    parser.add_argument("--ray-address", metavar="ADDRESS",
                        help="the Ray cluster: 'auto' (the one this machine belongs to), host:port, or "
                        "ray://host:10001 (default: the file's executor.ray_address, else $RAY_ADDRESS, else a Ray "
                        "started on this machine)")
    parser.add_argument("--dry-run", action="store_true", help="list the cells and estimate the time; train nothing")
    parser.add_argument("--parallel", type=int, metavar="N",
                        help="with --dry-run: estimate for N folds at a time (a cluster's GPUs), scaled by the folds "
                        "of this grid already finished in its output folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        spec = load_grid_spec(args.config)
        if args.output:
            spec = spec.with_output(args.output)
        spec = spec.with_executor(args.executor, args.ray_address)
        if args.dry_run:
            return dry_run(spec, args.parallel)
        outcome = run_grid(spec)
    except (GridSpecError, GridDataError, ExecutorError) as error:
        problems = error.problems if isinstance(error, GridDataError) else [str(error)]
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except GridBusy as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    return report(outcome)


def dry_run(spec: GridSpec, parallel: int | None = None) -> int:
    """Print the cells, what is already done, the skipped combinations and a time estimate (for ``parallel``
    folds at a time when given)."""
    estimate = estimate_grid(spec, parallel=parallel)
    print(f"Grid '{spec.name}' from {spec.origin} -> {spec.output}")
    print(f"{len(spec.cells)} cells × {spec.folds} folds, {spec.epochs} epochs each ({spec.isolation}), "
          f"{executor_text(spec)}:")
    for cell in spec.cells:
        finished = sum(1 for t in estimate.tasks if t.cell == cell and t.finished)
        print(f"  {cell.id:<48} {finished}/{spec.folds} folds finished")
    for skipped in spec.skipped_cells:
        print(f"  skipped {skipped.cell.id}: {skipped.reason}")
    if spec.source == "synthetic" and not estimate.data:
        print(f"The synthetic dataset ({spec.synthetic_size} photos) is made on the first run; counting "
              f"{spec.synthetic_size} photos per scenario for the estimate.")  # fmt: skip
    for scenario in estimate.data.values():
        counts = ", ".join(f"{name} {n}" for name, n in scenario.per_class.items())
        print(f"  {scenario.scenario}: {scenario.photos} photos ({counts}) in {scenario.groups} groups")
        for warning in scenario.warnings:
            print(f"  warning: {warning}")
    if not estimate.todo:
        print("Every fold has finished: running it would only rewrite the tables.")
        return 0
    if parallel:
        print(f"{len(estimate.todo)} folds to run; estimated time at {parallel} folds at a time: about "
              f"{duration_text(estimate.seconds)} (timed training steps, scaled by this grid's finished folds)")  # fmt: skip
        return 0
    print(f"{len(estimate.todo)} folds to run; estimated time on this machine: about "
          f"{duration_text(estimate.seconds)} (a rough guess from timed training steps)")  # fmt: skip
    if spec.executor.kind != "local":
        print("On a cluster, divide the total by the folds that train at once there; the grid corrects its time "
              "left by the folds' own times as they finish (docs/SCALE_OUT.md).")  # fmt: skip
    return 0


def executor_text(spec: GridSpec) -> str:
    """Where the folds will train, in a few words."""
    settings = spec.executor
    if settings.kind == "ray":
        return f"on Ray at {settings.ray_address or '$RAY_ADDRESS or a local Ray'} ({spec.fold_resources} per fold)"
    if settings.kind == "slurm":
        where = f"partition {settings.partition}" if settings.partition else "the default partition"
        return f"as a Slurm job array on {where} ({spec.fold_resources} per fold, time limit {settings.time})"
    return f"on this machine ({spec.workers} at a time)" if spec.workers > 1 else "on this machine"


def report(outcome: GridOutcome) -> int:
    output = outcome.output
    print(f"Ran {outcome.ran} folds in {duration_text(outcome.seconds)} ({outcome.skipped} had finished before).")
    if outcome.tables is not None and len(outcome.tables.best):
        print("Best cell per scenario (mean val balanced accuracy over folds):")
        for _, row in outcome.tables.best.iterrows():
            verdict = "  NO BETTER THAN BASELINE" if as_flag(row["no_better_than_baseline"]) else ""
            print(f"  {row['scenario']:<9} {row['cell']:<48} {row['bal_acc_mean']:.3f} "
                  f"(baseline {row['baseline_bal_acc']:.3f}){verdict}")  # fmt: skip
    print(f"Tables: {output / TABLE_CSV}, {output / REPORT_MD}")
    if outcome.status == "stopped":
        print("Stopped. Run the same command again to go on; finished folds are kept.")
        return 130
    if outcome.failed:
        print(f"{len(outcome.failed)} folds failed (run again to retry them):", file=sys.stderr)
        for failure in outcome.failed:
            print(f"  {failure}", file=sys.stderr)
        return 1
    return 0
