"""Where a photo was taken: the (latitude, longitude) in its EXIF GPS block, or None.

This is the one EXIF GPS reader of the package: the Assess page, batch screening and the synthetic generator's tests
all read positions through it (the generator only *writes* EXIF, in ``synthetic/exif.py``). Tags are looked up by
Pillow's names (``ExifTags.IFD.GPSInfo``, ``ExifTags.GPS.GPSLatitude`` …), not by raw numbers.

A photo's metadata is untrusted, so the reader never raises: a missing, damaged or implausible position is None.
Implausible means out of range, not finite, or exactly (0, 0), which cameras write as a placeholder when they have
no fix. Positions come back in decimal degrees, south and west negative, rounded to 7 decimals (about 1 cm).
"""

from __future__ import annotations

import io
import math
from typing import Any

from PIL import ExifTags, Image

_GPS = ExifTags.GPS


def _rational(value: Any) -> float:
    if isinstance(value, tuple) and len(value) == 2:  # (numerator, denominator) from older EXIF writers
        return float(value[0]) / float(value[1])
    return float(value)


def _degrees(dms: Any, ref: Any, negative: str) -> float | None:
    """(degrees, minutes, seconds) and a hemisphere letter -> signed decimal degrees, or None when unreadable."""
    try:
        parts = [_rational(v) for v in dms]
        if len(parts) != 3:
            return None
        degrees = parts[0] + parts[1] / 60.0 + parts[2] / 3600.0
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    reference = ref.decode("ascii", "ignore") if isinstance(ref, bytes) else str(ref or "")
    return -degrees if reference.strip().upper().startswith(negative) else degrees


def image_gps(image: Image.Image) -> tuple[float, float] | None:
    """(latitude, longitude) in decimal degrees from an opened photo's EXIF, or None when absent or invalid."""
    try:
        gps = image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    except Exception:  # a photo's metadata is untrusted; no location is the safe answer
        return None
    if not gps or _GPS.GPSLatitude not in gps or _GPS.GPSLongitude not in gps:
        return None
    lat = _degrees(gps.get(_GPS.GPSLatitude), gps.get(_GPS.GPSLatitudeRef), "S")
    lon = _degrees(gps.get(_GPS.GPSLongitude), gps.get(_GPS.GPSLongitudeRef), "W")
    if lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    if abs(lat) > 90 or abs(lon) > 180 or (lat == 0 and lon == 0):  # (0, 0) is a camera's placeholder, not a tree
        return None
    return round(lat, 7), round(lon, 7)


def gps_position(data: bytes) -> tuple[float, float] | None:
    """(latitude, longitude) from a photo's bytes (see :func:`image_gps`); None for anything unreadable."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image_gps(image)
    except Exception:  # not an image at all, or one Pillow refuses to open: no location
        return None
