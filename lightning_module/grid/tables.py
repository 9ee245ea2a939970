"""The grid's tables: one row per cell (mean ± sd and 95 % CI over folds), the Welch comparisons, the best cell
per scenario; written as CSV (every number) and Markdown (for reading and for the README).

"No better than the majority baseline" (``BASELINE_RULE``): the lower end of the 95 % CI of the cell's mean
validation balanced accuracy is not above the baseline's balanced accuracy (1 / number of classes: always
predicting one class recalls that class fully and the others not at all). With a single finished fold there
is no interval and the mean itself is compared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import pandas as pd

from lightning_module.files import atomic_write_text
from lightning_module.grid.results import (
    FOLDS_CSV,
    HEADLINE,
    METRICS,
    REPORT_MD,
    TABLE_CSV,
    TESTS_CSV,
    collect_folds,
)
from lightning_module.grid.spec import AXIS_FIELD, AXES, GridSpec
from lightning_module.grid.stats import ALPHA, holm, summarize, welch_test

BASELINE_RULE = (
    "a cell is marked *no better than baseline* when the lower end of the 95 % confidence interval of its mean "
    "validation balanced accuracy is not above the majority baseline's balanced accuracy (1 / number of classes); "
    "with one finished fold, when its mean is not above it"
)
AXIS_TITLES = {"scenario": "Scenario", "image_size": "Image size", "color_mode": "Colour", "backbone": "Backbone",
               "pretrained": "Pretrained"}  # fmt: skip
AXIS_PLURALS = {"scenario": "scenarios", "image_size": "image sizes", "color_mode": "colour modes",
                "backbone": "backbones", "pretrained": "ImageNet weights and training from scratch"}  # fmt: skip
CELL_FIELDS = [AXIS_FIELD[a] for a in AXES]


@dataclass(frozen=True)
class GridTables:
    folds: pd.DataFrame
    cells: pd.DataFrame
    tests: pd.DataFrame
    best: pd.DataFrame


# ---------------------------------------------------------------------------------------------- building
def cell_table(spec: GridSpec, folds: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: fold counts, ``<metric>_mean/_sd/_ci_low/_ci_high``, baseline, collapses, verdict."""
    rows = []
    for cell in spec.cells:
        mine = folds[folds["cell"] == cell.id] if len(folds) else folds
        finished = mine[mine["status"] == "finished"] if len(mine) else mine
        row: dict[str, Any] = {"cell": cell.id, **cell.as_dict()}
        row["classes"] = _first(finished, "classes")
        row["folds_planned"] = spec.folds
        row["folds_done"] = len(finished)
        row["folds_failed"] = int((mine["status"].isin(["failed", "crashed", "stopped"])).sum()) if len(mine) else 0
        for key, _ in METRICS:
            summary = summarize(finished[key].tolist() if len(finished) else [])
            row.update({f"{key}_mean": summary.mean, f"{key}_sd": summary.sd,
                        f"{key}_ci_low": summary.ci_low, f"{key}_ci_high": summary.ci_high})  # fmt: skip
        row["baseline_acc_mean"] = summarize(finished["baseline_acc"].tolist() if len(finished) else []).mean
        row["baseline_bal_acc"] = summarize(finished["baseline_bal_acc"].tolist() if len(finished) else []).mean
        row["collapsed_folds"] = int(finished["collapsed"].fillna(False).astype(bool).sum()) if len(finished) else 0
        row["margin_over_baseline"] = row[f"{HEADLINE}_mean"] - row["baseline_bal_acc"]
        row["no_better_than_baseline"] = no_better_than_baseline(
            row[f"{HEADLINE}_mean"], row[f"{HEADLINE}_ci_low"], row["baseline_bal_acc"], row["folds_done"]
        )
        row["train_seconds"] = round(float(finished["seconds"].sum()), 1) if len(finished) else 0.0
        cpu = finished["cpu_seconds"].dropna() if len(finished) and "cpu_seconds" in finished.columns else []
        row["cpu_seconds"] = round(float(sum(cpu)), 1) if len(cpu) == len(finished) and len(cpu) else None
        rows.append(row)
    return pd.DataFrame(rows)


