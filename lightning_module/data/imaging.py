"""Photo decoding and the lab's preprocessing: EXIF orientation, centre square, bicubic resize, colour mode.

One preparation, :func:`load_square`, serves training ingest and the dashboard alike, so a photo is seen the same
way by both; :func:`load_views` gives the dashboard the same model input and its display copy from one decode.
It never trusts the file: every failure becomes a :class:`PhotoError` whose message says what is wrong in a
user's words. It imports no torch so it stays cheap in worker threads.
"""

from __future__ import annotations

import functools
import importlib
import io
import warnings
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from lightning_module.threads import process_pool

try:  # the C extension built by `pip install -e .`: a phone photo's 1/8-scale grey picture in 0.6x the time
    from lightning_module.data._jpeg_dc import luma_dc_picture
except ImportError:  # pragma: no cover - no C compiler when installed: Pillow decodes every photo, as before
    luma_dc_picture = None

try:  # HEIC/HEIF from phones, when the optional package is present.
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIC_SUPPORTED = True
except ImportError:  # pragma: no cover - depends on the environment
    HEIC_SUPPORTED = False

ColorMode = Literal["grayscale", "rgb"]
PhotoSource = str | Path | bytes | BinaryIO

# Anything above this is refused before decoding: a 48 MP phone photo is well under it; a decompression bomb is not.
MAX_PIXELS = 100_000_000
# A photo uploaded to the dashboard has a budget of its own, checked from its header before anything is decoded
# (``load_views(..., max_pixels=UPLOAD_MAX_PIXELS)``, through ``open_photo``): many people share one
# dashboard server, and one of them uploading 100-megapixel files in a loop must not starve the others. Phones save
# 12 MP by default (up to 50 MP in full-resolution modes: such a photo is refused, with the advice to save a smaller
# copy). Training ingest keeps MAX_PIXELS.
UPLOAD_MAX_PIXELS = 40_000_000
# Files larger than this are refused unread: the largest real photos (uncompressed 100 MP TIFF) are under it,
# and reading a multi-gigabyte file whole into memory, once per decoding thread, could exhaust the machine.
MAX_FILE_BYTES = 512 * 1024 * 1024
# A photo whose short side is smaller than this cannot show a tree's defects at any model size.
MIN_SIDE = 32
# JPEG data is handed to the decoder this many bytes at a time (Pillow's default is 64 kB). Fed a 3 MB phone photo
# in one piece rather than 46, a reduced-scale decode takes 3 % less time: libjpeg-turbo suspends at the end of every
# piece and takes its fast Huffman path only while plenty of data is buffered.
JPEG_READ_BLOCK = 4 * 1024 * 1024
SUPPORTED_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic", ".heif")
# The only decoders an untrusted file may reach. Pillow can also open EPS (by running Ghostscript, an external
# program) and formats without a signature such as TGA, which make arbitrary junk look like a picture.
PHOTO_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF", "GIF", "HEIF", "AVIF")

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated photo is an error, never silently grey
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


# EXIF orientation tag -> the transpose that makes the stored pixels upright (as ImageOps.exif_transpose does).
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class PhotoError(ValueError):
    """A file that cannot be used as a photo; ``str(error)`` is the reason, ready to show a user."""


@dataclass
class PreparedPhoto:
    """A photo as the model sees it, and how it was derived from the original."""

    image: Image.Image  # size x size, mode "L" or "RGB", upright
    original_size: tuple[int, int]  # (width, height) after EXIF orientation
    crop_box: tuple[int, int, int, int]  # centre square in upright original coordinates (left, top, right, bottom)
    notes: list[str] = field(default_factory=list)  # harmless oddities worth telling the user

    def as_array(self) -> np.ndarray:
        """uint8 array, (H, W) for grayscale or (H, W, 3) for colour."""
        return np.asarray(self.image)


