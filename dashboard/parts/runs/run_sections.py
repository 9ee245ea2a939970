"""The sections of the Runs page: curves, confusion matrix, per-class scores, misclassified gallery, details."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from lightning_module.runs import plots, store
from lightning_module.runs.store import RunInfo

GALLERY_LIMIT = 24


def curves(run: RunInfo, metrics: pd.DataFrame) -> None:
    """Loss, accuracy, balanced accuracy and macro F1 per epoch, training and validation, baseline drawn."""
    if metrics.empty:
        st.info("No epoch has finished yet: the curves appear as soon as the first one does.", icon=":material/hourglass_top:")
    left, right = st.columns(2)
    for index, (metric, _label) in enumerate(store.METRICS):
        column = left if index % 2 == 0 else right
        baseline = store.metric_baseline(run, metrics, metric) if metric != "loss" else None
        column.plotly_chart(plots.metric_curve(metrics, metric, baseline), key=f"curve-{metric}", config={"displayModeBar": False})


def epoch_picker(epochs: list[int], key: str) -> int:
    """The epoch to inspect (shown counted from 1); follows the newest epoch until the user picks another."""
    latest = epochs[-1]
    if len(epochs) == 1:
        st.caption(f"Epoch {latest + 1} (the only finished epoch so far)")
        return latest
    follow_key = f"{key}_latest"
    if st.session_state.get(key) is None or st.session_state.get(key) - 1 not in epochs or (
        st.session_state.get(key) == st.session_state.get(follow_key)
    ):
        st.session_state[key] = latest + 1
    st.session_state[follow_key] = latest + 1
    chosen = st.select_slider("Epoch", options=[e + 1 for e in epochs], key=key, help="Validation results after this epoch.")
    return int(chosen) - 1


def confusion_and_classes(run: RunInfo, metrics: pd.DataFrame, epoch: int) -> None:
    confusion = store.read_confusion(run.path, epoch)
    left, right = st.columns(2, gap="large")
    with left:
        if confusion is None:
            st.info("No confusion matrix for this epoch.")
        else:
            normalised = st.toggle("Row-normalised (share of each true class)", key=f"normalise-{run.run_id}")
            st.plotly_chart(plots.confusion_heatmap(confusion, normalised), key="confusion", config={"displayModeBar": False})
    with right:
        st.markdown("**Per-class validation scores**")
        classes = run.classes or (confusion.classes if confusion else [])
        table = store.per_class_table(metrics, epoch, classes, confusion)
        if table.empty:
            st.caption("No per-class scores yet.")
            return
        st.dataframe(
            table,
            hide_index=True,
            placeholder="–",
            column_config={
                "class": st.column_config.TextColumn("class"),
                "precision": st.column_config.NumberColumn("precision", format="%.2f"),
                "recall": st.column_config.NumberColumn("recall", format="%.2f"),
                "f1": st.column_config.NumberColumn("F1", format="%.2f"),
                "images": st.column_config.NumberColumn("val. photos", format="%d"),
            },
            key="per-class",
        )
        st.caption("Recall of a class = share of its photos recognised; a class with recall 0 is never predicted correctly.")


def gallery(run: RunInfo, epoch: int) -> None:
    """The misclassified validation photos, most confidently wrong first."""
    predictions = store.read_predictions(run.path, epoch)
    if predictions.empty:
        st.info("No validation predictions were saved for this epoch.")
        return
    wrong = store.misclassified(predictions)
    st.markdown(
        f"**{len(wrong)} of {len(predictions)} validation photos misclassified** after epoch {epoch + 1}"
        + (f" — showing the {GALLERY_LIMIT} most confidently wrong" if len(wrong) > GALLERY_LIMIT else "")
    )
    if wrong.empty:
        st.success("Every validation photo is classified correctly at this epoch.")
        return
    columns = st.columns(6)
    for index, row in wrong.head(GALLERY_LIMIT).iterrows():
        caption = f"true {row['true']} → predicted {row['pred']} ({row['confidence']:.0%})"
        with columns[index % len(columns)]:
            path = Path(str(row["path"]))
            if path.is_file():
                st.image(str(path), caption=caption, width="stretch")
            else:
                st.caption(f"{caption}\n\n(photo no longer at {path})")


def details(run: RunInfo) -> None:
    """Hyper-parameters, data report (with skipped files and why), device and time per epoch."""
    settings, data, timing = st.tabs(["Hyper-parameters", "Data report", "Device & time"])
    with settings:
        values = store.hyperparameters(run.path)
        if values:
            st.dataframe(
                pd.DataFrame({"setting": list(values), "value": [str(v) for v in values.values()]}),
                hide_index=True,
                key="hparams",
            )
        else:
            st.caption("No config.yaml yet: the run has not started training.")
    with data:
        _data_report(run)
    with timing:
        seconds = run.epoch_seconds
        total = sum(seconds)
        st.markdown(
            f"**Device:** {run.record.get('device') or 'not known yet'}  \n"
            f"**Epochs timed:** {len(seconds)}"
            + (f" · **mean** {total / len(seconds):.1f} s per epoch · **total** {total:.0f} s" if seconds else "")
        )
        if seconds:
            st.plotly_chart(plots.epoch_times(seconds), key="epoch-times", config={"displayModeBar": False})


def _data_report(run: RunInfo) -> None:
    report = store.read_data_report(run.path)
    if not report:
        st.caption("No data report yet: it is written once the photos are loaded.")
        return
    st.markdown(f"**Source:** `{report.get('source')}` · **scenario** {report.get('scenario')}")
    splits = report.get("split_sizes") or {}
    classes = report.get("classes") or sorted({c for s in splits.values() for c in s})
    if splits:
        table = pd.DataFrame({split: [splits[split].get(c, 0) for c in classes] for split in splits}, index=classes)
        table.index.name = "class"
        st.dataframe(table, key="splits")
    skipped = report.get("skipped") or []
    ignored = report.get("ignored") or []
    if skipped:
        st.warning(f"{len(skipped)} photo(s) skipped because they could not be used:", icon=":material/warning:")
        st.dataframe(pd.DataFrame(skipped), hide_index=True, key="skipped")
    else:
        st.caption("No photo was skipped.")
    if ignored:
        st.caption(f"{len(ignored)} other file(s) ignored (not photos):")
        st.dataframe(pd.DataFrame(ignored), hide_index=True, key="ignored")

