"""The Label and Agreement pages, headless (streamlit AppTest), on a small built-in set with the simulated raters.

Two sessions stand for two raters in two browser tabs: each rates through its own page, neither ever sees the
other's label, and both ratings land in the same database. The Agreement page shows the same kappas the library
computes, the model beside the raters, and the consensus manifest, and opens the Train page on it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
REPO = TESTS.parent
sys.path[:0] = [str(TESTS), str(REPO)]
from streamlit.testing.v1 import AppTest  # noqa: E402

import lightning_module.labelling.demo as demo  # noqa: E402
from lightning_module.data.sources import read_manifest  # noqa: E402
from lightning_module.labelling.agreement import agreement_report  # noqa: E402
from lightning_module.labelling.database import database_url, open_database  # noqa: E402
from lightning_module.labelling.ratings import photo_sets, ratings_of  # noqa: E402

APP = REPO / "dashboard" / "app.py"
PAGES = REPO / "dashboard" / "views"
SMALL_SET = 30  # photos in the built-in set for these tests (the real one has 458)


@pytest.fixture()
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TREERISK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TREERISK_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("TREERISK_DB", raising=False)
    monkeypatch.setattr(demo, "BUILTIN_PHOTOS", SMALL_SET)
    return tmp_path / "data"


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=240)
    at.run()
    at.switch_page(str(PAGES / f"{page}.py"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def sign_in(at: AppTest, name: str) -> None:
    at.text_input(key="labelling_name").input(name)
    at.button(key="FormSubmitter:labelling_sign_in-Start rating").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def shown_text(at: AppTest) -> str:
    """Everything a rater reads on the page, except the fixed button labels."""
    parts = [e.value for kind in (at.markdown, at.caption, at.info, at.success, at.warning, at.error) for e in kind]
    parts += [str(e.value) for e in at.get("image")]
    return "\n".join(map(str, parts))


def rate(at: AppTest, label: str) -> None:
    at.button(key=f"labelling_rate_{label}").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def test_a_rater_signs_in_by_name_and_rates_photo_after_photo(data: Path) -> None:
    at = open_page("label")
    assert at.text_input(key="labelling_name").label == "Your name"
    assert not [b for b in at.button if b.key and b.key.startswith("labelling_rate_")]  # nothing to rate before a name
    sign_in(at, "Ann Arborist")
    assert "Rating as **Ann Arborist**" in shown_text(at)
    assert [b.label for b in at.button if b.key and b.key.startswith("labelling_rate_")] == [
        "Improbable", "Possible", "Probable", "Imminent", "Cannot tell"]
    shortcuts = {b.label: b.proto.shortcut for b in at.button if b.key and b.key.startswith("labelling_rate_")}
    assert shortcuts == {"Improbable": "1", "Possible": "2", "Probable": "3", "Imminent": "4", "Cannot tell": "0"}
    assert at.get("image"), "the photo is shown"
    at.pills(key=next(p.key for p in at.pills)).set_value(["cavity", "lean"])
    rate(at, "Probable")
    rate(at, "Improbable")
    db = open_database(database_url(data))
    own = {r.photo_id: r for r in ratings_of(db, photo_sets(db)[0]) if r.rater == "Ann Arborist"}
    assert sorted(r.label for r in own.values()) == ["Improbable", "Probable"]
    probable = next(r for r in own.values() if r.label == "Probable")
    assert (probable.confidence, probable.defects) == (2, ("lean", "cavity"))
    assert f"You have rated 2 of {SMALL_SET} photos" in [p.text for p in at.get("progress")][0]
    # Changing the last rating shows that photo again, with only the rater's own earlier label.
    at.button(key="labelling_again_button").click().run()
    assert "You rated this photo **Improbable** before" in shown_text(at)
    rate(at, "Possible")
    own = {r.photo_id: r.label for r in ratings_of(db, photo_sets(db)[0]) if r.rater == "Ann Arborist"}
    assert sorted(own.values()) == ["Possible", "Probable"]
    db.close()


def test_two_raters_at_once_never_see_each_others_labels(data: Path) -> None:
    ann, bob = open_page("label"), open_page("label")
    sign_in(ann, "Ann")
    sign_in(bob, "Bob")
    for _ in range(5):  # Imminent: a label no simulated rater gives on this set, so any sight of it is Ann's
        rate(ann, "Imminent")
    for _ in range(5):
        text = shown_text(bob)
        assert "Imminent" not in text and "Ann" not in text, text
        rate(bob, "Possible")
    db = open_database(database_url(data))
    stored = ratings_of(db, photo_sets(db)[0])
    assert sorted(r.label for r in stored if r.rater == "Ann") == ["Imminent"] * 5
    assert sorted(r.label for r in stored if r.rater == "Bob") == ["Possible"] * 5
    db.close()
    # On the Agreement page, Bob's session hides the disagreed-on photos Bob has not rated yet.
    bob.switch_page(str(PAGES / "agreement.py"))
    bob.run()
    assert not bob.exception, [e.value for e in bob.exception]
    assert any("you, Bob, have not rated yet are hidden" in c.value for c in bob.caption)


def test_the_agreement_page_shows_the_raters_and_the_model_with_the_librarys_figures(data: Path) -> None:
    at = open_page("agreement")
    assert any("(simulated)" in c.value and "not people" in c.value for c in at.caption)
    pairs = at.dataframe[0].value  # raters with each other
    assert len(pairs) == 3 and all(pairs["between"].str.endswith("(simulated)"))
    db = open_database(database_url(data))
    labels: dict[str, dict[int, str]] = {}
    for rating in ratings_of(db, photo_sets(db)[0]):
        labels.setdefault(rating.rater, {})[rating.photo_id] = rating.label
    db.close()
    expected = agreement_report(dict(sorted(labels.items())))
    # Seven columns, each kappa beside its interval, so the table fits the page (nine scrolled out of sight).
    assert list(pairs.columns) == ["between", "and", "photos", "Cohen's κ (95 % interval)",
                                   "weighted κ (95 % interval)", "raw agreement", "cannot tell"]
    for row, pair in zip(pairs.itertuples(index=False), expected.pairs):
        assert (row[0], row[1], row.photos) == (pair.first, pair.second, pair.kappa.photos)
        assert row[3] == f"{pair.kappa.value:.2f} ({pair.kappa.low:.2f} to {pair.kappa.high:.2f})"
        assert row[4] == f"{pair.weighted_kappa.value:.2f} ({pair.weighted_kappa.low:.2f} to {pair.weighted_kappa.high:.2f})"
    fleiss = next(m for m in at.metric if m.label.startswith("Fleiss"))
    assert fleiss.value == f"{expected.group.kappa.value:.2f}"
    model = at.dataframe[1].value  # the model beside them
    assert len(model) == 3 and all(model["between"] == "the model")  # the box above names it
    assert any("seed 0" in w.value for w in at.warning), "the model was trained on this seed: the page says so"
    assert at.get("plotly_chart"), "a confusion matrix is drawn"


def test_the_consensus_manifest_opens_the_train_page_ready_to_train_on_it(data: Path) -> None:
    at = open_page("agreement")
    at.button(key="agreement_train").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    manifest = data / "consensus-set1.csv"
    records = read_manifest(manifest)
    assert records and all(r.path.is_file() for r in records)
    assert (data / "consensus-set1-left-out.csv").is_file()
    assert at.radio(key="data_kind").value == "manifest"
    assert at.text_input(key="data_manifest").value == str(manifest)
