"""From ratings to training data (majority vote; ties and "cannot tell" reported), the photos to rate, the
simulated raters' noise model, the demo's idempotence, and the ``labels`` command."""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import make_photo  # noqa: E402

from lightning_module.__main__ import main as treerisk  # noqa: E402
from lightning_module.data.sources import read_manifest  # noqa: E402
from lightning_module.labelling.consensus import (  # noqa: E402
    consensus, summarise, verdict, write_consensus_manifest, write_rater_labels,
)
from lightning_module.labelling.database import open_database  # noqa: E402
from lightning_module.labelling.demo import ensure_demo, simulated_ratings_of_folder  # noqa: E402
from lightning_module.labelling.model_opinion import uncertainty  # noqa: E402
from lightning_module.labelling.photo_sources import PhotoSourceError, photos_to_rate  # noqa: E402
from lightning_module.labelling.ratings import Photo, Rating, next_photos, ratings_of  # noqa: E402
from lightning_module.runs.launcher import TrainingRequest, check_request  # noqa: E402
from lightning_module.synthetic.raters import SIMULATED_RATERS, SimulatedRater, closeness, simulate_rating  # noqa: E402
from lightning_module.synthetic.scoring import class_names  # noqa: E402


def test_a_photo_gets_a_label_only_when_one_class_leads_outright() -> None:
    assert verdict(Counter({"Possible": 2, "Probable": 1})) == ("Possible", "majority")
    assert verdict(Counter({"Possible": 1, "Probable": 1, "cannot tell": 1})) == (None, "tie")
    assert verdict(Counter({"cannot tell": 2, "Probable": 1})) == (None, "cannot tell")
    assert verdict(Counter({"Improbable": 1})) == ("Improbable", "majority")
    assert verdict(Counter()) == (None, "unrated")


def _photos(folder: Path, count: int) -> list[Photo]:
    return [Photo(i, 1, f"p{i}.jpg", make_photo(folder / f"p{i}.jpg", i % 3, seed=i), f"tree{i // 2}")
            for i in range(count)]


def _rating(photo: Photo, rater: str, label: str) -> Rating:
    return Rating(photo.id, photo.relative, photo.path, photo.group, rater, False, label, 2, ("cavity",), None)


def test_the_consensus_manifest_trains_and_reports_what_it_left_out(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos", 8)
    votes = [("Improbable", "Improbable", "Possible"), ("Possible", "Possible", "Possible"),
             ("Probable", "Probable", "cannot tell"), ("Improbable", "Possible", "Probable"),
             ("cannot tell", "cannot tell", "Probable"), ("Improbable", "Improbable", "Improbable"),
             ("Possible", "Probable", "Probable")]  # photo 7: nobody rated it
    ratings = [_rating(p, rater, label) for p, said in zip(photos, votes) for rater, label in zip("ABC", said)]
    rows = consensus(photos, ratings)
    assert [r.label for r in rows] == ["Improbable", "Possible", "Probable", None, None, "Improbable", "Probable", None]
    summary = summarise(rows)
    assert (summary.labelled, summary.ties, summary.cannot_tell, summary.unrated) == (5, 1, 1, 1)
    assert summary.per_class == {"Improbable": 2, "Possible": 1, "Probable": 2}
    manifest, left_out = write_consensus_manifest(rows, tmp_path / "out" / "consensus.csv")
    records = read_manifest(manifest)  # exactly what training reads
    assert [(r.path, r.label, r.group) for r in records] == [
        (photos[i].path, label, photos[i].group) for i, label in ((0, "Improbable"), (1, "Possible"), (2, "Probable"),
                                                                   (5, "Improbable"), (6, "Probable"))]
    with left_out.open() as handle:
        left = list(csv.DictReader(handle))
    assert [(row["reason"], row["votes"]) for row in left] == [
        ("tie", "Improbable 1; Possible 1; Probable 1"), ("cannot tell", "cannot tell 2; Probable 1")]
    # The Train page's launcher accepts it as it is.
    request = TrainingRequest(run_name="consensus", data_kind="manifest", data_path=str(manifest))
    assert not [p for p in check_request(request) if "manifest" in p.lower() or "csv" in p.lower()]
    # Only the chosen raters vote.
    assert [r.label for r in consensus(photos, ratings, ["A"])][:4] == ["Improbable", "Possible", "Probable", "Improbable"]
    per_rater = write_rater_labels(ratings, tmp_path / "ratings.csv")
    with per_rater.open() as handle:
        first = next(csv.DictReader(handle))
    assert first == {"path": photos[0].path.as_posix(), "rater": "A", "simulated": "false", "label": "Improbable",
                     "confidence": "2", "defects": "cavity", "rated_at": ""}


def test_photos_to_rate_come_from_any_folder_or_a_manifests_path_column(tmp_path: Path) -> None:
    make_photo(tmp_path / "field" / "day1" / "a.jpg", 0, 1)
    make_photo(tmp_path / "field" / "b.jpg", 1, 2)
    (tmp_path / "field" / "notes.txt").write_text("not a photo")
    found = photos_to_rate(tmp_path / "field")
    assert (found.kind, [p for p, _ in found.photos]) == ("folder", ["b.jpg", "day1/a.jpg"])
    (tmp_path / "list.csv").write_text("path,label,group\nfield/b.jpg,Probable,tree1\nfield/day1/a.jpg,,\n")
    listed = photos_to_rate(tmp_path / "list.csv")
    assert listed.photos == (("field/b.jpg", "tree1"), ("field/day1/a.jpg", "field/day1/a.jpg"))
    for bad, words in (("", "Give the folder"), (tmp_path / "nowhere", "does not exist"),
                       (tmp_path / "field" / "notes.txt", "not a .csv")):
        with pytest.raises(PhotoSourceError, match=words):
            photos_to_rate(bad)
    (tmp_path / "broken.csv").write_text("path\nfield/missing.jpg\n")
    with pytest.raises(PhotoSourceError, match="1 file"):
        photos_to_rate(tmp_path / "broken.csv")


def test_each_rater_has_a_fixed_order_and_uncertain_photos_can_come_first() -> None:
    photos = [Photo(i, 1, f"p{i}.jpg", Path(f"/p{i}.jpg"), "") for i in range(20)]
    ann = next_photos(photos, set(), "Ann", count=20)
    assert ann == next_photos(photos, set(), "Ann", count=20) != next_photos(photos, set(), "Bob", count=20)
    assert next_photos(photos, {ann[0].id}, "Ann") == [ann[1]]
    doubt = {3: 0.9, 7: 0.5, 11: 0.99}
    assert [p.id for p in next_photos(photos, {11}, "Ann", "uncertain", doubt, count=2)] == [3, 7]
    assert uncertainty([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]]).tolist() == pytest.approx([0.0, 1.0])
    assert uncertainty([[0.5, 0.5, 0.0], [0.9, 0.1, 0.0]], "margin").tolist() == pytest.approx([1.0, 0.2])


