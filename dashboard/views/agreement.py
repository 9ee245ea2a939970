"""Agreement: how often raters agree on the same photo beyond chance (the human ceiling), the model beside them,
the consensus manifest to train on, and the photos they disagree on most."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # also when run on its own (AppTest, `streamlit run dashboard/views/agreement.py`)
    sys.path.insert(0, str(_ROOT))

from dashboard.parts.agreement.consensus_export import consensus_section  # noqa: E402
from dashboard.parts.agreement.figures import (  # noqa: E402
    KAPPA_HELP, confusion_section, model_figures, models_report, rater_figures, raters_report,
)
from dashboard.parts.agreement.gallery import disagreement_gallery  # noqa: E402
from dashboard.parts.shared.ratings import (  # noqa: E402
    choose_model, choose_set, database, opinion_of, rater_name, simulated_note,
)
from lightning_module.labelling.ratings import photo_sets, photos_of, ratings_of, ratings_per_set  # noqa: E402

st.title("Agreement")
st.caption("Two qualified arborists do not always give the same photo the same class. How often they agree beyond "
           "chance is the ceiling any model is measured against: a figure a model reaches on one rater's labels "
           "means little without it. " + KAPPA_HELP)
db = database()
counts = ratings_per_set(db)
rated_sets = [s for s in photo_sets(db) if counts.get(s.id)]
if not rated_sets:
    st.info("No ratings yet: rate photos on the Label page.", icon=":material/info:")
    st.stop()
photo_set = choose_set(db, rated_sets)
ratings = ratings_of(db, photo_set)
photos = {p.id: p for p in photos_of(db, photo_set)}
simulated = {r.rater for r in ratings if r.simulated}
names = sorted({r.rater for r in ratings}, key=lambda n: (n in simulated, n))
chosen = st.multiselect("Raters", names, default=names, format_func=lambda n: rater_name(n, n in simulated),
                        key="agreement_raters")
if simulated & set(chosen):
    simulated_note()
labels: dict[str, dict[int, str]] = {name: {} for name in chosen}
for rating in ratings:
    if rating.rater in labels:
        labels[rating.rater][rating.photo_id] = rating.label
frozen = tuple((name, tuple(sorted(rated.items()))) for name, rated in labels.items())
if len(chosen) < 2:
    st.info("Choose two raters or more to measure their agreement.", icon=":material/group:")
    st.stop()

st.subheader("Raters with each other")
report = raters_report(frozen)
rater_figures(report)

st.subheader("The model beside the raters")
choice = choose_model("agreement_model", "Model to compare")
opinion = opinion_of(choice, db, photo_set) if choice is not None else None
model_pairs = []
if opinion is not None:
    model_name = f"model: {Path(choice.path).name}"
    model_report = models_report(frozen, model_name, tuple(sorted(opinion.labels().items())), opinion.classes)
    model_figures(report, model_report)
    model_pairs = list(model_report.pairs)

st.subheader("Confusion between two raters")
confusion_section([*report.pairs, *model_pairs])

st.subheader("Consensus: from ratings to training data")
consensus_section(photo_set, list(photos.values()), ratings, chosen)

st.subheader("Where the raters disagree most")
disagreement_gallery(labels, photos, simulated)
