"""The ratings database, for real, on both backends: SQLite in a temporary folder and PostgreSQL on a throwaway
server (Debian's package, installed when missing and possible; the PostgreSQL cases skip, saying why, otherwise).

What must hold on both: the schema is versioned; a rater's second rating of a photo replaces their own and no one
else's; concurrent raters (threads, and processes) never lose or mix a rating; a writer killed mid-rating loses
nothing it was told was committed, and the database opens and takes ratings again afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))
from labelling_writer import label_for  # noqa: E402
from postgres_server import Unavailable, fresh_database, postgres_server  # noqa: E402

from lightning_module.labelling.database import (  # noqa: E402
    SCHEMA_VERSION, LabelDatabaseError, database_url, describe_url, open_database,
)
from lightning_module.labelling.ratings import (  # noqa: E402
    RatingError, add_photo_set, own_rating, photos_of, ratings_of, record_rating, sign_in, simulated_rater,
)

WRITER = TESTS / "labelling_writer.py"


@pytest.fixture(scope="module")
def postgres():
    """One server for the module; each test gets its own database on it."""
    try:
        server = postgres_server()
        url = server.__enter__()
    except Unavailable as why:
        pytest.skip(f"PostgreSQL unavailable: {why}")
    try:
        yield url
    finally:
        server.__exit__(None, None, None)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'labels.sqlite'}"
    return fresh_database(request.getfixturevalue("postgres"))


@pytest.fixture()
def db(url: str):
    database = open_database(url)
    yield database
    database.close()


def _photo_set(db, count: int = 12):
    photos = [(f"p{i:02d}.jpg", f"tree{i // 2}") for i in range(count)]
    return add_photo_set(db, "/photos/set", "test set", Path("/photos"), photos)


def test_a_new_database_gets_its_tables_and_schema_version(db) -> None:
    assert db.schema_version() == SCHEMA_VERSION
    again = open_database(db.url)  # opening it again changes nothing
    assert again.schema_version() == SCHEMA_VERSION
    with again.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM schema_version")).scalar() == 1
    again.close()


def test_a_database_from_a_newer_treerisk_is_refused(db) -> None:
    with db.engine.begin() as connection:
        connection.execute(text("INSERT INTO schema_version (version, applied_at) VALUES (99, CURRENT_TIMESTAMP)"))
    with pytest.raises(LabelDatabaseError, match="schema version 99, made by a newer TreeRisk"):
        open_database(db.url)


def test_photo_sets_register_once_and_grow(db) -> None:
    first = _photo_set(db, 4)
    again = add_photo_set(db, "/photos/set", "test set", Path("/photos"), [("p00.jpg", "tree0"), ("p99.jpg", "x")])
    assert (first.id, first.photos, again.id, again.photos) == (again.id, 4, first.id, 5)
    assert [p.relative for p in photos_of(db, again)] == ["p00.jpg", "p01.jpg", "p02.jpg", "p03.jpg", "p99.jpg"]
    assert photos_of(db, again)[0].path == Path("/photos/p00.jpg")


def test_rating_again_replaces_only_the_raters_own_rating(db) -> None:
    photo_set = _photo_set(db, 2)
    photo = photos_of(db, photo_set)[0]
    ann, bob = sign_in(db, "Ann"), sign_in(db, "  Bob  Smith ")
    assert bob.name == "Bob Smith" and sign_in(db, "Ann") == ann
    record_rating(db, photo.id, ann, "Possible", 2, ["cavity", "lean"])
    record_rating(db, photo.id, bob, "Improbable", 3)
    record_rating(db, photo.id, ann, "Probable", 1, ["trunk_crack"])
    rows = {(r.rater, r.photo_id): r for r in ratings_of(db, photo_set)}
    assert len(rows) == 2
    ann_s = rows["Ann", photo.id]
    assert (ann_s.label, ann_s.confidence, ann_s.defects) == ("Probable", 1, ("trunk_crack",))
    assert rows["Bob Smith", photo.id].label == "Improbable"
    assert own_rating(db, photo.id, bob).label == "Improbable"
    assert own_rating(db, photos_of(db, photo_set)[1].id, bob) is None


def test_bad_ratings_and_names_are_refused_by_the_code_and_by_the_database(db) -> None:
    photo = photos_of(db, _photo_set(db, 1))[0]
    ann = sign_in(db, "Ann")
    for label, confidence, defects in (("Maybe", 2, ()), ("Possible", 5, ()), ("Possible", 2, ("rot",))):
        with pytest.raises(RatingError):
            record_rating(db, photo.id, ann, label, confidence, defects)
    for name in ("", "x" * 61, "<script>", "Rater A (simulated)"):
        with pytest.raises(RatingError):
            sign_in(db, name)
    simulated_rater(db, "Rater Z (simulated)", "a test rater")
    with pytest.raises(RatingError, match="simulated"):
        sign_in(db, "Rater Z (simulated)")
    with pytest.raises(IntegrityError):  # the schema's own check, whoever writes
        with db.engine.begin() as connection:
            connection.execute(text("INSERT INTO ratings (photo_id, rater_id, label, defects, rated_at) "
                                    f"VALUES ({photo.id}, {ann.id}, 'Maybe', '', CURRENT_TIMESTAMP)"))
    with pytest.raises(IntegrityError):  # one rating per photo and rater, whoever writes
        with db.engine.begin() as connection:
            for _ in range(2):
                connection.execute(text("INSERT INTO ratings (photo_id, rater_id, label, defects, rated_at) "
                                        f"VALUES ({photo.id}, {ann.id}, 'Possible', '', CURRENT_TIMESTAMP)"))


@pytest.mark.timeout(300)
def test_concurrent_raters_in_threads_never_lose_or_mix_a_rating(url: str) -> None:
    setup = open_database(url)
    photo_set = _photo_set(setup, 15)
    names = [f"Rater {i}" for i in range(6)]
    failures: list[BaseException] = []
    start = threading.Barrier(len(names))

    def rate(name: str) -> None:
        try:
            db = open_database(url)  # each rater its own engine, as each dashboard session's server would be
            rater = sign_in(db, name)
            photos = photos_of(db, photo_set)
            start.wait()
            for round_ in range(3):
                for photo in photos:
                    record_rating(db, photo.id, rater, label_for(name, photo.id, round_), confidence=1 + round_)
            db.close()
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=rate, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not failures, failures
    stored = ratings_of(setup, photo_set)
    assert len(stored) == len(names) * 15
    for rating in stored:
        assert (rating.label, rating.confidence) == (label_for(rating.rater, rating.photo_id, 2), 3)
    setup.close()


@pytest.mark.timeout(300)
def test_concurrent_raters_in_processes_never_lose_or_mix_a_rating(url: str) -> None:
    setup = open_database(url)
    photo_set = _photo_set(setup, 8)
    names = ["Ann", "Bob", "Cem"]
    writers = [subprocess.Popen([sys.executable, str(WRITER), url, str(photo_set.id), name, "2"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in names]
    for writer in writers:
        out, err = writer.communicate(timeout=240)
        assert writer.returncode == 0, err[-2000:]
        assert out.count("committed") == 16
    stored = ratings_of(setup, photo_set)
    everyone_everything = sorted((n, p.id) for n in names for p in photos_of(setup, photo_set))
    assert sorted((r.rater, r.photo_id) for r in stored) == everyone_everything
    assert all(r.label == label_for(r.rater, r.photo_id, 1) for r in stored)
    setup.close()


@pytest.mark.timeout(300)
def test_a_writer_killed_mid_rating_loses_nothing_it_committed(url: str) -> None:
    setup = open_database(url)
    photo_set = _photo_set(setup, 40)
    writer = subprocess.Popen([sys.executable, str(WRITER), url, str(photo_set.id), "Ann", "5"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    committed: dict[int, str] = {}
    assert writer.stdout.readline().strip() == "ready", writer.stderr.read()
    for line in writer.stdout:
        _, photo_id, label = line.split()
        committed[int(photo_id)] = label
        if len(committed) == 25:
            os.kill(writer.pid, signal.SIGKILL)  # in the middle of its ratings, perhaps in the middle of a commit
            break
    writer.wait(timeout=30)
    for line in writer.stdout:  # what it printed before dying: committed too
        _, photo_id, label = line.split()
        committed[int(photo_id)] = label
    stored = {r.photo_id: r.label for r in ratings_of(setup, photo_set) if r.rater == "Ann"}
    for photo_id, label in committed.items():
        assert stored[photo_id] == label
    assert set(stored) - set(committed) <= {max(committed) + 1}  # at most the one it was writing when killed
    # The database is whole: it reopens and takes the rating that was cut short.
    again = open_database(url)
    ann = sign_in(again, "Ann")
    record_rating(again, photos_of(again, photo_set)[-1].id, ann, "Imminent")
    assert own_rating(again, photos_of(again, photo_set)[-1].id, ann).label == "Imminent"
    again.close()
    setup.close()


def test_the_url_comes_from_the_environment_or_the_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TREERISK_DB", raising=False)
    assert database_url(tmp_path) == f"sqlite:///{tmp_path.resolve() / 'labels.sqlite'}"
    monkeypatch.setenv("TREERISK_DB", "postgresql://ann:secret@db.example.org/treerisk")
    assert database_url(tmp_path) == "postgresql://ann:secret@db.example.org/treerisk"
    assert "secret" not in describe_url(database_url(tmp_path))


def test_an_unusable_url_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LabelDatabaseError, match="not a database URL"):
        open_database("nonsense://what")
    with pytest.raises(LabelDatabaseError, match="Cannot open the ratings database"):
        open_database("postgresql://nobody@127.0.0.1:1/none")
