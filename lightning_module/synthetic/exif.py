"""EXIF for a synthetic photo: camera, time, GPS position, upright orientation, and an honest 'synthetic' note.

The generator only writes EXIF. Reading a position back (the tests, the Assess page, batch screening) goes through
the package's one GPS reader, ``lightning_module.data.photo_gps``, so a photo written here is read like a phone's.
"""

from __future__ import annotations

import struct
from datetime import datetime
from fractions import Fraction
from functools import lru_cache

from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

SOFTWARE = "TreeRisk synthetic generator"
DESCRIPTION = "Synthetic roadside-tree scene (procedurally generated, not a real photo)"


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    """Decimal degrees -> (degrees, minutes, seconds) as EXIF rationals (seconds to 1/100)."""
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600 * 100)
    return IFDRational(degrees, 1), IFDRational(minutes, 1), IFDRational(Fraction(seconds, 100))


# Placeholders for the per-photo fields of a cached template: a time and a position whose encodings occur nowhere
# else in the block, so they can be found and overwritten.
_TEMPLATE_TAKEN = datetime(1999, 12, 31, 23, 59, 58)
_TEMPLATE_DEGREES = 89 + 58 / 60 + 57.25 / 3600
_STAMP = "%Y:%m:%d %H:%M:%S"


def exif_bytes(make: str, model: str, taken: datetime, latitude: float, longitude: float,
               width: int, height: int) -> bytes:
    """EXIF block for ``Image.save(..., exif=...)``: Make, Model, DateTime(Original), GPS, Orientation = 1.

    Byte for byte what Pillow's ``Image.Exif().tobytes()`` writes for these values (:func:`_exif_bytes_pillow`),
    made faster: Pillow's writer costs as much as drawing a third of the scene, so the block is built once per
    camera, size and hemisphere and only the time and the position, whose encodings have a fixed length, are
    written into a copy of it.
    """
    stamp = taken.strftime(_STAMP).encode("ascii")
    if len(stamp) != len(_TEMPLATE_TAKEN.strftime(_STAMP)):  # a year before 1000: let Pillow lay it out
        return _exif_bytes_pillow(make, model, taken, latitude, longitude, width, height)
    template, stamp_at, position_at = _template(make, model, width, height, latitude >= 0, longitude >= 0)
    block = bytearray(template)
    for at in stamp_at:
        block[at:at + len(stamp)] = stamp
    for at, value in zip(position_at, (latitude, longitude)):
        packed = _packed_dms(value, template)
        block[at:at + len(packed)] = packed
    return bytes(block)


@lru_cache(maxsize=64)
def _template(make: str, model: str, width: int, height: int, north: bool,
              east: bool) -> tuple[bytes, tuple[int, ...], tuple[int, int]]:
    """Pillow's block for placeholder values, where the time stamps start, and where latitude and longitude start."""
    latitude = _TEMPLATE_DEGREES if north else -_TEMPLATE_DEGREES
    longitude = _TEMPLATE_DEGREES / 2 if east else -_TEMPLATE_DEGREES / 2
    template = _exif_bytes_pillow(make, model, _TEMPLATE_TAKEN, latitude, longitude, width, height)
    stamp = _TEMPLATE_TAKEN.strftime(_STAMP).encode("ascii")
    stamp_at = tuple(i for i in range(len(template)) if template.startswith(stamp, i))
    position_at = []
    for value in (latitude, longitude):
        packed = _packed_dms(value, template)
        position_at.append(template.find(packed))
        if position_at[-1] < 0 or template.count(packed) != 1:
            raise RuntimeError("cannot find the GPS position in Pillow's EXIF block (Pillow's layout changed?)")
    if len(stamp_at) != 2:
        raise RuntimeError("cannot find the time stamps in Pillow's EXIF block (Pillow's layout changed?)")
    return template, stamp_at, (position_at[0], position_at[1])


def _packed_dms(value: float, template: bytes) -> bytes:
    """The three GPS rationals of ``value`` as Pillow writes them (each reduced; in the block's byte order)."""
    order = "<" if template[6:8] == b"II" else ">"  # after b"Exif\0\0": the TIFF header's byte-order mark
    return b"".join(struct.pack(f"{order}2L", part.numerator, part.denominator)
                    for part in (Fraction(r.numerator, r.denominator) for r in _dms(value)))


def _exif_bytes_pillow(make: str, model: str, taken: datetime, latitude: float, longitude: float,
                       width: int, height: int) -> bytes:
    """The EXIF block as Pillow builds it: the reference :func:`exif_bytes` must match."""
    exif = Image.Exif()
    stamp = taken.strftime(_STAMP)
    exif[ExifTags.Base.Make] = make
    exif[ExifTags.Base.Model] = model
    exif[ExifTags.Base.DateTime] = stamp
    exif[ExifTags.Base.Orientation] = 1
    exif[ExifTags.Base.Software] = SOFTWARE
    exif[ExifTags.Base.ImageDescription] = DESCRIPTION
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[ExifTags.Base.DateTimeOriginal] = stamp
    details[ExifTags.Base.ExifImageWidth] = width
    details[ExifTags.Base.ExifImageHeight] = height
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSVersionID] = b"\x02\x03\x00\x00"
    gps[ExifTags.GPS.GPSLatitudeRef] = "N" if latitude >= 0 else "S"
    gps[ExifTags.GPS.GPSLatitude] = _dms(latitude)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E" if longitude >= 0 else "W"
    gps[ExifTags.GPS.GPSLongitude] = _dms(longitude)
    return exif.tobytes()

