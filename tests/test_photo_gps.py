"""The one EXIF GPS reader: decimal degrees, south and west negative, None for anything absent or implausible."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from assess_samples import gps_jpeg, jpeg
from lightning_module.data.photo_gps import gps_position, image_gps


def test_gps_from_exif_in_decimal_degrees() -> None:
    assert gps_position(gps_jpeg(-33.865, 151.21)) == pytest.approx((-33.865, 151.21), abs=1e-4)
    assert gps_position(gps_jpeg(42.44, -76.5)) == pytest.approx((42.44, -76.5), abs=1e-4)
    assert gps_position(jpeg()) is None
    assert gps_position(gps_jpeg(0.0, 0.0)) is None  # a camera's placeholder, not a place
    assert gps_position(b"junk") is None


def test_an_opened_photo_reads_the_same_as_its_bytes() -> None:
    data = gps_jpeg(-33.865, 151.21)
    with Image.open(io.BytesIO(data)) as image:
        assert image_gps(image) == gps_position(data)
    with Image.open(io.BytesIO(jpeg())) as image:
        assert image_gps(image) is None
