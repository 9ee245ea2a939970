"""Whatever a phone, a scanner or a prankster produces, every photo path answers with a photo or a clear reason.

The cases come from :mod:`lightning_module.reliability.fuzz_inputs` (truncated and byte-flipped JPEG/PNG/GIF,
zero bytes, text/HTML/SVG/EPS renamed to .jpg, decompression bombs, 1x1 and 100000x1 images, 16-bit, CMYK,
palette transparency, animated images, hostile EXIF, ...). Each goes through every path a photo takes:

- the single-photo path: ``load_square``, ``load_upright``, ``Predictor.predict_proba`` and the dashboard's
  ``assessment.photo_assessment.assess_photo`` (prediction + Grad-CAM + display copy + GPS);
- the batch path: ``assessment.screening.screen`` over loose uploads and over a zip archive;
- the dataset path: ``ingest`` and ``TreeRiskDataModule.setup`` on a folder that mixes them with good photos.

"Nothing crashes" means only ``PhotoError`` ever escapes; "nothing hangs" is enforced by a per-test timeout;
"other photos are unaffected" means a good photo gives the same pixels and probabilities in a bad batch as on its
own. Memory is measured in a fresh process (``reliability.probe``): refused bombs must cost almost nothing, and
(slow) the largest accepted photos must stay under :data:`MEMORY_BOUND_MB`.
"""

from __future__ import annotations

import io
import re
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from lightning_module.assessment.archives import Upload, batch_items
from lightning_module.assessment.photo_assessment import assess_photo
from lightning_module.assessment.screening import THUMBNAIL_SIDE, screen
from lightning_module.data.datamodule import TreeRiskDataModule
from lightning_module.data.imaging import MAX_FILE_BYTES, PhotoError, load_square, load_upright
from lightning_module.data.ingest import ingest
from lightning_module.data.sources import PhotoRecord, discover_folder
from lightning_module.evaluation.predictor import Predictor
from lightning_module.models.networks import build_network
from lightning_module.reliability.fuzz_inputs import DAMAGED, FuzzCase, base_photo, encode, flip_bytes, fuzz_cases, slow_cases
from lightning_module.reliability.probe import probe_file

CASES = fuzz_cases(seed=0)
BY_NAME = {case.name: case for case in CASES}
# The most extra memory any accepted photo may take to decode (measured peak, 100-megapixel RGBA: about 0.8 GB).
MEMORY_BOUND_MB = 1024
# What a refused decompression bomb may cost: reading its header, nothing more.
REFUSED_BOUND_MB = 64
SIZE = 32

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.filterwarnings("ignore::UserWarning:PIL"),  # Pillow warns about the broken EXIF it skips: expected
]