def no_better_than_baseline(mean: float, ci_low: float, baseline: float, n: int) -> bool | None:
    """``BASELINE_RULE``; None when the cell has no finished fold yet."""
    if n == 0 or _nan(mean) or _nan(baseline):
        return None
    reference = mean if n == 1 or _nan(ci_low) else ci_low
    return bool(reference <= baseline + 1e-9)


def comparison_tests(spec: GridSpec, folds: pd.DataFrame, metric: str = HEADLINE) -> pd.DataFrame:
    """Welch's t-tests of ``metric`` between every two values of each varying axis, the other axes held fixed.

    Holm's adjustment is applied within each axis (one family of tests per question: "does resolution
    matter?", "does the class grouping matter?").
    """
    finished = folds[folds["status"] == "finished"] if len(folds) else folds
    rows: list[dict[str, Any]] = []
    for axis in spec.varying_axes:
        values = list(getattr(spec, next(a for a in AXES if AXIS_FIELD[a] == axis)))
        others = [f for f in CELL_FIELDS if f != axis]
        family: list[dict[str, Any]] = []
        groups = dict.fromkeys(tuple(getattr(c, f) for f in others) for c in spec.cells)  # in grid order
        for fixed in groups:
            fixed_text = ", ".join(_axis_text(f, v) for f, v in zip(others, fixed) if f in spec.varying_axes) or "–"
            for a, b in combinations(values, 2):
                scores_a = _scores(finished, others, fixed, axis, a, metric)
                scores_b = _scores(finished, others, fixed, axis, b, metric)
                if scores_a is None or scores_b is None:
                    continue  # that combination is not a cell of the grid
                result = welch_test(scores_a, scores_b)
                family.append({
                    "axis": axis, "held_fixed": fixed_text, "a": a, "b": b, "metric": metric,
                    "n_a": len(scores_a), "n_b": len(scores_b),
                    "mean_a": _mean(scores_a), "mean_b": _mean(scores_b), "difference": result.difference,
                    "t": result.t, "df": result.df, "p": result.p,
                })  # fmt: skip
        for row, adjusted in zip(family, holm([r["p"] for r in family])):
            row["p_holm"] = adjusted
            row["significant"] = None if _nan(adjusted) else bool(adjusted < ALPHA)
        rows.extend(family)
    columns = ["axis", "held_fixed", "a", "b", "metric", "n_a", "n_b", "mean_a", "mean_b", "difference", "t", "df",
               "p", "p_holm", "significant"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _scores(finished: pd.DataFrame, others: list[str], fixed: tuple, axis: str, value: Any, metric: str) -> list[float] | None:
    if not len(finished):
        return []
    mask = finished[axis] == value
    for field, fixed_value in zip(others, fixed):
        mask &= finished[field] == fixed_value
    return [float(v) for v in finished.loc[mask, metric] if not _nan(v)]


def best_per_scenario(cells: pd.DataFrame, metric: str = HEADLINE) -> pd.DataFrame:
    """For each scenario, its cell with the highest mean ``metric`` (cells without a finished fold left out)."""
    scored = cells.dropna(subset=[f"{metric}_mean"]) if len(cells) else cells
    if not len(scored):
        return pd.DataFrame(columns=["scenario", "cell", f"{metric}_mean", f"{metric}_ci_low", f"{metric}_ci_high",
                                     "baseline_bal_acc", "no_better_than_baseline"])  # fmt: skip
    best = scored.loc[scored.groupby("scenario", sort=False)[f"{metric}_mean"].idxmax()]
    columns = ["scenario", "cell", *CELL_FIELDS[1:], "folds_done", f"{metric}_mean", f"{metric}_sd",
               f"{metric}_ci_low", f"{metric}_ci_high", "baseline_bal_acc", "no_better_than_baseline"]  # fmt: skip
    return best[columns].reset_index(drop=True)


def build_tables(spec: GridSpec, output: Path | str | None = None) -> GridTables:
    folds = collect_folds(spec, output)
    cells = cell_table(spec, folds)
    return GridTables(folds, cells, comparison_tests(spec, folds), best_per_scenario(cells))


def write_tables(spec: GridSpec, output: Path | str | None = None) -> GridTables:
    """Build every table from the fold runs in ``output`` and write them there (each file replaced atomically)."""
    output = Path(output or spec.output)
    tables = build_tables(spec, output)
    atomic_write_text(output / FOLDS_CSV, tables.folds.to_csv(index=False))
    atomic_write_text(output / TABLE_CSV, tables.cells.to_csv(index=False, float_format="%.6g"))
    atomic_write_text(output / TESTS_CSV, tables.tests.to_csv(index=False, float_format="%.6g"))
    atomic_write_text(output / REPORT_MD, markdown_report(spec, tables))
    return tables


# ---------------------------------------------------------------------------------------------- Markdown
def markdown_report(spec: GridSpec, tables: GridTables) -> str:
    """The whole study as Markdown: what was run, the table, the comparisons, the best cells, and the rules."""
    cells, tests, best = tables.cells, tables.tests, tables.best
    varying = spec.varying_axes or ["scenario"]
    constant = [f"{AXIS_TITLES[f].lower()} {_axis_text(f, getattr(spec, a)[0])}" for a, f in AXIS_FIELD.items()
                if f not in varying]  # fmt: skip
    done = int(cells["folds_done"].sum()) if len(cells) else 0
    seconds = float(cells["train_seconds"].sum()) if len(cells) else 0.0
    cpu = float(cells["cpu_seconds"].sum()) if len(cells) and cells["cpu_seconds"].notna().all() else None
    planned = len(spec.cells) * spec.folds
    lines = [
        f"# Grid study: {spec.name}",
        "",
        f"{len(spec.cells)} cells × {spec.folds}-fold stratified group cross-validation ({done} of {planned} folds "
        f"finished); {spec.epochs} epoch{'s' if spec.epochs != 1 else ''} per fold, batch {spec.batch_size}, learning rate {spec.lr:g}, seed {spec.seed}; "
        f"data: {_source_text(spec)}." + (f" Every cell: {', '.join(constant)}." if constant else ""),
        "",
        f"Fold times added up: {seconds / 60:.1f} min of wall time"
        + (f" ({spec.workers} folds ran at a time)" if spec.workers > 1 and spec.executor.kind == "local" else "")
        + (f" (folds trained by the {spec.executor.kind} executor)" if spec.executor.kind != "local" else "")
        + (f", {cpu / 60:.1f} min of CPU time" if cpu else "") + ".",
        "",
        "Scores are each fold's **last-epoch** validation scores (no test split exists in k-fold; picking the best epoch "
        "on the validation fold would flatter every cell). Shown: mean ± sample SD over folds; 95 % CI of the mean from "
        "Student's t with n − 1 degrees of freedom.",
        "",
        "## Results",
        "",
    ]
    headers = [AXIS_TITLES[f] for f in varying] + [
        "Folds", "Balanced acc.", "95 % CI", "Accuracy", "Macro precision", "Macro recall", "Macro F1",
        "Baseline acc. / bal. acc.", "Collapsed folds", "Verdict",
    ]  # fmt: skip
    body = []
    for _, row in cells.iterrows():
        verdict = {True: "**no better than baseline**", False: "beats baseline", None: "–"}[as_flag(row["no_better_than_baseline"])]
        body.append([_axis_text(f, row[f]) for f in varying] + [
            f"{row['folds_done']}/{row['folds_planned']}" + (f" ({row['folds_failed']} failed)" if row["folds_failed"] else ""),
            _pm(row, "bal_acc"), _ci(row, "bal_acc"),
            _pm(row, "acc"), _pm(row, "macro_precision"), _pm(row, "macro_recall"), _pm(row, "macro_f1"),
            f"{_f(row['baseline_acc_mean'])} / {_f(row['baseline_bal_acc'])}",
            f"{row['collapsed_folds']}/{row['folds_done']}", verdict,
        ])  # fmt: skip
    lines += _md_table(headers, body)
    lines += ["", f"Verdict: {BASELINE_RULE}.", ""]

    lines += ["## Best cell per scenario", ""]
    best_rows = [[r["scenario"], r["cell"], _pm(r, "bal_acc"), _ci(r, "bal_acc"), _f(r["baseline_bal_acc"]),
                  "no" if as_flag(r["no_better_than_baseline"]) else "yes"] for _, r in best.iterrows()]  # fmt: skip
    lines += _md_table(["Scenario", "Best cell", "Balanced acc.", "95 % CI", "Baseline bal. acc.", "Beats baseline"],
                       best_rows) if best_rows else ["No cell has a finished fold yet."]
    lines += ["", "Scenarios have different numbers of classes (chance is 1/2 for two classes, 1/3 for three), so "
              "compare each scenario's balanced accuracy with its own baseline before comparing scenarios.", ""]

    lines += ["## Comparisons (Welch's t-test on fold balanced accuracies)", ""]
    if not len(tests):
        lines += ["No axis takes more than one value, or too few folds have finished.", ""]
    for axis, family in (tests.groupby("axis", sort=False) if len(tests) else []):
        lines += [f"### Between {AXIS_PLURALS[axis]}", ""]
        rows = [[r["held_fixed"], f"{_axis_text(axis, r['a'])} vs {_axis_text(axis, r['b'])}", f"{_f(r['mean_a'])} vs {_f(r['mean_b'])}",
                 _signed(r["difference"]), _f(r["t"], 2), _f(r["df"], 1), _p(r["p"]), _p(r["p_holm"]),
                 {True: "yes", False: "no", None: "–"}[as_flag(r["significant"])]] for _, r in family.iterrows()]  # fmt: skip
        lines += _md_table(["Held fixed", "Compared", "Means", "Difference", "t", "df", "p", "p (Holm)",
                            f"Significant (Holm, α = {ALPHA:g})"], rows)  # fmt: skip
        lines.append("")
    lines += [
        "Welch's unequal-variance t-test (two-sided) on the per-fold validation balanced accuracies; p-values adjusted "
        "with Holm's method within each comparison family. With few folds these tests have little power: "
        "\"not significant\" is not \"the same\". Folds of cells that share a scenario use the same split, so the "
        "resolution comparisons are conservative (a paired test would be sharper).",
        "",
    ]
    return "\n".join(lines)


def _md_table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    out += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return out


def _axis_text(field: str, value: Any) -> str:
    if field == "image_size" and not _nan(value):
        return f"{int(value)} px"
    if field == "pretrained":
        return "ImageNet" if value == "imagenet" else "from scratch"
    return str(value)


def _source_text(spec: GridSpec) -> str:
    if spec.source == "synthetic":
        try:
            from lightning_module.synthetic import GENERATOR_VERSION

            version = f", generator version {GENERATOR_VERSION}"
        except ImportError:
            version = ""
        return f"the built-in synthetic dataset ({spec.synthetic_size} photos, seed {spec.seed}{version})"
    return f"`{spec.source}`"


def _f(value: Any, digits: int = 3) -> str:
    return "–" if _nan(value) else f"{float(value):.{digits}f}"


def _signed(value: Any) -> str:
    return "–" if _nan(value) else f"{float(value):+.3f}"


def _p(value: Any) -> str:
    if _nan(value):
        return "–"
    return "< 0.001" if float(value) < 0.001 else f"{float(value):.3f}"


def _pm(row: Any, key: str) -> str:
    mean, sd = row[f"{key}_mean"], row[f"{key}_sd"]
    if _nan(mean):
        return "–"
    return f"{float(mean):.3f}" if _nan(sd) else f"{float(mean):.3f} ± {float(sd):.3f}"


def _ci(row: Any, key: str) -> str:
    low, high = row[f"{key}_ci_low"], row[f"{key}_ci_high"]
    return "–" if _nan(low) else f"[{float(low):.3f}, {float(high):.3f}]"


def _first(frame: pd.DataFrame, column: str) -> Any:
    if not len(frame) or column not in frame.columns:
        return None
    values = frame[column].dropna()
    return int(values.iloc[0]) if len(values) else None


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def as_flag(value: Any) -> bool | None:
    """A yes/no column's value (bool, numpy bool, "True"/"False" from a CSV) as True, False or None."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower())
    return bool(value)


def _nan(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True


# ---------------------------------------------------------------------------------------------- for display
def varying_fields(cells: pd.DataFrame) -> list[str]:
    """Cell fields that take more than one value in ``cells`` (always including the scenario)."""
    fields = [f for f in CELL_FIELDS if f in cells.columns and cells[f].nunique() > 1]
    return fields if "scenario" in fields else ["scenario", *fields]


def display_table(cells: pd.DataFrame, fields: list[str] | None = None) -> pd.DataFrame:
    """The results table as a reader sees it: formatted text, the axes ``fields`` first (default: those that
    vary in ``cells``), a verdict column."""
    fields = [f for f in (fields or varying_fields(cells)) if f in cells.columns]
    rows = []
    for _, row in cells.iterrows():
        verdict = as_flag(row.get("no_better_than_baseline"))
        shown = {AXIS_TITLES[f]: _axis_text(f, row[f]) for f in fields}
        failed = int(row.get("folds_failed") or 0)
        done, planned = int(row["folds_done"]), int(row["folds_planned"])
        verdict_text = {True: "✗ no better than baseline", False: "✓ beats baseline", None: "–"}[verdict]
        if verdict is not None and done < planned:
            verdict_text += " (so far)"
        shown.update({
            "Folds": f"{done}/{planned}" + (f" ({failed} failed)" if failed else ""),
            "Balanced acc.": _pm(row, "bal_acc"), "95 % CI": _ci(row, "bal_acc"),
            "Baseline bal. acc.": _f(row.get("baseline_bal_acc")), "Verdict": verdict_text,
            "Macro F1": _pm(row, "macro_f1"), "Accuracy": _pm(row, "acc"),
            "Baseline acc.": _f(row.get("baseline_acc_mean")),
            "Collapsed folds": f"{int(row['collapsed_folds'])}/{done}",
            "Macro precision": _pm(row, "macro_precision"), "Macro recall": _pm(row, "macro_recall"),
        })  # fmt: skip
        rows.append(shown)
    return pd.DataFrame(rows)


def display_tests(tests: pd.DataFrame, testable_only: bool = True) -> pd.DataFrame:
    """The Welch comparisons as text columns; ``testable_only`` leaves out pairs with fewer than two folds a side."""
    rows = []
    for _, r in tests.iterrows():
        if testable_only and (int(r["n_a"]) < 2 or int(r["n_b"]) < 2):
            continue
        axis = str(r["axis"])
        rows.append({
            "Between": AXIS_PLURALS.get(axis, axis), "Held fixed": "–" if pd.isna(r["held_fixed"]) else str(r["held_fixed"]),
            "Compared": f"{_axis_text(axis, r['a'])} vs {_axis_text(axis, r['b'])}",
            "Means": f"{_f(r['mean_a'])} vs {_f(r['mean_b'])}", "Difference": _signed(r["difference"]),
            "t": _f(r["t"], 2), "df": _f(r["df"], 1), "p": _p(r["p"]), "p (Holm)": _p(r["p_holm"]),
            "Significant": {True: "yes", False: "no", None: "–"}[as_flag(r["significant"])],
        })  # fmt: skip
    return pd.DataFrame(rows)
