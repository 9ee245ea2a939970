"""Screening many photos: every file gets a row, zips are opened safely, GPS becomes a map, exports are right."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import torch

from assess_samples import bomb_png, gps_jpeg, jpeg, mark_encrypted, upload_samples, zip_bytes
from lightning_module.evaluation.predictor import Predictor
from lightning_module.models.networks import build_network
from lightning_module.screening import (
    ArchiveLimits,
    Upload,
    apply_rating,
    assess_photo,
    batch_items,
    geojson_text,
    gps_position,
    rows_table,
    rows_to_csv,
    screen,
)

CLASSES = ["Improbable", "Possible", "Probable"]


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    torch.manual_seed(0)
    network = build_network("seed_cnn", len(CLASSES), "grayscale", 48).eval()
    return Predictor(network, CLASSES, 48, "grayscale", "seed_cnn", "Pr_Po_Im", Path("test.ckpt"))


def _names(items) -> list[str]:
    return [item.name for item in items]


def test_every_kind_of_upload_gets_its_row_and_bad_ones_do_not_stop_the_batch(predictor: Predictor) -> None:
    samples = upload_samples()
    progress: list[tuple[int, int]] = []
    rows = screen(predictor, batch_items([Upload(s.name, s.data) for s in samples]),
                  progress=lambda done, total, name: progress.append((done, total)))
    assert [r.name for r in rows] == [s.name for s in samples]  # one row each, in upload order
    for sample, row in zip(samples, rows):
        assert row.ok is sample.ok, (sample.name, row.reason)
        if sample.ok:
            assert row.predicted_class in CLASSES and 0 < row.confidence <= 1 and row.thumbnail.startswith("data:image/jpeg")
        else:
            assert sample.says in row.reason and not row.predicted_class
    assert progress[-1] == (len(samples), len(samples)) and len(progress) == len(samples)


def test_assess_photo_keeps_everything_the_page_shows(predictor: Predictor) -> None:
    result = assess_photo(predictor, jpeg(250, 100), "tree.jpg")
    assert result.photo.crop_box == (75, 0, 175, 100)
    assert result.shown.size == (250, 100)
    assert result.explanation is not None and result.explanation.heatmap.shape == (48, 48)
    assert result.predicted_class == CLASSES[int(result.probabilities.argmax())]
    assert result.rating("High", "Severe").rating in ("Low", "Moderate", "High")
    assert "only the centre square" in " ".join(result.familiarity.notes)  # 5:2 photo: the square is 40 % of it


def test_zip_archives_are_opened_and_their_bad_members_reported(predictor: Predictor) -> None:
    inner = zip_bytes({"x.jpg": jpeg()})
    archive = zip_bytes({
        "north/oak.jpg": jpeg(seed=1),
        "north/": b"",
        "__MACOSX/north/._oak.jpg": b"\x00\x05\x16\x07",
        ".DS_Store": b"junk",
        "../../etc/evil.jpg": jpeg(seed=2),
        "/abs/tree.jpg": jpeg(seed=3),
        "nested.zip": inner,
        "readme.txt": b"hello",
        "broken.jpg": b"not a jpeg",
        "south/elm.png": upload_samples()[2].data,
    })
    items = batch_items([Upload("trees.zip", archive), Upload("loose.jpg", jpeg(seed=4))])
    assert _names(items) == [
        "trees.zip › north/oak.jpg", "trees.zip › ../../etc/evil.jpg", "trees.zip › /abs/tree.jpg",
        "trees.zip › nested.zip", "trees.zip › readme.txt", "trees.zip › broken.jpg", "trees.zip › south/elm.png",
        "loose.jpg",
    ]
    rows = screen(predictor, items)
    by_name = {r.name: r for r in rows}
    assert by_name["trees.zip › north/oak.jpg"].ok and by_name["trees.zip › south/elm.png"].ok and by_name["loose.jpg"].ok
    assert "unsafe path" in by_name["trees.zip › ../../etc/evil.jpg"].reason
    assert "unsafe path" in by_name["trees.zip › /abs/tree.jpg"].reason
    assert "archive inside the archive" in by_name["trees.zip › nested.zip"].reason
    assert "not a photo type" in by_name["trees.zip › readme.txt"].reason
    assert "not an image format" in by_name["trees.zip › broken.jpg"].reason


def test_zip_bombs_and_huge_archives_are_refused_without_reading_them() -> None:
    zeros = b"\x00" * (3 * 2**20)  # 3 MB of zeros compress to a few kB
    limits = ArchiveLimits(max_member_bytes=2**20, max_total_bytes=2 * 2**20, max_members=2, max_declared_entries=6)
    rows = batch_items([Upload("bomb.zip", zip_bytes({"a.jpg": zeros}))], limits)
    assert rows[0].read is None and "too large once unpacked" in rows[0].error

    # Declared sizes are not trusted: the byte cap holds while reading, too.
    members = {f"{i}.jpg": b"\x01" * (900 * 1024) for i in range(3)}
    items = batch_items([Upload("many.zip", zip_bytes(members))], ArchiveLimits(max_member_bytes=2**20, max_total_bytes=2**20))
    from lightning_module.data.imaging import PhotoError
    assert len(items[0].read()) == 900 * 1024
    with pytest.raises(PhotoError, match="possible zip bomb"):
        items[1].read()

    photos = {f"tree{i}.jpg": b"x" for i in range(5)}
    counted = batch_items([Upload("five.zip", zip_bytes(photos))], limits)
    assert [i.read is not None for i in counted] == [True, True, False, False, False]
    assert "only the first 2 photos" in counted[2].error

    many = {f"tree{i}.jpg": b"x" for i in range(7)}
    refused = batch_items([Upload("seven.zip", zip_bytes(many))], limits)
    assert len(refused) == 1 and "lists 7 entries" in refused[0].error

    # An end record that under-states the count does not help: the directory's size gives it away.
    lying = bytearray(zip_bytes({f"tree{i}.jpg": b"x" for i in range(60)}))
    end = lying.rfind(b"PK\x05\x06")
    lying[end + 8:end + 12] = (1).to_bytes(2, "little") * 2
    refused = batch_items([Upload("lying.zip", bytes(lying))], limits)
    assert len(refused) == 1 and "lists 1 entries" in refused[0].error and "split it" in refused[0].error


def test_damaged_empty_and_encrypted_archives_get_reasons() -> None:
    damaged = batch_items([Upload("bad.zip", b"PK\x03\x04 this is not really a zip")])
    assert len(damaged) == 1 and "not a readable zip archive" in damaged[0].error
    empty = batch_items([Upload("empty.zip", zip_bytes({}))])
    assert "holds no files" in empty[0].error
    locked = batch_items([Upload("locked.zip", mark_encrypted(zip_bytes({"a.jpg": jpeg(), "b.jpg": jpeg(seed=1)}), "a.jpg"))])
    assert "password-protected" in locked[0].error and locked[1].read is not None


def test_a_batch_has_a_size_limit_and_says_so() -> None:
    items = batch_items([Upload(f"{i}.jpg", b"x") for i in range(4)], max_photos=3)
    assert [i.read is not None for i in items] == [True, True, True, False]
    assert "at most 3 photos" in items[3].error


def test_names_are_labels_only() -> None:
    items = batch_items([Upload("a\x00b\nc.jpg", b"x"), Upload("x" * 500 + ".jpg", b"x")])
    assert items[0].name == "a?b?c.jpg"
    assert len(items[1].name) == 120


def test_gps_from_exif_in_decimal_degrees() -> None:
    assert gps_position(gps_jpeg(-33.865, 151.21)) == pytest.approx((-33.865, 151.21), abs=1e-4)
    assert gps_position(gps_jpeg(42.44, -76.5)) == pytest.approx((42.44, -76.5), abs=1e-4)
    assert gps_position(jpeg()) is None
    assert gps_position(gps_jpeg(0.0, 0.0)) is None  # a camera's placeholder, not a place
    assert gps_position(b"junk") is None


def test_csv_and_geojson_exports(predictor: Predictor) -> None:
    uploads = [Upload("=cmd.jpg", gps_jpeg(51.5, -0.12)), Upload("plain.jpg", jpeg()), Upload("bad.jpg", b"")]
    rows = screen(predictor, batch_items(uploads))
    assert apply_rating(rows, "High", "Severe") is None
    assert all(r.rating in ("Low", "Moderate", "High") for r in rows if r.ok)

    table = list(csv.DictReader(io.StringIO(rows_to_csv(rows, CLASSES, "High", "Severe"))))
    assert [t["file"] for t in table] == ["'=cmd.jpg", "plain.jpg", "bad.jpg"]  # no spreadsheet formula
    assert table[0]["status"] == "ok" and table[0]["likelihood_of_impact"] == "High"
    assert float(table[0]["latitude"]) == pytest.approx(51.5) and table[1]["latitude"] == ""
    assert sum(float(table[0][f"p_{c}"]) for c in CLASSES) == pytest.approx(1, abs=1e-3)
    assert sum(float(table[0][f"p_rating_{r}"]) for r in ("Low", "Moderate", "High", "Extreme")) == pytest.approx(1, abs=1e-3)
    assert table[2]["status"] == "error" and "empty file" in table[2]["problem"]

    geo = json.loads(geojson_text(rows, "High", "Severe"))
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 1
    feature = geo["features"][0]
    assert feature["geometry"]["coordinates"] == pytest.approx([-0.12, 51.5])  # longitude first
    assert feature["properties"]["rating"] == rows[0].rating

    records = rows_table(rows)
    assert records[2]["Notes"].startswith("Not read: empty file") and records[2]["Class"] == ""
    assert records[2]["Photo"].startswith("data:image/jpeg") and "Not read" not in records[0]["Notes"]


def test_a_model_with_non_isa_classes_gets_no_rating_and_a_reason() -> None:
    torch.manual_seed(0)
    network = build_network("seed_cnn", 2, "grayscale", 32).eval()
    odd = Predictor(network, ["healthy", "sick"], 32, "grayscale", "seed_cnn", "all", Path("odd.ckpt"))
    rows = screen(odd, batch_items([Upload("a.jpg", jpeg())]))
    reason = apply_rating(rows, "High", "Severe")
    assert reason and "not ISA" in reason and rows[0].rating == "n/a"


def test_a_bomb_inside_a_zip_is_refused_like_a_loose_one(predictor: Predictor) -> None:
    rows = screen(predictor, batch_items([Upload("z.zip", zip_bytes({"huge.png": bomb_png()}))]))
    assert not rows[0].ok and "too many pixels" in rows[0].reason