@pytest.fixture(scope="module")
def predictor() -> Iterator[Predictor]:
    """An untrained seed_cnn: what matters here is that every photo reaches it, or is refused, cleanly."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one 32-pixel image at a time: extra threads only contend on a shared machine
    torch.manual_seed(0)
    network = build_network("seed_cnn", 3, "grayscale", SIZE).eval()
    yield Predictor(network, ["Improbable", "Possible", "Probable"], SIZE, "grayscale", "seed_cnn", "Pr_Po_Im",
                    Path("untrained.ckpt"))
    torch.set_num_threads(threads)


def _outcome(function, *args) -> tuple[str, object]:
    """("ok", result) or ("refused", message); anything other than PhotoError propagates and fails the test."""
    try:
        return "ok", function(*args)
    except PhotoError as error:
        return "refused", str(error)


def _check_expected(case: FuzzCase, outcome: str, value: object) -> None:
    if case.expect == "ok":
        assert outcome == "ok", f"{case.what}: refused with {value!r}"
    elif case.expect == "refused":
        assert outcome == "refused", f"{case.what}: accepted, should have been refused"
    if outcome == "refused":
        message = str(value)
        assert re.search(case.reason or DAMAGED, message, re.IGNORECASE), f"{case.what}: unclear reason {message!r}"
        assert message and "\n" not in message and len(message) < 300, "a reason is one short line"


def _standalone(case_data: bytes) -> tuple[str, object]:
    return _outcome(lambda data: load_square(data, SIZE, "grayscale").as_array(), case_data)


# ------------------------------------------------------------------------------------------------ one photo
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_single_photo_paths(case: FuzzCase, predictor: Predictor) -> None:
    for mode in ("grayscale", "rgb"):
        outcome, value = _outcome(load_square, case.data, SIZE, mode)
        _check_expected(case, outcome, value)
        if outcome == "ok":
            array = value.as_array()
            assert array.dtype == np.uint8 and array.shape == ((SIZE, SIZE) if mode == "grayscale" else (SIZE, SIZE, 3))
            if case.note:
                assert any(re.search(case.note, n) for n in value.notes), f"{case.what}: expected a note {case.note!r}"
    square_outcome = outcome

    outcome, value = _outcome(load_upright, case.data, 200)
    if case.expect != "either":
        _check_expected(case, outcome, value)
    if outcome == "ok":
        assert value.mode == "RGB" and max(value.size) <= 200 and min(value.size) >= 1

    outcome, value = _outcome(predictor.predict_proba, case.data)
    assert outcome == square_outcome, "the model sees a photo exactly when load_square does"
    if outcome == "ok":
        assert value.shape == (3,) and np.isfinite(value).all() and value.sum() == pytest.approx(1, abs=1e-5)


@pytest.mark.parametrize("case", [c for c in CASES if c.expect != "ok" or c.name in ("jpeg", "png", "gray16-png", "cmyk-jpeg",
                                                                                    "animated-gif", "exif-ifd-loop")],
                         ids=lambda c: c.name)
def test_dashboard_assessment_of_one_upload(case: FuzzCase, predictor: Predictor) -> None:
    """What the Assess page runs on an upload: prediction, Grad-CAM, display copy and GPS, or one clear reason."""
    expected, standalone = _standalone(case.data)
    outcome, value = _outcome(assess_photo, predictor, case.data, case.file_name)
    if expected == "refused":
        assert outcome == "refused" and value == standalone, "the page shows the same reason load_square gives"
        return
    if outcome == "refused":  # the full-size display copy may fail where the model's reduced decode did not
        assert case.expect == "either" and re.search(DAMAGED, value, re.IGNORECASE)
        return
    # The page decodes once for its display copy and model input (imaging.load_views): its model input is cut from
    # as many pixels as load_square's or more, so it may differ from it by a fraction of a grey level.
    assert np.allclose(value.probabilities, predictor.predict_proba(value.photo), atol=1e-6)
    if case.expect == "ok":  # a damaged file's garbage spreads differently at another scale
        assert np.abs(value.photo.as_array().astype(float) - predictor.prepare(case.data).as_array()).mean() <= 1.0
    assert value.explanation is not None and value.explanation.heatmap.shape == (SIZE, SIZE)
    assert value.shown.mode == "RGB"


# ------------------------------------------------------------------------------------------------ batches
def _good_photos() -> list[tuple[str, bytes]]:
    return [(f"good_{i}.jpg", encode(base_photo(200, 150, seed=100 + i), "JPEG")) for i in range(3)]


def _expected_row(data: bytes) -> tuple[str, object]:
    return _outcome(lambda d: load_square(d, SIZE, "grayscale"), data)


def test_batch_screening_keeps_every_good_photo_and_explains_every_bad_one(predictor: Predictor) -> None:
    good = _good_photos()
    uploads = [Upload(name, data) for name, data in good[:1]]
    uploads += [Upload(case.file_name, case.data) for case in CASES]
    uploads += [Upload(name, data) for name, data in good[1:]]
    rows = screen(predictor, batch_items(uploads))
    assert len(rows) == len(uploads), "one row per file, good or bad"
    for upload, row in zip(uploads, rows):
        expected, value = _expected_row(upload.data)
        if expected == "refused":
            assert not row.ok and row.reason == value, upload.name
        elif not row.ok:  # the display copy may fail on random damage the model's decode survived
            assert upload.name.startswith(("jpeg-flip", "png-flip", "gif-flip")), (upload.name, row.reason)
        else:
            photo, _ = predictor.prepare_views(upload.data, THUMBNAIL_SIDE)  # screening's one decode, done alone
            probabilities = predictor.predict_proba(photo)
            assert np.allclose([row.probabilities[c] for c in predictor.classes], probabilities, atol=1e-6), upload.name
    for name, _ in good:
        assert next(r for r in rows if r.name == name).ok, f"{name} must not be affected by its neighbours"


def test_the_same_files_in_a_zip_archive(predictor: Predictor) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in _good_photos():
            archive.writestr(f"trees/{name}", data)
        for case in CASES:
            archive.writestr(f"trees/{case.file_name}", case.data)
    rows = screen(predictor, batch_items([Upload("survey.zip", buffer.getvalue())]))
    by_name = {row.name.rsplit("/", 1)[-1]: row for row in rows}
    for name, data in _good_photos():
        assert by_name[name].ok
    for case in CASES:
        row = by_name.get(case.file_name)
        if case.suffix == ".svg":  # not a photo type: skipped by name, before it is read
            assert row is not None and not row.ok and "not a photo type" in row.reason
            continue
        expected, value = _expected_row(case.data)
        assert row is not None, case.file_name
        if expected == "refused":
            assert not row.ok and row.reason == value, case.name


# ------------------------------------------------------------------------------------------------ datasets
@pytest.fixture(scope="module")
def mixed_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three class folders of good photos, with every fuzz case spread among them."""
    root = tmp_path_factory.mktemp("mixed")
    classes = ("Improbable", "Possible", "Probable")
    for k, name in enumerate(classes):
        for i in range(6):
            (root / name).mkdir(parents=True, exist_ok=True)
            (root / name / f"good_{i}.jpg").write_bytes(encode(base_photo(160, 120, seed=10 * k + i), "JPEG", quality=90))
    for index, case in enumerate(CASES):
        (root / classes[index % 3] / case.file_name).write_bytes(case.data)
    return root


