"""Agreement statistics against published worked examples and a hand computation, and the fast bootstrap against
the libraries it stands in for."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss

from lightning_module.labelling.agreement import (
    agreement_report, class_holding, cohen_kappa, disagreements, disagreement_weights, fleiss_from_counts,
    fleiss_kappa, kappa_from_confusion, model_agreement, ordered_classes, pair_agreement,
)

ISA3 = ("Improbable", "Possible", "Probable")

# Fleiss (1971) as worked on Wikipedia ("Fleiss' kappa", worked example): 10 subjects, 14 raters, 5 categories.
FLEISS_TABLE = np.array([
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
])

# The hand-computed case of docs/LABELLING.md: two raters, ten photos.
HAND_A = ["Improbable"] * 4 + ["Possible"] * 3 + ["Probable"] * 3
HAND_B = ["Improbable"] * 3 + ["Possible"] * 3 + ["Probable"] * 3 + ["Improbable"]


def test_cohen_kappa_matches_the_wikipedia_worked_example() -> None:
    # 50 proposals: both yes 20, A yes B no 5, A no B yes 10, both no 15 -> p_o 0.7, p_e 0.5, kappa 0.4.
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    estimate = cohen_kappa(a, b, ["yes", "no"])
    assert estimate.value == pytest.approx(0.4)
    assert estimate.photos == 50
    assert estimate.low < 0.4 < estimate.high


def test_fleiss_kappa_matches_fleiss_1971_as_worked_on_wikipedia() -> None:
    assert statsmodels_fleiss(FLEISS_TABLE) == pytest.approx(0.210, abs=5e-4)
    assert fleiss_from_counts(FLEISS_TABLE) == pytest.approx(statsmodels_fleiss(FLEISS_TABLE))
    # The same table as 14 raters' labels of 10 photos, through the public function.
    labels: dict[str, dict[int, str]] = {f"r{j}": {} for j in range(14)}
    for photo, counts in enumerate(FLEISS_TABLE):
        given = [c for c, n in enumerate(counts) for _ in range(n)]
        for j, category in enumerate(given):
            labels[f"r{j}"][photo] = "ABCDE"[category]
    group = fleiss_kappa(labels, list(labels), list("ABCDE"))
    assert group.kappa.value == pytest.approx(0.210, abs=5e-4)
    assert group.kappa.photos == 10


def test_the_hand_computed_case_of_the_guide() -> None:
    pair = pair_agreement("A", "B", {"A": dict(enumerate(HAND_A)), "B": dict(enumerate(HAND_B))}, ISA3)
    assert pair.confusion.tolist() == [[3, 1, 0], [0, 2, 1], [1, 0, 2]]
    assert pair.raw_agreement == pytest.approx(0.7)
    assert pair.kappa.value == pytest.approx(6 / 11)  # (0.7 - 0.34) / (1 - 0.34)
    assert pair.weighted_kappa.value == pytest.approx(13 / 23)  # 1 - 0.6 / 1.38
    assert pair.kappa.photos == 10


def test_the_fast_bootstrap_formulas_equal_the_libraries() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        a = rng.choice(ISA3, 40, p=[0.6, 0.25, 0.15])
        b = np.where(rng.random(40) < 0.7, a, rng.choice(ISA3, 40))
        confusion = np.array([[np.sum((a == x) & (b == y)) for y in ISA3] for x in ISA3])
        for weights in (None, "quadratic"):
            ours = kappa_from_confusion(confusion, disagreement_weights(3, weights))
            assert ours == pytest.approx(cohen_kappa_score(a, b, labels=list(ISA3), weights=weights))
        counts = rng.multinomial(5, [0.5, 0.3, 0.2], size=25)
        assert fleiss_from_counts(counts) == pytest.approx(statsmodels_fleiss(counts))
    # Batched: one kappa per matrix in the stack.
    stack = np.stack([confusion, confusion.T])
    assert kappa_from_confusion(stack, disagreement_weights(3, None)).shape == (2,)


def test_intervals_hold_the_estimate_and_degenerate_cases_say_so() -> None:
    same = cohen_kappa(HAND_A, HAND_A, ISA3)
    assert (same.value, same.low, same.high) == (1.0, 1.0, 1.0)
    one_class = cohen_kappa(["Improbable"] * 5, ["Improbable"] * 5, ISA3)
    assert one_class.value is None and one_class.photos == 5 and one_class.text() == "– (n = 5)"
    assert cohen_kappa([], [], ISA3).photos == 0
    varied = cohen_kappa(HAND_A * 3, HAND_B * 3, ISA3, "quadratic")
    assert varied.low <= varied.value <= varied.high
    # Fixed seed: the same interval every time.
    assert cohen_kappa(HAND_A * 3, HAND_B * 3, ISA3) == cohen_kappa(HAND_A * 3, HAND_B * 3, ISA3)


def test_cannot_tell_is_counted_apart_and_fleiss_uses_photos_every_rater_classed() -> None:
    labels = {
        "A": {1: "Improbable", 2: "Possible", 3: "cannot tell", 4: "Probable"},
        "B": {1: "Improbable", 2: "Probable", 3: "Possible", 4: "Probable", 5: "Possible"},
        "C": {1: "Possible", 2: "Possible", 3: "Possible", 4: "Probable"},
    }
    report = agreement_report(labels, ISA3)
    ab = report.pairs[0]
    assert (ab.first, ab.second, ab.kappa.photos, ab.cannot_tell) == ("A", "B", 3, 1)
    assert report.group.kappa.photos == 3  # photos 1, 2, 4: all three gave a class
    assert report.cannot_tell == {"A": 1, "B": 0, "C": 0}
    assert report.rated == {"A": 4, "B": 5, "C": 4}


def test_the_model_is_compared_in_its_own_classes() -> None:
    assert ordered_classes(["Probable", "Possible+Improbable"]) == ("Possible+Improbable", "Probable")
    assert class_holding("Possible", ["Possible+Improbable", "Probable"]) == "Possible+Improbable"
    assert class_holding("Imminent", ISA3) is None
    labels = {"A": {1: "Improbable", 2: "Possible", 3: "Probable", 4: "Imminent"},
              "B": {1: "Possible", 2: "Possible", 3: "Probable", 4: "Probable"}}
    model = {1: "Possible+Improbable", 2: "Possible+Improbable", 3: "Probable", 4: "Probable"}
    report = model_agreement(labels, "model", model, ["Probable", "Possible+Improbable"])
    vs_a, vs_b = report.pairs
    assert (vs_a.second, vs_a.kappa.photos, vs_a.raw_agreement) == ("A", 3, 1.0)  # Imminent: no class of the model holds it
    assert (vs_b.kappa.photos, vs_b.raw_agreement) == (4, 1.0)
    assert report.group is not None and report.group.raters == ("A", "B", "model")


def test_the_most_disagreed_on_photos_come_first() -> None:
    labels = {"A": {1: "Improbable", 2: "Improbable", 3: "Possible", 4: "Probable"},
              "B": {1: "Improbable", 2: "Probable", 3: "Probable", 4: "cannot tell"},
              "C": {1: "Improbable", 2: "Improbable", 3: "Possible"}}
    found = disagreements(labels, ISA3)
    assert [d.photo_id for d in found] == [2, 3, 4, 1]
    assert found[0].spread == pytest.approx((4 + 0 + 4) / 3 / 4)
    assert found[-1].spread == 0.0
