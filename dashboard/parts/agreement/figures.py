"""The Agreement page's figures: raters with each other, the model beside them, and confusion matrices."""

from __future__ import annotations

import streamlit as st

from lightning_module.labelling.agreement import AgreementReport, PairAgreement, agreement_report, model_agreement
from lightning_module.labelling.tables import confusion_figure, mean_kappa, pair_table

KAPPA_HELP = ("Agreement beyond chance: 1 perfect, 0 no better than chance, below 0 worse. Intervals are bootstrap "
              "95 % intervals over photos; n is the number of photos both gave a class.")
_column = st.column_config.NumberColumn
NUMBER = {
    "photos": _column("photos", width="small"),
    "Cohen's κ": _column("Cohen's κ", format="%.2f", width="small"),
    "weighted κ": _column("weighted κ", format="%.2f", width="small",
                          help="Quadratic weights: a two-class miss counts four times a one-class miss."),
    "raw agreement": _column("raw agreement", format="%.2f", width="small",
                             help="Share of photos given the same class, chance included."),
    "cannot tell": _column("cannot tell", width="small",
                           help="Photos both rated where one or both said 'cannot tell' (left out of κ)."),
}


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
    st.dataframe(pair_table(report.pairs), hide_index=True, column_config=NUMBER, key="agreement_pairs")


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
    st.dataframe(pair_table(model.pairs), hide_index=True, column_config=NUMBER, key="agreement_model_pairs")
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