def test_ingest_skips_bad_files_with_their_reason_and_keeps_the_rest(mixed_dataset: Path, tmp_path: Path) -> None:
    records, ignored = discover_folder(mixed_dataset)
    assert [i.path.name for i in ignored] == ["svg.svg"], "an .svg is not a photo type: listed as ignored"
    result = ingest(records, SIZE, "grayscale", cache_dir=tmp_path / "cache", workers=2)
    kept = {r.path: array for r, array in zip(result.records, result.images)}
    skipped = {s.path: s.reason for s in result.skipped}
    assert len(kept) + len(skipped) == len(records)
    for record in records:
        expected, value = _standalone(record.path.read_bytes())
        if expected == "ok":
            assert np.array_equal(kept[record.path], value), f"{record.path.name} decoded differently in a batch"
        else:
            assert skipped[record.path] == value
    assert sum(path.name.startswith("good_") for path in kept) == 18, "every good photo is kept"

    again = ingest(records, SIZE, "grayscale", cache_dir=tmp_path / "cache", workers=2)
    assert again.cache_hits == len(kept) and [s.reason for s in again.skipped] == [s.reason for s in result.skipped]


def test_training_data_setup_reports_every_skipped_file(mixed_dataset: Path, tmp_path: Path) -> None:
    data = TreeRiskDataModule(str(mixed_dataset), image_size=SIZE, batch_size=4, cache_dir=str(tmp_path / "cache"))
    data.setup("fit")
    report = data.data_report
    assert report is not None
    reasons = {Path(s["path"]).name: s["reason"] for s in report.skipped}
    for case in CASES:
        if case.expect == "refused" and case.suffix != ".svg":
            assert reasons.get(case.file_name), f"{case.file_name} should be listed as skipped with its reason"
    assert sum(len(s) for s in (data.train_set, data.val_set, data.test_set or [])) == sum(report.used_per_class.values())


def test_a_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    huge = tmp_path / "Probable" / "scan.tif"
    huge.parent.mkdir()
    with huge.open("wb") as handle:  # sparse: takes no disk, and no memory unless someone reads it
        handle.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(PhotoError, match="file too large"):
        load_square(huge, SIZE)
    result = ingest([PhotoRecord(huge, "Probable", "scan")], SIZE, cache_dir=None)
    assert [s.reason for s in result.skipped] == [f"file too large ({(MAX_FILE_BYTES + 1) / 2**20:,.0f} MB; photos over "
                                                  f"{MAX_FILE_BYTES // 2**20} MB are not read)"]


# ------------------------------------------------------------------------------------------------ memory
@pytest.mark.parametrize("name", ["bomb-png", "bomb-png-rgba", "bomb-jpeg-sof"])
def test_refused_bombs_cost_almost_no_memory(name: str, tmp_path: Path) -> None:
    path = tmp_path / BY_NAME[name].file_name
    path.write_bytes(BY_NAME[name].data)
    result = probe_file(path, limit_mb=512)
    assert result.outcome == "refused" and "too many pixels" in result.message
    assert result.peak_mb < REFUSED_BOUND_MB


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", ["photo-50mb", "limit-gray16", "limit-rgba", "limit-rgb", "limit-jpeg", "limit-bilevel"])
def test_largest_accepted_photos_stay_under_the_memory_bound(name: str, tmp_path: Path) -> None:
    case = next(slow_cases([name]))
    path = tmp_path / case.file_name
    path.write_bytes(case.data)
    for way in ("square", "upright"):
        # The address-space cap makes a regression fail here with MemoryError instead of exhausting the machine.
        result = probe_file(path, way, limit_mb=MEMORY_BOUND_MB * 2, timeout=300)
        assert result.outcome == "ok", result
        assert result.peak_mb < MEMORY_BOUND_MB, f"{case.what} via {way}: {result.peak_mb} MB"