def _row(label: str, score: float, path: str = "x.jpg") -> dict:
    return {"path": path, "label_clean": label, "risk_score": score, "severity_cavity": 0.3, "severity_lean": 0.1}


def test_simulated_raters_err_to_neighbours_and_most_at_class_edges() -> None:
    rater = SimulatedRater("T (simulated)", move=0.05, edge_move=0.6, cannot_tell=0.0, defect_threshold=0.2, seed=9)
    names = class_names()
    far = [simulate_rating(rater, _row("Improbable", 0.06, f"{i}.jpg")) for i in range(600)]  # 0.24 from any edge
    near = [simulate_rating(rater, _row("Possible", 0.31, f"{i}.jpg")) for i in range(600)]  # 0.01 above 0.30
    far_moved = sum(r.label != "Improbable" for r in far) / 600
    near_moved = sum(r.label != "Possible" for r in near) / 600
    assert closeness(0.06) == (0.0, 0.30)
    assert far_moved == pytest.approx(0.05, abs=0.03)
    assert near_moved == pytest.approx(0.05 + 0.6 * closeness(0.31)[0], abs=0.06) and near_moved > 5 * far_moved
    assert {r.label for r in near} == {"Possible", "Improbable"}  # across the nearest edge, never two classes away
    assert {r.label for r in far} == {"Improbable", "Possible"} and set(names) >= {r.label for r in far}
    assert {r.confidence for r in far} == {3} and {r.confidence for r in near} == {1}
    assert far[0].defects == ("cavity",)
    assert simulate_rating(rater, _row("Possible", 0.31, "0.jpg")) == near[0]  # reproducible
    # The demo's raters are ordered from careful to careless.
    moves = [r.move + r.edge_move for r in SIMULATED_RATERS]
    assert moves == sorted(moves) and all(r.name.endswith("(simulated)") for r in SIMULATED_RATERS)


@pytest.mark.timeout(300)
def test_the_demo_is_idempotent_and_the_labels_command_exports_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "data"
    db = open_database(f"sqlite:///{data / 'labels.sqlite'}")
    photo_set = ensure_demo(db, data, n=20)
    first = sorted((r.photo_id, r.rater, r.label) for r in ratings_of(db, photo_set))
    assert len(first) == 60 and {r for _, r, _ in first} == {r.name for r in SIMULATED_RATERS}
    assert ensure_demo(db, data, n=20) == photo_set
    assert sorted((r.photo_id, r.rater, r.label) for r in ratings_of(db, photo_set)) == first
    assert all(r.simulated for r in ratings_of(db, photo_set))
    db.close()
    out = tmp_path / "consensus.csv"
    export = ["export", "--out", str(out), "--per-rater", str(tmp_path / "r.csv")]
    assert treerisk(["labels", "--data-dir", str(data), *export]) == 0
    assert len(read_manifest(out)) >= 15
    assert treerisk(["labels", "--data-dir", str(data), "agreement", "--resamples", "50"]) == 0
    printed = capsys.readouterr().out
    assert "Fleiss' kappa across 3" in printed and "Rater A (simulated) vs Rater B (simulated)" in printed
    assert treerisk(["labels", "--data-dir", str(data), "export", "--set", "9", "--out", str(out)]) == 2
    assert "error: No photo set '9'" in capsys.readouterr().err
    # Without a database: the simulated raters' labels of the synthetic set, straight to CSV.
    simulated = simulated_ratings_of_folder(data / "synthetic-n20-seed0")
    assert len(simulated) == 60 and all(r.simulated and r.rater.endswith("(simulated)") for r in simulated)
