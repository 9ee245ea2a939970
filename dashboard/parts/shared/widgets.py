"""Small pieces every run view uses: status badge, headline beside the baseline, collapsed banner, progress."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from lightning_module.runs import launcher, store
from lightning_module.runs.store import RunInfo
from lightning_module.training.run_files import heartbeat_age, on_this_machine

# Absolute, so links work whatever script Streamlit was started with (tests start the app through a wrapper).
PAGES_DIR = Path(__file__).resolve().parents[2] / "views"
RUNS_PAGE = PAGES_DIR / "runs.py"
TRAIN_PAGE = PAGES_DIR / "train.py"

STATUS_LOOK: dict[str, tuple[str, str, str]] = {
    # status: (badge colour, icon, words)
    "starting": ("blue", ":material/hourglass_top:", "Starting"),
    "running": ("blue", ":material/directions_run:", "Running"),
    "finished": ("green", ":material/check_circle:", "Finished"),
    "stopped": ("orange", ":material/pause_circle:", "Stopped"),
    "failed": ("red", ":material/error:", "Failed"),
    "crashed": ("red", ":material/report:", "Crashed"),
    "unreadable": ("gray", ":material/help:", "Unreadable"),
}


# A model within this much of the majority baseline has learned nothing worth showing as a gain.
NO_BETTER = 0.02


def status_badge(status: str) -> None:
    colour, icon, words = STATUS_LOOK.get(status, ("gray", ":material/help:", status.capitalize()))
    st.badge(words, icon=icon, color=colour)


def fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def verdict(run: RunInfo) -> str:
    """One phrase a table can show: how the headline compares with always guessing the commonest class."""
    top = store.headline(run)
    if run.collapsed:
        return "✗ COLLAPSED"
    if top.margin is None:
        return "…" if run.active else "–"
    if top.margin <= NO_BETTER:
        return "⚠ no better than baseline"
    return f"✓ {top.margin:+.2f} over baseline"


def collapsed_banner(run: RunInfo) -> bool:
    """A banner no one can miss when the model predicts (almost) one class for everything. True when shown."""
    if not run.collapsed:
        return False
    name = run.record.get("collapsed_class") or "one class"
    share = run.record.get("collapsed_share")
    share_text = f"{share:.0%} of" if isinstance(share, (int, float)) else "nearly all"
    st.error(
        f"### Collapsed model\n"
        f"In its latest validation epoch this model predicts **{name}** for {share_text} the validation photos. "
        f"Its accuracy only reflects how common {name} is: it has not learned to tell the classes apart. "
        "Try a lower learning rate, more epochs, `sampler` class balancing, or more photos of the rare classes.",
        icon=":material/warning:",
    )
    return True


def headline_metrics(run: RunInfo) -> None:
    """Best balanced accuracy and macro F1 first, each beside the majority baseline; then accuracy and loss."""
    best, baseline = run.best, run.baseline
    guess = baseline.get("class")
    note = f"always guessing “{guess}”" if guess else "always guessing the commonest class"
    epoch = best.get("epoch")
    when = f"epoch {int(epoch) + 1}" if epoch is not None else "no finished epoch yet"
    columns = st.columns(3)
    for column, key, label in (
        (columns[0], "bal_acc", "Balanced accuracy"),
        (columns[1], "macro_f1", "Macro F1"),
        (columns[2], "acc", "Accuracy"),
    ):
        value = best.get(f"val/{key}")
        base = baseline.get(key)
        delta = None if value is None or base is None else value - base
        column.metric(
            label,
            fmt(value),
            delta=None if delta is None else f"{delta:+.2f}",
            # Grey, not green, when the "gain" over always guessing one class is nothing.
            delta_color="normal" if delta is None or abs(delta) > NO_BETTER else "off",
            delta_description=f"vs majority baseline {fmt(base)}" if base is not None else None,
            help=f"Validation {label.lower()} at the best epoch (by balanced accuracy), {when}. The majority baseline is {note}.",
            border=True,
        )
    if epoch is not None:
        loss = best.get("val/loss")
        st.caption(f"Best epoch: {int(epoch) + 1} (validation loss {'–' if loss is None else f'{loss:.3g}'}). Balanced accuracy is the headline: plain accuracy rewards always guessing the commonest class.")


def where_it_trains(run: RunInfo) -> str:
    """" · on gpu-node-17, heard from 40 s ago" for a run of another machine (shared storage); "" for this one's."""
    host = run.record.get("host")
    if on_this_machine(host):
        return ""
    age = heartbeat_age(run.record)
    return f" · on {host}" + (f", heard from {age:.0f} s ago" if run.active and age is not None else "")


def run_problem(run: RunInfo) -> None:
    if run.status == "failed":
        st.error(f"**This run failed.** {run.problem or 'No reason was recorded; see the log below.'}", icon=":material/error:")
    elif run.status == "crashed":
        st.warning(f"**This run crashed:** {run.problem}. Resume continues it from its last checkpoint.", icon=":material/report:")
    elif run.status == "unreadable":
        st.warning(f"**This run cannot be read:** {run.problem}.", icon=":material/help:")
    elif run.status == "stopped":
        st.info("This run was stopped; its checkpoints are kept. Resume continues it from the last one.", icon=":material/pause_circle:")


def progress_bar(run: RunInfo) -> None:
    progress = store.training_progress(run)
    st.progress(progress.fraction, text=progress.text)


def log_tail(run: RunInfo, lines: int = 25, expanded: bool = False) -> None:
    text = store.read_log_tail(run.path, max_lines=lines)
    if not text and not (run.path / launcher.LOG_NAME).exists():
        return  # a run started from the command line has no train.log
    with st.expander("Training log (latest lines)", expanded=expanded):
        st.code(text or "(nothing written yet)", language=None)


def stop_button(run: RunInfo, key: str) -> None:
    if st.button("Stop", key=key, icon=":material/stop:", help="Ends the run cleanly after the current step; checkpoints are kept."):
        try:
            status = launcher.stop_training(run.path, timeout=3.0)
        except launcher.LaunchError as error:
            st.warning(str(error))
            return
        if status == "stopped":
            st.toast(f"{run.run_id} stopped", icon=":material/stop:")
        else:
            st.toast(f"Stopping {run.run_id}: it finishes its current step first", icon=":material/hourglass_top:")


def resume_button(run: RunInfo, key: str) -> str | None:
    """A Resume button for a stopped, crashed or failed run; returns the resumed run's id when clicked."""
    if not run.resumable:
        return None
    if st.button("Resume", key=key, icon=":material/play_arrow:", type="primary", help="Continue from the last checkpoint, in the same run directory."):
        try:
            started = launcher.resume_training(run.path)
        except launcher.LaunchError as error:
            st.error(str(error))
            return None
        st.toast(f"Resumed {started.run_id}", icon=":material/play_arrow:")
        return started.run_id
    return None


def run_label(run: RunInfo) -> str:
    """How a run is named in pickers. No status here: a select box keeps showing the label it was first drawn
    with, so a status in it would go stale while the run trains (the badge beside it is live)."""
    started = run.started.astimezone().strftime("%d %b %H:%M") if run.started else "start unknown"
    return f"{run.run_id} · {run.record.get('backbone') or '?'} · started {started}"


def live(render, active: bool, key: str) -> None:
    """Run ``render`` as a fragment that re-runs every few seconds while ``active``, and not at all after."""
    from dashboard.parts.shared.paths import REFRESH

    st.fragment(render, run_every=REFRESH if active else None, key=key)()