# ------------------------------------------------------------------------------------------------ many seeds
@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "TIFF", "WEBP", "BMP"])
def test_seeded_random_byte_flips_never_crash(fmt: str) -> None:
    """1000 damaged copies per format: each decodes or is refused with a reason; the untouched copy still decodes."""
    original = encode(base_photo(200, 150, seed=3), fmt)
    refused = 0
    for seed in range(1000):
        damaged = flip_bytes(original, seed=seed, skip=0 if seed % 2 else 8)
        outcome, value = _outcome(load_square, damaged, SIZE, "rgb")
        if outcome == "refused":
            refused += 1
            assert re.search(DAMAGED + r"|not a photo|too (small|many)", value, re.IGNORECASE), value
        _outcome(load_upright, damaged, 200)
    assert load_square(original, SIZE).as_array().shape == (SIZE, SIZE)
    print(f"{fmt}: {refused}/1000 damaged copies refused, the rest decoded")


# ------------------------------------------------------------------------------------------------ the Assess page
REPO = Path(__file__).resolve().parents[1]
ASSESS_PAGE = REPO / "dashboard" / "views" / "assess.py"
if str(REPO) not in sys.path:  # the page's helpers import as `dashboard.…`
    sys.path.insert(0, str(REPO))
# A spread of cases for the fast run; the slow run uploads every case.
PAGE_SAMPLE = ("jpeg", "empty", "html", "svg", "eps", "jpeg-half", "bomb-png-rgba", "wide-100000x1", "gray16-png",
               "palette-transparent", "animated-gif", "exif-gps-self-pointer", "png-flip-0-0", "heic-half")


@pytest.fixture()
def assess_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The Assess page (headless) with one finished run whose checkpoint is an untrained seed_cnn."""
    from streamlit.testing.v1 import AppTest

    torch.manual_seed(0)
    network = build_network("seed_cnn", 3, "grayscale", SIZE)
    run = tmp_path / "runs" / "fuzz" / "version_0"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"state_dict": {f"network.{k}": v for k, v in network.state_dict().items()},
                "hyper_parameters": {"class_names": ["Improbable", "Possible", "Probable"], "backbone": "seed_cnn",
                                     "image_size": SIZE, "color_mode": "grayscale", "scenario": "Pr_Po_Im"}},
               run / "checkpoints" / "best.ckpt")
    (run / "run.json").write_text('{"status": "finished", "backbone": "seed_cnn"}')
    monkeypatch.setenv("TREERISK_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(str(ASSESS_PAGE), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    model = at.selectbox(key="assess_model")
    model.select_index(next(i for i, label in enumerate(model.options) if label.startswith("Run fuzz/version_0")))
    at.run()
    return at


def _uploadable(cases: list[FuzzCase]) -> list[FuzzCase]:
    """Cases whose file name the uploader accepts (it refuses other extensions, e.g. .svg, before anything is read)."""
    from dashboard.parts.assess.style import PHOTO_TYPES

    return [case for case in cases if case.suffix.lstrip(".") in PHOTO_TYPES]


def _upload_each(at, cases: list[FuzzCase]) -> None:
    for case in _uploadable(cases):
        at.file_uploader(key="assess_upload").set_value((case.file_name, case.data, "application/octet-stream"))
        at.run()
        assert not at.exception, (case.name, at.exception)
        errors = " ".join(e.value for e in at.error)
        expected, reason = _standalone(case.data)
        if expected == "refused":
            assert case.file_name in errors and reason in errors, (case.name, errors)
            assert not at.download_button, "no report for a photo that was not assessed"
        elif errors:  # only random damage may decode for the model yet fail for the full-size display copy
            assert case.expect == "either", (case.name, errors)
        else:
            assert any(s.value == case.file_name for s in at.subheader), case.name


def test_assess_page_answers_each_upload_with_a_result_or_its_reason(assess_page) -> None:
    _upload_each(assess_page, [BY_NAME[name] for name in PAGE_SAMPLE if name in BY_NAME])


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_assess_page_with_every_fuzz_case(assess_page) -> None:
    _upload_each(assess_page, CASES)


def test_assess_page_batch_of_every_case_gives_one_row_each(assess_page) -> None:
    good = _good_photos()
    files = [(case.file_name, case.data, "application/octet-stream") for case in _uploadable(CASES)]
    files += [(name, data, "image/jpeg") for name, data in good]
    assess_page.file_uploader(key="assess_batch_upload").set_value(files)
    assess_page.run()
    assert not assess_page.exception, assess_page.exception
    frame = assess_page.dataframe[0].value
    assert list(frame["File"]) == [name for name, _, _ in files], "every file gets its row, in upload order"
    by_name = frame.set_index("File")
    for name, _ in good:
        assert by_name.loc[name, "Class"] in ("Improbable", "Possible", "Probable")
    for case in _uploadable(CASES):
        expected, _ = _standalone(case.data)
        if expected == "refused":
            assert by_name.loc[case.file_name, "Class"] is None or str(by_name.loc[case.file_name, "Class"]) in ("", "None", "nan")
