"""Screening many photos: every file gets a row, a zip's photos are screened, one photo's assessment keeps what the
page shows, and the CSV, GeoJSON and the dashboard's table are right.

How archives are opened and refused is tested in test_archives.py, the GPS reader in test_photo_gps.py.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest
import torch

from assess_samples import bomb_png, gps_jpeg, jpeg, upload_samples, zip_bytes
from lightning_module.assessment.archives import Upload, batch_items
from lightning_module.assessment.exports import geojson_text, rows_to_csv
from lightning_module.assessment.photo_assessment import assess_photo
from lightning_module.assessment.screening import apply_rating, screen
from lightning_module.evaluation.predictor import Predictor
from lightning_module.models.networks import build_network

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the batch table's records are a dashboard part, imported as `dashboard.…`
    sys.path.insert(0, str(REPO))
from dashboard.parts.assess.table import rows_table  # noqa: E402

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


def test_assess_photo_decodes_a_phone_photo_once(predictor: Predictor, monkeypatch: pytest.MonkeyPatch) -> None:
    """The model's input and the display copy come from one decode: decoding a 12 MP JPEG is most of the page's time."""
    from PIL import ImageFile

    decoded: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def counting_load(image):
        if image.tile:  # not yet decoded: this call runs the decoder
            decoded.append(image.size)
        return load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    result = assess_photo(predictor, jpeg(2000, 1500), "tree.jpg", display_side=300)
    assert len(decoded) == 1, f"decoded {len(decoded)} times: {decoded}"
    assert decoded[0] == (500, 375), "at the 1/4 DCT scale the 300-pixel display copy needs, not in full"
    assert result.shown.size == (300, 225) and result.photo.image.size == (48, 48)
    assert result.predicted_class == CLASSES[int(predictor.predict_proba(result.photo).argmax())]


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


def test_probability_bars_show_each_share_and_escape_names() -> None:
    from dashboard.parts.assess.style import probability_bars

    bars = probability_bars({"<b>Odd</b>": 0.25, "Probable": 0.75}, {"Probable": "#c62828"}, "Class probabilities")
    assert "width:25.0%" in bars and "width:75.0%;background:#c62828" in bars
    assert ">25%<" in bars and ">75%<" in bars
    assert "<b>Odd</b>" not in bars and "&lt;b&gt;Odd&lt;/b&gt;" in bars
    assert 'aria-label="Class probabilities: &lt;b&gt;Odd&lt;/b&gt; 25%, Probable 75%"' in bars