def centre_square_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The largest centred square: 3024x3024 out of a 3024x4032 phone photo."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def open_photo(source: PhotoSource, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open ``source`` lazily (header only) and check it is a photo we may decode.

    Raises :class:`PhotoError` for empty, unreadable, non-image, vector, tiny files and ones with more than
    ``max_pixels`` pixels (at most :data:`MAX_PIXELS`), all told from the header: no pixel is decoded here.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise PhotoError(f"file not found: {path}")
        if path.is_dir():
            raise PhotoError(f"is a folder, not a photo: {path}")
        check_file_size(path.stat().st_size)
        stream: BinaryIO = path.open("rb")
        head = stream.read(512)
        stream.seek(0)
    else:
        data = source if isinstance(source, bytes) else source.read(MAX_FILE_BYTES + 1)
        check_file_size(len(data))
        head = data[:512]
        stream = io.BytesIO(data)
    if _looks_like_markup(head):
        stream.close()
        raise PhotoError("not a photo: the file holds text or SVG/HTML markup; export the photo as JPEG or PNG")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(stream, formats=_photo_formats())
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        stream.close()
        raise PhotoError(f"too many pixels: more than the {MAX_PIXELS // 1_000_000} megapixel safety limit") from None
    except UnidentifiedImageError:
        stream.close()
        raise PhotoError("not an image format TreeRisk can read (use JPEG, PNG, WebP or HEIC)") from None
    except OSError as error:
        stream.close()
        raise PhotoError(f"unreadable image file ({error})") from None
    except Exception as error:  # a damaged header can make a plugin raise anything (ValueError, struct.error, ...)
        stream.close()
        raise PhotoError(f"unreadable image file ({type(error).__name__}: {error})") from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        image.close()
        raise PhotoError(f"too many pixels: {width}x{height} is over the {MAX_PIXELS // 1_000_000} megapixel safety limit")
    if width * height > max_pixels:
        image.close()
        raise PhotoError(f"too many pixels: {width}x{height} ({width * height / 1e6:.0f} MP) is over the "
                         f"{max_pixels // 1_000_000} megapixel limit for uploads; save a smaller copy and upload that")
    if min(width, height) < MIN_SIDE:
        image.close()
        raise PhotoError(f"too small: {width}x{height} pixels; a photo needs at least {MIN_SIDE} pixels on its short side")
    return image


