"""The ISA matrices cell by cell, the path through them, and the rating probabilities."""

from __future__ import annotations

import pytest

from lightning_module.assessment import risk

IMPACTS = ["Very low", "Low", "Medium", "High"]
CONSEQUENCES = ["Negligible", "Minor", "Significant", "Severe"]

# Copied from the issue (ISA TRAQ), row by row, as a reader would check them against the manual.
EXPECTED_FAILURE_AND_IMPACT = {
    "Imminent": ["Unlikely", "Somewhat likely", "Likely", "Very likely"],
    "Probable": ["Unlikely", "Unlikely", "Somewhat likely", "Likely"],
    "Possible": ["Unlikely", "Unlikely", "Unlikely", "Somewhat likely"],
    "Improbable": ["Unlikely", "Unlikely", "Unlikely", "Unlikely"],
}
EXPECTED_RISK = {
    "Very likely": ["Low", "Moderate", "High", "Extreme"],
    "Likely": ["Low", "Moderate", "High", "High"],
    "Somewhat likely": ["Low", "Low", "Moderate", "Moderate"],
    "Unlikely": ["Low", "Low", "Low", "Low"],
}


@pytest.mark.parametrize("failure", list(EXPECTED_FAILURE_AND_IMPACT))
@pytest.mark.parametrize("column", range(4))
def test_failure_and_impact_matrix_cell(failure: str, column: int) -> None:
    assert risk.failure_and_impact(failure, IMPACTS[column]) == EXPECTED_FAILURE_AND_IMPACT[failure][column]


@pytest.mark.parametrize("level", list(EXPECTED_RISK))
@pytest.mark.parametrize("column", range(4))
def test_risk_matrix_cell(level: str, column: int) -> None:
    assert risk.risk_rating(level, CONSEQUENCES[column]) == EXPECTED_RISK[level][column]


def test_matrices_have_exactly_the_isa_rows_and_columns() -> None:
    assert list(risk.FAILURE_AND_IMPACT_MATRIX) == list(EXPECTED_FAILURE_AND_IMPACT)
    assert all(list(row) == IMPACTS for row in risk.FAILURE_AND_IMPACT_MATRIX.values())
    assert list(risk.RISK_MATRIX) == list(EXPECTED_RISK)
    assert all(list(row) == CONSEQUENCES for row in risk.RISK_MATRIX.values())


def test_rating_path_goes_through_both_matrices() -> None:
    path = risk.rating_path("Probable", "High", "Severe")
    assert (path.failure_and_impact, path.rating) == ("Likely", "High")
    assert risk.rating_path("Imminent", "High", "Severe").rating == "Extreme"
    assert risk.rating_path("Improbable", "High", "Severe").rating == "Low"


@pytest.mark.parametrize("bad", [("Certain", "High", "Severe"), ("Probable", "Always", "Severe"), ("Probable", "High", "Fatal")])
def test_unknown_choices_are_refused_with_the_options(bad: tuple[str, str, str]) -> None:
    with pytest.raises(ValueError, match="must be one of"):
        risk.rating_path(*bad)


def test_rating_probabilities_are_the_expectation_over_classes() -> None:
    classes = ["Improbable", "Possible", "Probable", "Imminent"]
    # High impact, Severe: Improbable -> Unlikely -> Low; Possible -> Somewhat likely -> Moderate;
    # Probable -> Likely -> High; Imminent -> Very likely -> Extreme.
    result = risk.rating_probabilities(classes, [0.1, 0.2, 0.3, 0.4], "High", "Severe")
    assert list(result) == ["Low", "Moderate", "High", "Extreme"]
    assert result == pytest.approx({"Low": 0.1, "Moderate": 0.2, "High": 0.3, "Extreme": 0.4})


def test_classes_that_share_a_rating_add_up() -> None:
    classes = ["Improbable", "Possible", "Probable"]
    # Low impact: every class's path ends in Unlikely -> Low, whatever the consequences.
    assert risk.rating_probabilities(classes, [0.2, 0.3, 0.5], "Low", "Severe") == pytest.approx(
        {"Low": 1.0, "Moderate": 0.0, "High": 0.0, "Extreme": 0.0})
    # Medium impact, Severe: Improbable, Possible -> Low; Probable -> Somewhat likely -> Moderate.
    assert risk.rating_probabilities(classes, [0.2, 0.3, 0.5], "Medium", "Severe") == pytest.approx(
        {"Low": 0.5, "Moderate": 0.5, "High": 0.0, "Extreme": 0.0})


def test_probabilities_are_normalised_and_validated() -> None:
    assert sum(risk.rating_probabilities(["Improbable", "Probable"], [2, 6], "High", "Severe").values()) == pytest.approx(1)
    with pytest.raises(ValueError, match="expected 2"):
        risk.rating_probabilities(["Improbable", "Probable"], [1.0], "High", "Severe")
    with pytest.raises(ValueError, match="non-negative"):
        risk.rating_probabilities(["Improbable", "Probable"], [1.2, -0.2], "High", "Severe")


def test_assess_rates_the_most_likely_class() -> None:
    rated = risk.assess(["Improbable", "Possible", "Probable"], [0.1, 0.3, 0.6], "High", "Significant")
    assert rated.predicted_class == "Probable"
    assert rated.path == risk.RatingPath("Probable", "High", "Likely", "Significant", "High")
    assert rated.rating == "High"
    assert rated.failure_probabilities["Imminent"] == 0.0
    assert rated.merged_note is None


def test_ties_go_to_the_more_severe_class() -> None:
    rated = risk.assess(["Improbable", "Probable"], [0.5, 0.5], "High", "Severe")
    assert rated.predicted_class == "Probable"


def test_merged_classes_are_rated_as_their_most_severe_category() -> None:
    rated = risk.assess(["Improbable", "Probable+Possible"], [0.2, 0.8], "High", "Severe")
    assert rated.path.likelihood_of_failure == "Probable"
    assert rated.rating == "High"
    assert "'Probable+Possible' is rated as Probable" in rated.merged_note
    low = risk.assess(["Possible+Improbable", "Probable"], [0.9, 0.1], "High", "Severe")
    assert low.path.likelihood_of_failure == "Possible"
    assert low.rating == "Moderate"
    assert low.failure_probabilities == pytest.approx({"Improbable": 0.0, "Possible": 0.9, "Probable": 0.1, "Imminent": 0.0})


def test_class_names_are_matched_like_the_data_folders() -> None:
    assert risk.failure_categories(["improbable", "PROBABLE"]) == {"improbable": "Improbable", "PROBABLE": "Probable"}


def test_non_isa_classes_make_the_rating_unavailable_with_a_reason() -> None:
    with pytest.raises(risk.RatingUnavailable, match="'Healthy' is not an ISA likelihood-of-failure"):
        risk.assess(["Healthy", "Probable"], [0.5, 0.5], "High", "Severe")
    with pytest.raises(risk.RatingUnavailable, match="'cat', 'dog' are not"):
        risk.rating_probabilities(["cat", "dog"], [0.5, 0.5], "High", "Severe")
