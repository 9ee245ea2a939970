"""Assess page: rate one tree from a photo (with heatmap, ISA matrices and report), or screen many at once."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st


_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # also when run on its own (AppTest, `streamlit run dashboard/views/assess.py`)
    sys.path.insert(0, str(_ROOT))

from dashboard.parts.assess.batch import render_batch
from dashboard.parts.shared.models import BUNDLED_NAME, available_checkpoints, cache_key, cached_predictor, runs_dir
from dashboard.parts.assess.single import heatmap_settings, render_single
from dashboard.parts.assess.style import inject_css
from lightning_module.assessment import risk
from lightning_module.models.checkpoints import CheckpointError

inject_css()
st.title("Assess a tree", anchor=False)
st.markdown(
    '<div class="tr-hero">Rate a tree\'s ISA <b>likelihood of failure</b> from a photo, see where the model looked, '
    "and turn it into a <b>risk rating</b> for the target you describe. A screening aid, not a qualified arborist's "
    "assessment.</div>",
    unsafe_allow_html=True,
)

choices = available_checkpoints()
if not any(c.bundled for c in choices):
    st.info(f"The bundled model (checkpoints/{BUNDLED_NAME}) is not in this copy yet. "
            + ("Pick a finished training run below." if choices else ""), icon=":material/info:")
if not choices:
    st.warning(f"No model to assess with: there is no bundled checkpoint and no finished training run under "
               f"{runs_dir()}. Train a model (Train page, or `python -m lightning_module fit`) and come back.",
               icon=":material/model_training:")
    st.stop()

with st.container(border=True):
    model_column, choice_column = st.columns([1, 1], gap="large")
    labels = [c.label for c in choices]
    label = model_column.selectbox("Model", labels, key="assess_model",
                                   help="The bundled default, or the best checkpoint of any finished training run.")
    choice = choices[labels.index(label)] if label in labels else choices[0]
    impact = choice_column.segmented_control(
        "Likelihood of impacting a target", risk.LIKELIHOOD_OF_IMPACT, default="Medium", required=True,
        key="assess_impact", help="  \n".join(f"**{k}**: {v}" for k, v in risk.IMPACT_HELP.items()))
    consequences = choice_column.segmented_control(
        "Consequences of failure", risk.CONSEQUENCES, default="Significant", required=True,
        key="assess_consequences", help="  \n".join(f"**{k}**: {v}" for k, v in risk.CONSEQUENCES_HELP.items()))

try:
    predictor = cached_predictor(*cache_key(choice.path))
except CheckpointError as error:
    st.error(f"This checkpoint cannot be used: {error}", icon=":material/error:")
    st.stop()
model_column.caption(f"{predictor.backbone} · {predictor.image_size}×{predictor.image_size} px {predictor.color_mode} · "
                     f"classes: {', '.join(predictor.classes)}")

heatmap = heatmap_settings(model_column)

one_tree, many_trees = st.tabs([":material/park: One tree", ":material/forest: Many trees"])
with one_tree:
    render_single(choice, impact, consequences, heatmap)
with many_trees:
    render_batch(choice, impact, consequences)
