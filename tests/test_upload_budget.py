"""Hostile uploads cannot starve others: a dashboard upload has a pixel budget, enforced from the header alone.

``imaging.UPLOAD_MAX_PIXELS`` (40 MP) applies to every photo the Assess page and batch screening take in
(``assessment.photo_assessment.assess_photo``); training ingest keeps the 100 MP ``MAX_PIXELS``. A small file whose
header claims 100 MP must be refused with a clear message and without the memory its pixels would take. Memory is
measured, not time: the peak resident set of a fresh process, reset just before the upload is handled.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from lightning_module.assessment.photo_assessment import assess_photo
from lightning_module.data.imaging import MAX_PIXELS, UPLOAD_MAX_PIXELS, PhotoError, open_photo
from lightning_module.evaluation.predictor import Predictor
from lightning_module.models.networks import build_network
from lightning_module.reliability.fuzz_inputs import _patched_jpeg_size, flat_png

REPO = Path(__file__).resolve().parents[1]
CLASSES = ["Improbable", "Possible", "Probable"]


def small_jpeg(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 60)).save(buffer, "JPEG")
    return buffer.getvalue()


def forged_jpeg(width: int, height: int) -> bytes:
    """A few-hundred-byte JPEG whose frame header claims ``width`` x ``height``."""
    return _patched_jpeg_size(small_jpeg(), width, height)


def predictor() -> Predictor:
    network = build_network("seed_cnn", len(CLASSES), "grayscale", 32).eval()
    return Predictor(network, CLASSES, 32, "grayscale", "seed_cnn", "Pr_Po_Im", Path("test.ckpt"))


def test_the_upload_budget_is_its_own_and_below_the_ingest_limit() -> None:
    assert UPLOAD_MAX_PIXELS == 40_000_000 < MAX_PIXELS


@pytest.mark.parametrize("data", [forged_jpeg(10_000, 10_000), flat_png(10_000, 10_000, 2)],
                         ids=["jpeg-header-claims-100MP", "flat-100MP-png"])
def test_an_upload_over_the_budget_is_refused_from_its_header(data: bytes) -> None:
    assert open_photo(data).size == (10_000, 10_000)  # within the ingest limit: only the upload budget refuses it
    with pytest.raises(PhotoError) as refused:
        open_photo(data, UPLOAD_MAX_PIXELS)
    message = str(refused.value)
    assert message.startswith("too many pixels: 10000x10000 (100 MP) is over the 40 megapixel limit for uploads")
    assert "save a smaller copy and upload that" in message
    with pytest.raises(PhotoError, match="40 megapixel limit for uploads"):
        assess_photo(predictor(), data, "hostile.jpg")


def test_an_upload_within_the_budget_is_assessed() -> None:
    assert open_photo(forged_jpeg(6_000, 6_000), UPLOAD_MAX_PIXELS).size == (6_000, 6_000)  # 36 MP: the header alone passes
    result = assess_photo(predictor(), small_jpeg(640, 480), "tree.jpg")
    assert result.predicted_class in CLASSES


# Handles one upload in a fresh interpreter (torch and the model already loaded) and prints the growth of its peak
# resident set over that, in MB: the kernel's high-water mark is reset just before.
MEASURE = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from test_upload_budget import predictor
from lightning_module.assessment.photo_assessment import assess_photo
from lightning_module.data.imaging import PhotoError

def status_mb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024

data = Path(sys.argv[1]).read_bytes()
model = predictor()
Path("/proc/self/clear_refs").write_text("5")
before = status_mb("VmRSS")
try:
    assess_photo(model, data, "hostile")
    outcome = "accepted"
except PhotoError as error:
    outcome = str(error)
print(json.dumps({"outcome": outcome, "peak_growth_mb": status_mb("VmHWM") - before}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's resettable peak memory")
@pytest.mark.parametrize("data", [forged_jpeg(10_000, 10_000), flat_png(10_000, 10_000, 2)],
                         ids=["jpeg-header-claims-100MP", "flat-100MP-png"])
def test_refusing_a_forged_100_megapixel_upload_takes_no_memory_to_speak_of(tmp_path: Path, data: bytes) -> None:
    upload = tmp_path / "hostile"
    upload.write_bytes(data)
    done = subprocess.run([sys.executable, "-c", MEASURE, str(upload), str(Path(__file__).parent)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "40 megapixel limit for uploads" in result["outcome"]
    # Decoding it would take 100 MB (grey) to 300 MB (RGB); refusing it from the header takes almost nothing.
    assert result["peak_growth_mb"] < 10
