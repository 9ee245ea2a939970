"""Hostile and unusual photo files, each with the outcome TreeRisk promises for it.

Every case is ``FuzzCase(name, data, expect, reason, note, what)``: ``expect`` is ``"ok"`` (it must decode),
``"refused"`` (it must raise :class:`~lightning_module.data.imaging.PhotoError` whose message matches
``reason``) or ``"either"`` (random damage: decoding or a clear refusal are both fine, anything else is a bug).
The same cases feed the ingest tests, the single-photo tests, the batch-screening tests and the dashboard tests,
so "an arborist's phone" and "a lab's dataset" are held to one standard.

Files are built in memory, deterministically from a seed; the large ones (``slow_cases``) are built only when
asked for. Huge-but-flat PNGs are written by hand with streaming zlib, so making a 100-megapixel file costs
almost no memory here; decoding it is what is being tested.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

Expect = Literal["ok", "refused", "either"]

# What a refusal may say, by kind of damage (regexes on the PhotoError message, case-insensitive).
DAMAGED = r"truncated|corrupt|unreadable|not an image format|broken|damaged"
NOT_A_PHOTO = r"not a photo|not an image format"


@dataclass(frozen=True)
class FuzzCase:
    name: str  # short id, also used as a file name stem
    data: bytes
    expect: Expect
    reason: str = ""  # regex the refusal message must match (expect == "refused")
    note: str = ""  # regex one of the photo's notes must match (expect == "ok"), "" for none required
    what: str = ""  # one line for the reliability report
    suffix: str = ".jpg"  # the name a user would give it: most junk arrives renamed to .jpg

    @property
    def file_name(self) -> str:
        return f"{self.name}{self.suffix}"


# ----------------------------------------------------------------------------------------------- builders
def base_photo(width: int = 160, height: int = 120, seed: int = 0, mode: str = "RGB") -> Image.Image:
    """A smooth, textured photo-like image (compresses like a photo, decodes to something non-trivial)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 255, (max(2, height // 16), max(2, width // 16), 3), dtype=np.uint8)
    image = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
    return image.convert(mode) if mode != "RGB" else image


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def flat_png(width: int, height: int, color_type: int = 0, bit_depth: int = 8, value: int = 0,
             rows_of_data: int | None = None) -> bytes:
    """A valid PNG of one flat value, a few kB whatever its pixel count (a decompression bomb, when large).

    ``color_type`` 0 grey, 2 RGB, 6 RGBA; ``rows_of_data`` < height writes a short (but well-formed) pixel stream.
    The rows are deflated one ~1 MB block at a time with a full flush after each, so every block compresses to
    the same bytes: compressing one block is enough, however many the image has.
    """
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    row = b"\x00" + bytes([value & 0xFF]) * ((width * channels * bit_depth + 7) // 8)
    rows_per_block = max(1, (1 << 20) // len(row))
    total = height if rows_of_data is None else rows_of_data
    blocks, rest = divmod(total, rows_per_block)
    block = row * rows_per_block
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate: header and checksum are written here
    parts = [b"\x78\xda"]
    checksum = 1
    if blocks:
        compressed = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
        parts.append(compressed * blocks)
        for _ in range(blocks):
            checksum = zlib.adler32(block, checksum)
    tail = row * rest
    parts.append(deflate.compress(tail) + deflate.flush())
    checksum = zlib.adler32(tail, checksum)
    parts.append(struct.pack(">I", checksum))
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"".join(parts)) + _png_chunk(b"IEND", b"")


def flip_bytes(data: bytes, seed: int, flips: int | None = None, skip: int = 0) -> bytes:
    """``data`` with a few random bytes XOR-ed with random non-zero values (seeded), after the first ``skip``."""
    rng = np.random.default_rng(seed)
    damaged = bytearray(data)
    count = flips if flips is not None else int(rng.integers(1, 24))
    for position in rng.integers(skip, len(data), count):
        damaged[position] ^= int(rng.integers(1, 256))
    return bytes(damaged)


def _ifd(entries: list[tuple[int, int, int, int | bytes]], next_offset: int = 0) -> bytes:
    """One little-endian TIFF IFD: (tag, type, count, value-or-offset); a bytes value is stored inline."""
    out = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        inline = value.ljust(4, b"\x00")[:4] if isinstance(value, bytes) else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, kind, count) + inline
    return out + struct.pack("<I", next_offset)


def exif_block(entries: list[tuple[int, int, int, int | bytes]], next_offset: int = 0, tail: bytes = b"") -> bytes:
    """``Exif\\0\\0`` + a TIFF header + IFD0 at offset 8 (+ ``tail`` bytes after it): what JPEG APP1 carries."""
    return b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", 8) + _ifd(entries, next_offset) + tail


SHORT, LONG, ASCII, RATIONAL = 3, 4, 2, 5
ORIENTATION, EXIF_IFD, GPS_IFD = 0x0112, 0x8769, 0x8825


def _hostile_exif() -> dict[str, tuple[bytes, str]]:
    """Broken or hostile EXIF blocks: name -> (APP1 payload, what it does)."""
    ifd0_end = 8 + 2 + 12 * 2 + 4  # offset just past a two-entry IFD0
    gps_ifd = _ifd([(1, ASCII, 2, b"N\x00"), (2, RATIONAL, 3, ifd0_end + 2 + 12 * 2 + 4)])
    zero_rationals = struct.pack("<6I", 51, 0, 30, 0, 0, 0)  # 51/0 degrees, 30/0 minutes, 0/0 seconds
    return {
        "orientation-9": (exif_block([(ORIENTATION, SHORT, 1, 9)]), "EXIF orientation 9 (valid values are 1-8)"),
        "orientation-0": (exif_block([(ORIENTATION, SHORT, 1, 0)]), "EXIF orientation 0"),
        "orientation-65535": (exif_block([(ORIENTATION, SHORT, 1, 65535)]), "EXIF orientation 65535"),
        "orientation-text": (exif_block([(ORIENTATION, ASCII, 2, b"6\x00")]), "EXIF orientation stored as text '6'"),
        "orientation-array": (exif_block([(ORIENTATION, SHORT, 100_000, 26)]),
                              "EXIF orientation claiming 100000 values that point past the end"),
        "ifd-loop": (exif_block([(ORIENTATION, SHORT, 1, 6)], next_offset=8), "EXIF IFD whose next-IFD link points to itself"),
        "exif-ifd-out-of-range": (exif_block([(EXIF_IFD, LONG, 1, 0xFFFFFF00)]), "EXIF sub-IFD pointer 4 GB past the end"),
        "gps-self-pointer": (exif_block([(GPS_IFD, LONG, 1, 8)]), "GPS IFD pointer back to IFD0 (a cycle)"),
        "gps-zero-denominators": (
            exif_block([(ORIENTATION, SHORT, 1, 1), (GPS_IFD, LONG, 1, ifd0_end)], tail=gps_ifd + zero_rationals),
            "GPS latitude with zero denominators",
        ),
        "entry-count-65535": (b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 65535) + b"\x00" * 30,
                              "EXIF IFD claiming 65535 entries in 30 bytes"),
        "bad-tiff-header": (b"Exif\x00\x00XX*\x00" + b"\xff" * 40, "EXIF with a garbage TIFF header"),
        "random-junk": (b"Exif\x00\x00II*\x00\x08\x00\x00\x00" + flip_bytes(bytes(400), seed=7, flips=200),
                        "EXIF of random bytes after a valid header"),
    }


def _patched_jpeg_size(jpeg: bytes, width: int, height: int) -> bytes:
    """A JPEG whose frame header (SOF) claims ``width`` x ``height``; the data stays small."""
    data = bytearray(jpeg)
    index = 2
    while index < len(data) - 9:
        if data[index] != 0xFF:
            index += 1
            continue
        marker = data[index + 1]
        length = struct.unpack(">H", data[index + 2 : index + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            data[index + 5 : index + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        index += 2 + length
    raise ValueError("no SOF marker found")


def _bmp_header(width: int, height: int, bits: int = 24, data: bytes = b"") -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + len(data), 0, 0, 14 + 40) + info + data


def _animated(fmt: str, frames: int = 3, size: tuple[int, int] = (64, 48), **options: object) -> bytes:
    images = [Image.new("RGB", size, (30 + 90 * i % 225, 60, 200 - 60 * i % 200)) for i in range(frames)]
    return encode(images[0], fmt, save_all=True, append_images=images[1:], **options)


def _palette_with_transparency() -> bytes:
    image = base_photo(96, 64).quantize(16)
    pixels = np.asarray(image).copy()
    pixels[:16, :16] = 0  # palette index 0 is transparent: a transparent corner
    image = Image.fromarray(pixels, "P")
    image.putpalette(base_photo(96, 64).quantize(16).getpalette())
    return encode(image, "PNG", transparency=0)


# ----------------------------------------------------------------------------------------------- cases
def fuzz_cases(seed: int = 0, flips_per_format: int = 6) -> list[FuzzCase]:
    """The fast cases: each is small (under 1 MB) and decodes in well under a second."""
    photo = base_photo(320, 240, seed)
    jpeg, png = encode(photo, "JPEG", quality=90), encode(photo, "PNG")
    small = base_photo(64, 48, seed)
    cases = [
        FuzzCase("jpeg", jpeg, "ok", what="ordinary 320x240 JPEG (control)"),
        FuzzCase("png", png, "ok", what="ordinary 320x240 PNG (control)", suffix=".png"),
        FuzzCase("webp", encode(photo, "WEBP"), "ok", what="WebP", suffix=".webp"),
        FuzzCase("bmp", encode(photo, "BMP"), "ok", what="BMP", suffix=".bmp"),
        FuzzCase("tiff-lzw", encode(photo, "TIFF", compression="tiff_lzw"), "ok", what="LZW TIFF", suffix=".tif"),
        FuzzCase("progressive-jpeg", encode(photo, "JPEG", progressive=True), "ok", what="progressive JPEG"),
        FuzzCase("empty", b"", "refused", "empty", what="zero bytes"),
        FuzzCase("text", b"Tree survey notes, plot 7: oak leaning north-east.\n" * 40, "refused", NOT_A_PHOTO,
                 what="a text file renamed to .jpg"),
        FuzzCase("html", b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>", "refused", "markup",
                 what="HTML (with a script) renamed to .jpg"),
        FuzzCase("svg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="99999" height="99999">'
                        b"<rect width='100%' height='100%'/></svg>", "refused", "markup", what="SVG", suffix=".svg"),
        FuzzCase("svg-bom", b"\xef\xbb\xbf\n  <svg xmlns='http://www.w3.org/2000/svg'/>", "refused", "markup",
                 what="SVG with a byte-order mark and leading blanks"),
        FuzzCase("eps", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 400 400\nnewpath 0 0 moveto showpage\n", "refused",
                 NOT_A_PHOTO, what="EPS/PostScript renamed to .jpg (Pillow would hand it to Ghostscript)"),
        FuzzCase("pdf", b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "refused", NOT_A_PHOTO, what="PDF renamed to .jpg"),
        FuzzCase("zip", encode_zip(), "refused", NOT_A_PHOTO, what="a zip archive renamed to .jpg"),
        FuzzCase("elf", b"\x7fELF\x02\x01\x01" + bytes(200), "refused", NOT_A_PHOTO, what="a program renamed to .jpg"),
        FuzzCase("tga-like", bytes([0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 64, 0, 24, 0]) + bytes(64 * 64 * 3), "refused",
                 NOT_A_PHOTO, what="a headerless TGA (a format with no signature, so any junk could pass as one)"),
        FuzzCase("jpeg-header-only", jpeg[:200], "refused", DAMAGED, what="a JPEG cut after 200 bytes"),
        FuzzCase("jpeg-half", jpeg[: len(jpeg) // 2], "refused", DAMAGED, what="a JPEG cut in half"),
        FuzzCase("jpeg-no-eoi", jpeg[:-2], "either", DAMAGED, what="a JPEG missing only its end marker"),
        FuzzCase("png-half", png[: len(png) // 2], "refused", DAMAGED, what="a PNG cut in half", suffix=".png"),
        FuzzCase("png-no-iend", png[:-12], "either", DAMAGED, what="a PNG missing its end chunk", suffix=".png"),
        # A cleanly terminated zlib stream that is simply short: Pillow decodes it with the missing rows black.
        FuzzCase("png-short-stream", flat_png(400, 300, 2, rows_of_data=100), "either", DAMAGED,
                 what="a PNG whose (well-formed) pixel stream stops at row 100 of 300", suffix=".png"),
        FuzzCase("png-bad-crc", png[:40] + bytes([png[40] ^ 0xFF]) + png[41:], "either", DAMAGED,
                 what="a PNG with a corrupted chunk checksum", suffix=".png"),
        FuzzCase("bomb-png", flat_png(30_000, 30_000, 0, 1), "refused", "too many pixels",
                 what="decompression bomb: 900-megapixel 1-bit PNG in a few kB", suffix=".png"),
        FuzzCase("bomb-png-rgba", flat_png(12_000, 12_000, 6, 8), "refused", "too many pixels",
                 what="decompression bomb: 144-megapixel RGBA PNG (576 MB decoded) in a few hundred kB", suffix=".png"),
        FuzzCase("bomb-jpeg-sof", _patched_jpeg_size(jpeg, 65_000, 65_000), "refused", "too many pixels",
                 what="JPEG whose header claims 65000x65000 pixels"),
        FuzzCase("bomb-bmp", _bmp_header(40_000, 40_000), "refused", "too many pixels", what="BMP header claiming 40000x40000",
                 suffix=".bmp"),
        FuzzCase("bmp-truncated", _bmp_header(4_000, 3_000, data=bytes(1000)), "refused", DAMAGED,
                 what="BMP claiming 4000x3000 with 1 kB of pixels", suffix=".bmp"),
        FuzzCase("gif-bomb", b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00\x00\x00" + b"," + bytes(9) + b"\x02\x02\x44\x01\x00;",
                 "refused", "too many pixels|" + DAMAGED, what="GIF with a 65535x65535 screen", suffix=".gif"),
        FuzzCase("one-by-one", encode(Image.new("RGB", (1, 1)), "PNG"), "refused", "too small", what="1x1 image", suffix=".png"),
        FuzzCase("wide-100000x1", flat_png(100_000, 1, 2), "refused", "too small", what="100000x1 image", suffix=".png"),
        FuzzCase("tall-1x100000", flat_png(1, 100_000, 0), "refused", "too small", what="1x100000 image", suffix=".png"),
        FuzzCase("strip-5000x31", flat_png(5_000, 31, 0, value=128), "refused", "too small", what="5000x31 strip", suffix=".png"),
        FuzzCase("gray16-png", encode(Image.fromarray(np.tile(np.linspace(0, 65535, 200).astype(np.uint16), (150, 1))), "PNG"),
                 "ok", what="16-bit greyscale PNG", suffix=".png"),
        FuzzCase("rgb16-png", flat_png(200, 150, 2, 16, value=200), "ok", what="16-bit-per-channel RGB PNG", suffix=".png"),
        FuzzCase("gray16-tiff", encode(Image.fromarray(np.full((150, 200), 40000, np.uint16)), "TIFF"), "ok",
                 what="16-bit greyscale TIFF", suffix=".tif"),
        FuzzCase("float-tiff", encode(Image.fromarray(np.linspace(-1, 1, 150 * 200, dtype=np.float32).reshape(150, 200)), "TIFF"),
                 "ok", what="32-bit floating-point TIFF", suffix=".tif"),
        FuzzCase("cmyk-jpeg", encode(photo.convert("CMYK"), "JPEG"), "ok", what="CMYK JPEG (print workflows)"),
        FuzzCase("cmyk-tiff", encode(photo.convert("CMYK"), "TIFF"), "ok", what="CMYK TIFF", suffix=".tif"),
        FuzzCase("palette-transparent", _palette_with_transparency(), "ok", "transparent",
                 what="palette PNG with a transparent colour", suffix=".png"),
        FuzzCase("rgba-png", encode(photo.convert("RGBA"), "PNG"), "ok", what="RGBA PNG", suffix=".png"),
        FuzzCase("bilevel", encode(photo.convert("1"), "PNG"), "ok", what="1-bit black-and-white PNG", suffix=".png"),
        FuzzCase("animated-gif", _animated("GIF"), "ok", "first frame", what="animated GIF (3 frames)", suffix=".gif"),
        FuzzCase("animated-png", _animated("PNG"), "ok", "first frame", what="animated PNG (3 frames)", suffix=".png"),
        FuzzCase("animated-webp", _animated("WEBP"), "ok", "first frame", what="animated WebP (3 frames)", suffix=".webp"),
        FuzzCase("gif-2000-frames", _animated("GIF", frames=2000, size=(40, 40)), "ok", "first frame",
                 what="animated GIF with 2000 frames", suffix=".gif"),
        FuzzCase("tiff-200-pages", encode(small, "TIFF", save_all=True, append_images=[small] * 199), "ok",
                 what="multi-page TIFF, 200 pages of 64x48", suffix=".tif"),
    ]
    from lightning_module.data.imaging import HEIC_SUPPORTED

    if HEIC_SUPPORTED:  # iPhones save HEIC; pillow-heif reads (and here writes) it
        heic = encode(photo, "HEIF")
        cases.append(FuzzCase("heic", heic, "ok", what="HEIC (iPhone)", suffix=".heic"))
        cases.append(FuzzCase("heic-half", heic[: len(heic) // 2], "refused", DAMAGED, what="a HEIC cut in half",
                              suffix=".heic"))
    for name, (exif, what) in _hostile_exif().items():
        cases.append(FuzzCase(f"exif-{name}", encode(photo, "JPEG", exif=exif), "ok", what=f"JPEG with {what}"))
    cases.append(FuzzCase("png-exif-ifd-loop", encode(photo, "PNG", exif=_hostile_exif()["ifd-loop"][0]), "ok",
                          what="PNG whose eXIf chunk has an IFD loop", suffix=".png"))
    xmp = b'<x:xmpmeta><rdf:Description tiff:Orientation="999999999999999999999"/></x:xmpmeta>'
    cases.append(FuzzCase("xmp-orientation-huge", encode(photo, "JPEG", xmp=xmp), "ok",
                          what="JPEG with an XMP orientation of 10^20"))
    for i in range(flips_per_format):
        cases.append(FuzzCase(f"jpeg-flip-{seed}-{i}", flip_bytes(jpeg, seed * 1000 + i), "either", DAMAGED,
                              what="JPEG with 1-23 random byte flips (seeded)"))
        cases.append(FuzzCase(f"png-flip-{seed}-{i}", flip_bytes(png, seed * 1000 + 500 + i, skip=8), "either", DAMAGED,
                              what="PNG with 1-23 random byte flips after the signature (seeded)", suffix=".png"))
        cases.append(FuzzCase(f"gif-flip-{seed}-{i}", flip_bytes(_animated("GIF"), seed * 1000 + 800 + i, skip=6), "either",
                              DAMAGED, what="animated GIF with random byte flips (seeded)", suffix=".gif"))
    return cases


def encode_zip() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("tree.txt", "not a photo")
    return buffer.getvalue()


def big_noise_jpeg(target_bytes: int = 50_000_000, seed: int = 0) -> bytes:
    """A real-looking JPEG of about ``target_bytes`` (noise at quality 100 takes about 4 bytes a pixel)."""
    pixels = int(target_bytes / 4.1)
    width = int((pixels * 4 / 3) ** 0.5)
    height = pixels // width
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return encode(Image.fromarray(noise), "JPEG", quality=100, subsampling=0)


SLOW_BUILDERS: dict[str, tuple[Callable[[], bytes], Expect, str, str, str]] = {
    # name: (builder, expect, reason, what, suffix)
    "photo-50mb": (big_noise_jpeg, "ok", "", "a 50 MB, 17-megapixel JPEG (quality 100)", ".jpg"),
    "limit-gray16": (lambda: flat_png(10_000, 9_999, 0, 16), "ok", "",
                     "99.99-megapixel 16-bit greyscale PNG (just under the 100 MP limit)", ".png"),
    "limit-rgba": (lambda: flat_png(10_000, 9_999, 6, 8, value=255), "ok", "",
                   "99.99-megapixel RGBA PNG (just under the limit)", ".png"),
    "limit-rgb": (lambda: flat_png(10_000, 9_999, 2, 8, value=90), "ok", "", "99.99-megapixel RGB PNG", ".png"),
    "limit-jpeg": (lambda: encode(Image.new("RGB", (11_500, 8_600), (90, 120, 60)), "JPEG", quality=80), "ok", "",
                   "98.9-megapixel JPEG", ".jpg"),
    "limit-bilevel": (lambda: flat_png(10_000, 9_999, 0, 1), "ok", "", "99.99-megapixel 1-bit PNG", ".png"),
}


def slow_cases(names: list[str] | None = None) -> Iterator[FuzzCase]:
    """The large cases (tens of MB on disk or ~100 megapixels decoded), built one at a time on demand."""
    for name, (build, expect, reason, what, suffix) in SLOW_BUILDERS.items():
        if names is None or name in names:
            yield FuzzCase(name, build(), expect, reason, what=what, suffix=suffix)
