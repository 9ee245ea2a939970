"""EXIF for a synthetic photo: camera, time, GPS position, upright orientation, and an honest 'synthetic' note.

The generator only writes EXIF. Reading a position back (the tests, the Assess page, batch screening) goes through
the package's one GPS reader, ``lightning_module.data.photo_gps``, so a photo written here is read like a phone's.
"""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

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


def exif_bytes(make: str, model: str, taken: datetime, latitude: float, longitude: float,
               width: int, height: int) -> bytes:
    """EXIF block for ``Image.save(..., exif=...)``: Make, Model, DateTime(Original), GPS, Orientation = 1."""
    exif = Image.Exif()
    stamp = taken.strftime("%Y:%m:%d %H:%M:%S")
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

