"""A defect-reliance report in a model card: a markdown table with text bars.

The model card (``checkpoints/<model>.json``) carries the whole report (``DefectRelianceReport.to_json()``) under
``"defect_reliance"``, and checkpoints/README.md shows :func:`markdown_table`. A table rather than a picture: the
README is all tables, it diffs in review, and it reads the same on GitHub and in a terminal.
"""

from __future__ import annotations

from lightning_module.evaluation.defect_reliance import DefectRelianceReport

CARD_KEY = "defect_reliance"
# Width of the longest text bar; bars are scaled to the largest |mean drop| in the table.
BAR_WIDTH = 20


def markdown_table(report: DefectRelianceReport) -> str:
    """The per-defect table for a README, most-used defect first, with a text bar for the drop in predicted risk."""
    largest = max((abs(d.risk_drop) for d in report.defects if d.risk_drop is not None), default=0.0) or 1.0
    lines = [
        "| defect | trees | drop in predicted risk (95 % interval) | | drop in P(true class) (95 % interval) "
        "| verdict |",
        "| --- | ---: | --- | --- | --- | --- |",
    ]
    ordered = sorted(report.defects, key=lambda d: -(d.risk_drop if d.risk_drop is not None else -2.0))
    for d in ordered:
        if d.risk_drop is None:
            lines.append(f"| {d.defect} | 0 | – | | – | {d.verdict} |")
            continue
        bar = "█" * round(BAR_WIDTH * abs(d.risk_drop) / largest)
        bar = f"`{'−' if d.risk_drop < 0 else ''}{bar}`" if bar else ""
        lines.append(f"| {d.defect} | {d.trees} | {interval_text(d.risk_drop, d.risk_low, d.risk_high)} | {bar} | "
                     f"{interval_text(d.mean_drop, d.low, d.high)} | {d.verdict} |")
    ignored = ", ".join(n.replace("_", " ") for n in report.ignored) or "none"
    lines += ["", f"Measured on the first {report.trees_scanned} trees of the independent synthetic set (seed "
                  f"{report.seed}). Predicted risk is the model's expected class, 0 (surely {report.classes[0]}) to 1 "
                  f"(surely {report.classes[-1]}). A defect is *ignored* when the risk drop's interval includes 0 "
                  f"or its mean is under {report.ignore_below:g}. Ignored: {ignored}."]
    return "\n".join(lines) + "\n"


def interval_text(mean: float | None, low: float | None, high: float | None) -> str:
    """``+0.123 (+0.045 … +0.201)``, or a dash when there is nothing to show."""
    return "–" if mean is None else f"{mean:+.3f} ({low:+.3f} … {high:+.3f})"
