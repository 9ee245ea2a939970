"""The Agreement page's figures: raters with each other, the model beside them, and confusion matrices."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from lightning_module.labelling.agreement import AgreementReport, PairAgreement, agreement_report, model_agreement
from lightning_module.labelling.tables import confusion_figure, mean_kappa, pair_table

KAPPA_HELP = ("Agreement beyond chance: 1 perfect, 0 no better than chance, below 0 worse. Intervals are bootstrap "
              "95 % intervals over photos; n is the number of photos both gave a class.")
_column = st.column_config.NumberColumn
# The pair tables as shown: each kappa with its interval in one column, so that all of it fits the page's width
# at 1400 px (with nine columns the last ones scrolled out of sight). The numbers stay in pair_table.
PAIR_DISPLAY = {
    "between": st.column_config.TextColumn("between", width=170),
    "and": st.column_config.TextColumn("and", width=150),
    "photos": _column("photos", width=65, help="Photos both gave a class: what the kappas rest on."),
    "Cohen's κ (95 % interval)": st.column_config.TextColumn("Cohen's κ (95 % interval)", width=165, help=KAPPA_HELP),
    "weighted κ (95 % interval)": st.column_config.TextColumn(
        "weighted κ (95 % interval)", width=175,
        help="Quadratic weights: a two-class miss counts four times a one-class miss."),
    "raw agreement": _column("raw agreement", format="%.2f", width=105,
                             help="Share of photos given the same class, chance included."),
    "cannot tell": _column("cannot tell", width=85,
                           help="Photos both rated where one or both said 'cannot tell' (left out of κ)."),
}


def pair_display(pairs: Sequence[PairAgreement], short_names: dict[str, str] | None = None) -> pd.DataFrame:
    """:func:`pair_table` with each kappa and its interval in one text column ("0.67 (0.59 to 0.73)"), and the
    names in ``short_names`` shortened."""
    table = pair_table(pairs).replace({"between": short_names or {}, "and": short_names or {}})
    shown = table[["between", "and", "photos"]].copy()
    for kappa, interval, column in (("Cohen's κ", "95 % interval", "Cohen's κ (95 % interval)"),
                                    ("weighted κ", "95 % interval (weighted)", "weighted κ (95 % interval)")):
        shown[column] = [("–" if pd.isna(value) else f"{value:.2f}") + ("" if span == "–" else f" ({span})")
                         for value, span in zip(table[kappa], table[interval])]
    return pd.concat([shown, table[["raw agreement", "cannot tell"]]], axis=1)


@st.cache_data(max_entries=16, show_spinner="Bootstrapping the kappas…")
def raters_report(labels: tuple[tuple[str, tuple[tuple[int, str], ...]], ...]) -> AgreementReport:
    return agreement_report({name: dict(rated) for name, rated in labels})


@st.cache_data(max_entries=16, show_spinner="Bootstrapping the model's kappas…")
def models_report(labels: tuple[tuple[str, tuple[tuple[int, str], ...]], ...], model: str,
                  model_labels: tuple[tuple[int, str], ...], classes: tuple[str, ...]) -> AgreementReport:
    return model_agreement({name: dict(rated) for name, rated in labels}, model, dict(model_labels), classes)


def _value(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def rater_figures(report: AgreementReport) -> None:
    group, mean, mean_weighted = report.group, mean_kappa(report), mean_kappa(report, weighted=True)
    fleiss, pairs, weighted = st.columns(3)
    fleiss.metric("Fleiss' κ, all chosen raters", _value(group.kappa.value) if group else "–",
                  help="Across all chosen raters at once, on the photos every one of them gave a class. " + KAPPA_HELP,
                  border=True)
    if group and group.kappa.low is not None:
        fleiss.caption(f"95 % interval {group.kappa.low:.2f} to {group.kappa.high:.2f} · n = {group.kappa.photos} photos")
    pairs.metric("Cohen's κ, mean over pairs", _value(mean), border=True, help=KAPPA_HELP)
    weighted.metric("Weighted κ, mean over pairs", _value(mean_weighted), border=True, help=KAPPA_HELP)
    st.dataframe(pair_display(report.pairs), hide_index=True, column_config=PAIR_DISPLAY, key="agreement_pairs")


def model_figures(raters: AgreementReport, model: AgreementReport) -> None:
    """The model against each rater, beside the raters against each other."""
    beside = st.columns(4)
    # Short labels (a quarter of the page is about 28 characters wide); the help says it in full.
    beside[0].metric("Raters: mean κ", _value(mean_kappa(raters)), border=True,
                     help="Cohen's κ of the raters with each other, the mean over pairs of raters.")
    beside[1].metric("Model–raters: mean κ", _value(mean_kappa(model)), border=True,
                     help="Cohen's κ of the model with each rater, the mean over the raters.",
                     delta=None if mean_kappa(model) is None or mean_kappa(raters) is None
                     else f"{mean_kappa(model) - mean_kappa(raters):+.2f} vs raters")
    beside[2].metric("Raters: weighted κ", _value(mean_kappa(raters, True)), border=True,
                     help="Weighted κ of the raters with each other, the mean over pairs of raters.")
    beside[3].metric("Model–raters: weighted κ", _value(mean_kappa(model, True)), border=True,
                     help="Weighted κ of the model with each rater, the mean over the raters.")
    # "the model": the box above names it, and its file name is wider than the column.
    st.dataframe(pair_display(model.pairs, {p.first: "the model" for p in model.pairs}), hide_index=True,
                 column_config=PAIR_DISPLAY, key="agreement_model_pairs")
    if model.group is not None and raters.group is not None:
        st.caption(f"Fleiss' κ of the raters alone: {raters.group.kappa.text()}; with the model as one more rater "
                   f"(in the model's classes): {model.group.kappa.text()}.")
    st.caption("A model that agrees with each rater about as well as the raters agree with each other has reached "
               "the human ceiling on these photos; it cannot be shown to do better than that on their labels.")


def confusion_section(pairs: list[PairAgreement]) -> None:
    if not pairs:
        return
    names = [f"{p.first} vs {p.second}" for p in pairs]
    picked = st.selectbox("Pair", names, key="agreement_confusion_pair")
    st.plotly_chart(confusion_figure(pairs[names.index(picked)]), key="agreement_confusion",
                    config={"displayModeBar": False})