def check_file_size(size: int) -> None:
    """Raise :class:`PhotoError` for an empty file or one over :data:`MAX_FILE_BYTES`."""
    if size == 0:
        raise PhotoError("empty file (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise PhotoError(f"file too large ({size / 2**20:,.0f} MB; photos over {MAX_FILE_BYTES // 2**20} MB are not read)")


# The Pillow plugins behind PHOTO_FORMATS (HEIF registers itself above). Image.init() would import all of
# Pillow's ~50 plugins: 40 ms on the first photo each process reads, 2.5 ms a photo in a 16-photo ingest.
_PHOTO_PLUGINS = ("JpegImagePlugin", "MpoImagePlugin", "PngImagePlugin", "WebPImagePlugin", "BmpImagePlugin",
                  "TiffImagePlugin", "GifImagePlugin", "AvifImagePlugin")


@functools.cache
def _photo_formats() -> tuple[str, ...]:
    """The formats of :data:`PHOTO_FORMATS` this Pillow can open (Image.open raises for one it does not know)."""
    for plugin in _PHOTO_PLUGINS:
        try:
            importlib.import_module(f"PIL.{plugin}")
        except ImportError:  # a codec this Pillow was built without: its format is left out below
            pass
    return tuple(name for name in PHOTO_FORMATS if name in Image.OPEN)


def _looks_like_markup(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<?xml", b"<svg", b"<!doctype", b"<html", b"<"))


def load_square(source: PhotoSource, size: int, color_mode: ColorMode = "grayscale") -> PreparedPhoto:
    """Decode ``source`` the way the lab prepared its photos, at ``size`` x ``size`` pixels.

    EXIF orientation is applied, the centre square is cropped and resized with bicubic filtering. JPEGs are
    decoded at a reduced DCT scale that still leaves at least twice the target resolution, which is several
    times faster than a full decode and differs from it by well under one grey level on average.
    """
    _check_sizes(size, None)
    image = open_photo(source, MAX_PIXELS)
    try:
        photo = _decode(image, size, color_mode, None)
    except PhotoError:
        raise
    except Exception as error:  # noqa: BLE001 - whatever a hostile file makes a decoder raise, it is a bad file
        raise PhotoError(_decode_failure(error)) from None
    finally:
        image.close()
    return photo


def load_views(
    source: PhotoSource,
    size: int,
    color_mode: ColorMode = "grayscale",
    display_side: int = 1600,
    max_pixels: int = MAX_PIXELS,
) -> tuple[PreparedPhoto, Image.Image]:
    """The model's input (as :func:`load_square`) and the upright display copy (as :func:`load_upright`) from
    one decode of ``source``: what the Assess page and batch screening need for every photo.

    A JPEG is decoded once, at the reduced DCT scale that serves the larger of the two needs (usually the display
    copy's). The model's input is then cut from more pixels than ``load_square`` decodes, so it is a closer
    approximation of a full decode, not a different picture: on phone photos the two differ by a fraction of a
    grey level on average (``tests/test_imaging.py``). ``max_pixels`` is the pixel budget told from the header.
    """
    photo, shown = load_views_overlapped(source, size, color_mode, display_side, max_pixels)
    return photo, shown.result()


def load_views_overlapped(
    source: PhotoSource,
    size: int,
    color_mode: ColorMode = "grayscale",
    display_side: int = 1600,
    max_pixels: int = MAX_PIXELS,
) -> tuple[PreparedPhoto, Future[Image.Image]]:
    """As :func:`load_views`, but the display copy is still being made when this returns (its resize runs in a
    thread of its own, Pillow releasing the GIL): a caller can run the model meanwhile, on the other core. The copy
    starts as soon as the photo is decoded, so it runs beside the cutting of the model's square and the caller's
    first forward pass. ``result()`` gives the copy (or raises :class:`PhotoError`); the photo's file is closed
    once both are made."""
    _check_sizes(size, display_side)
    image = open_photo(source, max_pixels)
    started: list[Future[Image.Image]] = []

    def start_display_copy(whole: Image.Image, orientation: int) -> None:
        # Before the model's square is cut: the copy then runs beside that and the caller's first forward pass,
        # not beside the explanation, whose halves already keep both cores busy.
        started.append(process_pool("display-copy").submit(_display_copy_checked, whole, display_side, orientation))

    try:
        photo = _decode(image, size, color_mode, display_side, start_display_copy)
    except PhotoError:
        raise
    except Exception as error:  # noqa: BLE001 - as in load_square
        raise PhotoError(_decode_failure(error)) from None
    finally:
        _close_when_done(image, started)
    return photo, started[0]


def _close_when_done(image: Image.Image, started: list[Future[Image.Image]]) -> None:
    """Close ``image`` once the display copy started from its pixels (if any) is made: it may be reading them."""
    if started:
        started[0].add_done_callback(lambda _: image.close())
    else:
        image.close()


def _display_copy_checked(whole: Image.Image, max_side: int, orientation: int) -> Image.Image:
    try:
        return _display_copy(whole, max_side, orientation)
    except Exception as error:  # noqa: BLE001 - as in load_square: a failure on a hostile file is a bad file
        raise PhotoError(_decode_failure(error)) from None


def _check_sizes(size: int, display_side: int | None) -> None:
    if size < 8:
        raise ValueError(f"image size must be at least 8 pixels, got {size}")
    if display_side is not None and display_side < 1:
        raise ValueError(f"display side must be at least 1 pixel, got {display_side}")


def _decode_failure(error: Exception) -> str:
    if isinstance(error, MemoryError):
        return "too large to decode in the memory available"
    if isinstance(error, Image.DecompressionBombError):
        return f"too many pixels: more than the {MAX_PIXELS // 1_000_000} megapixel safety limit"
    message = " ".join(str(error).split())  # one line, whatever the decoder wrote
    if "truncated" in message or isinstance(error, EOFError):
        return "truncated or incomplete image data (the file was cut short)"
    return f"corrupt image data ({message or type(error).__name__})"


def _decode(image: Image.Image, size: int, color_mode: ColorMode, display_side: int | None,
            on_whole: Callable[[Image.Image, int], None] | None = None) -> PreparedPhoto:
    """Decode ``image`` once into the model's square. When ``display_side`` is given, the decode also serves the
    display copy: ``on_whole(whole, orientation)`` gets the whole 8-bit picture (not yet upright) and the EXIF
    orientation as soon as they are known, before the square is cut from it."""
    notes: list[str] = []
    if getattr(image, "is_animated", False):
        if not _is_jpeg(image):  # an MPO's other pictures are a preview or a depth map, not frames of a film
            notes.append(f"animated image with {image.n_frames} frames: the first frame was used")
        image.seek(0)
    stored_w, stored_h = image.size

    if _is_jpeg(image):
        # Keep at least 2x the target on the short side so the bicubic resize still does the final filtering.
        scale_to = max(1, min(stored_w, stored_h) // (2 * size))
        if display_side is not None:  # and at least the display side on both sides (what draft() gives load_upright)
            scale_to = min(scale_to, max(1, min(stored_w, stored_h) // display_side))
        # Decoding straight to grey skips the chroma planes: faster, and the same luma a later convert("L") gives.
        grey = color_mode == "grayscale" and display_side is None and image.mode in ("L", "RGB")
        wanted = "L" if grey else image.mode
        image.draft(wanted if wanted in ("L", "RGB") else None, (stored_w // scale_to, stored_h // scale_to))
        image.decodermaxblock = JPEG_READ_BLOCK
    pixels = _luma_dc_picture(image, stored_w, stored_h)
    if pixels is None:
        pixels = image
        image.load()
    # Read EXIF only after the pixels: for PNG, getexif() itself decodes the image, and a decode error swallowed
    # there would leave a half-decoded image that a second load() accepts silently.
    orientation = _exif_orientation(image)
    upright_size = (stored_h, stored_w) if orientation in (5, 6, 7, 8) else (stored_w, stored_h)
    if display_side is None:
        square = _to_8bit(pixels, notes, centre_square_box(*pixels.size))
    else:
        whole = _to_8bit(pixels, notes)
        if on_whole is not None:
            on_whole(whole, orientation)
        square = whole.crop(centre_square_box(*whole.size))
        if color_mode == "grayscale":  # grey before resizing, as load_square decodes it: a third of the resize's work
            square = square.convert("L")
    square = square.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=None)
    if orientation != 1:  # the centre square commutes with rotation, so orient the small image: cheaper
        square = square.transpose(_ORIENTATION_TRANSPOSE[orientation])
    square = square.convert("L" if color_mode == "grayscale" else "RGB")
    return PreparedPhoto(square, upright_size, centre_square_box(*upright_size), notes)


def _is_jpeg(image: Image.Image) -> bool:
    """A JPEG, or an MPO: a JPEG whose file also holds other pictures after it (a camera's large preview, a
    phone's depth map), which Pillow opens as the first. Many phones and cameras write MPO; such a photo was
    decoded at full size (7x slower) and called "animated" before this was asked."""
    return image.format in ("JPEG", "MPO")


def _luma_dc_picture(image: Image.Image, stored_w: int, stored_h: int) -> Image.Image | None:
    """The grey 1/8-scale picture that ``image.draft`` asked libjpeg-turbo for, from ``_jpeg_dc`` (the same bytes
    for less work), or None: another draft, a JPEG that is not plain baseline, damage, or no ``_jpeg_dc``."""
    if luma_dc_picture is None or image.mode != "L" or getattr(image, "decoderconfig", None) != (8, 0):
        return None
    stream = getattr(image, "fp", None)
    try:
        if isinstance(stream, io.BytesIO):
            data = stream.getvalue()  # no copy: the stream was made from these bytes and never written to
        elif stream is not None:
            stream.seek(0)
            data = stream.read(MAX_FILE_BYTES + 1)
        else:
            return None
    except (OSError, ValueError):
        return None  # Pillow's own decode reads the file again and says what is wrong with it
    picture = luma_dc_picture(data, stored_w, stored_h)
    return None if picture is None else Image.frombytes("L", image.size, picture)


def _display_copy(whole: Image.Image, max_side: int, orientation: int) -> Image.Image:
    """The upright RGB copy no larger than ``max_side`` of an 8-bit decoded image."""
    scale = max_side / max(whole.size)
    if scale < 1:  # a new, smaller image (thumbnail() would need a full-size copy to work on in place)
        size = (max(1, round(whole.width * scale)), max(1, round(whole.height * scale)))
        # Bilinear, which Pillow widens to the reduction like every filter (so no aliasing): for a person's eyes it
        # looks as bicubic does, at 2/3 of the cost (4 ms instead of 6 for a phone photo's 1/4-scale decode).
        whole = whole.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    if orientation != 1:  # orient the small copy: rotating a 100-megapixel original costs another copy of it
        whole = whole.transpose(_ORIENTATION_TRANSPOSE[orientation])
    return whole.convert("RGB")


def _exif_orientation(image: Image.Image) -> int:
    try:
        value = int(image.getexif().get(0x0112, 1))
    except Exception:  # hostile or broken EXIF: treat as upright rather than refuse the photo
        return 1
    return value if 1 <= value <= 8 else 1


# Modes other than 8-bit L/RGB are converted this many pixels at a time, so a 100-megapixel 16-bit or RGBA photo
# never needs a full-size float64 or RGBA working copy (that once cost 2.3 GB for a 200 kB PNG).
_STRIP_PIXELS = 1 << 20
_HIGH_DEPTH = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def _to_8bit(image: Image.Image, notes: list[str], box: tuple[int, int, int, int] | None = None) -> Image.Image:
    """Bring any Pillow mode to 8-bit L or RGB, compositing transparency onto white.

    Only ``box`` (left, top, right, bottom) is converted when given; every conversion is per pixel (the
    high-depth scaling uses whole-image statistics), so cropping first gives exactly what cropping after would.
    """
    full = (0, 0, *image.size)
    box = box or full
    if image.mode in ("L", "RGB"):
        return image if box == full else image.crop(box)
    convert = _strip_converter(image, notes)
    left, top, right, bottom = box
    rows = max(1, _STRIP_PIXELS // max(1, right - left))
    result: Image.Image | None = None
    for y in range(top, bottom, rows):
        strip = convert(image.crop((left, y, right, min(bottom, y + rows))))
        if result is None:
            result = Image.new(strip.mode, (right - left, bottom - top))
        result.paste(strip, (0, y - top))
    assert result is not None  # open_photo refuses images without pixels
    return result


def _strip_converter(image: Image.Image, notes: list[str]):
    """A function turning a strip of ``image`` into 8-bit L or RGB (statistics it needs are taken from all of it)."""
    mode = image.mode
    if mode in _HIGH_DEPTH:
        low, high = _value_range(image)
        # F spans its own range; integers are 16-bit unless every value fits in 8 bits.
        offset, top = (low, (high - low) or 1.0) if mode == "F" else (0.0, 65535.0 if mode.startswith("I;16") or high > 255 else 255.0)

        def scaled(strip: Image.Image) -> Image.Image:
            values = (np.asarray(strip, dtype=np.float64) - offset) / top * 255.0
            return Image.fromarray(np.clip(np.rint(np.nan_to_num(values)), 0, 255).astype(np.uint8), "L")

        return scaled
    if mode in ("P", "PA") and (mode == "PA" or image.has_transparency_data):
        mode = "RGBA"
    elif mode == "P":
        return lambda strip: strip.convert("RGB")
    if mode in ("RGBA", "LA", "RGBa", "La"):
        notes.append("transparent areas were filled with white")

        def on_white(strip: Image.Image) -> Image.Image:
            background = Image.new("RGBA", strip.size, (255, 255, 255, 255))
            background.alpha_composite(strip.convert("RGBA"))
            return background.convert("RGB")

        return on_white
    if mode == "1":
        return lambda strip: strip.convert("L")
    return lambda strip: strip.convert("RGB")  # CMYK, YCbCr, LAB, HSV


def _value_range(image: Image.Image) -> tuple[float, float]:
    """(min, max) of a high-depth image, ignoring NaN, read a strip at a time."""
    width, height = image.size
    rows = max(1, _STRIP_PIXELS // max(1, width))
    low, high = np.inf, -np.inf
    for y in range(0, height, rows):
        values = np.asarray(image.crop((0, y, width, min(height, y + rows))), dtype=np.float64)
        if np.isnan(values).all():
            continue
        low, high = min(low, float(np.nanmin(values))), max(high, float(np.nanmax(values)))
    return (0.0, 0.0) if low > high else (low, high)


def load_upright(source: PhotoSource, max_side: int = 1600) -> Image.Image:
    """The whole photo, upright and in RGB, no larger than ``max_side``: for showing it to a person."""
    image = open_photo(source)
    try:
        if getattr(image, "is_animated", False):
            image.seek(0)
        if _is_jpeg(image):
            image.draft("RGB", (max_side, max_side))
            image.decodermaxblock = JPEG_READ_BLOCK
        image.load()
        orientation = _exif_orientation(image)  # after load(): see _decode
        return _display_copy(_to_8bit(image, []), max_side, orientation)
    except PhotoError:
        raise
    except Exception as error:  # noqa: BLE001 - as in load_square
        raise PhotoError(_decode_failure(error)) from None
    finally:
        image.close()
