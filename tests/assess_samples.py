"""Real upload files of every awkward kind, made in memory, for the Assess page and screening tests.

Each sample is the bytes a user's browser would send, with what the product must answer: a result (and any note it
must add) or the reason it refuses the file.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Sample:
    name: str
    data: bytes
    ok: bool
    says: str  # a note the result must carry (ok) or words the refusal must contain (not ok); "" for none


def _tree_pixels(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pixels = rng.normal(110, 20, (height, width, 3))
    pixels[..., 1] += 30  # greenish, like foliage
    yy, xx = np.mgrid[:height, :width]
    pixels[(np.abs(xx - width / 2) < width / 14) & (yy > height / 2)] = (90, 60, 40)  # a trunk
    return np.clip(pixels, 0, 255).astype(np.uint8)


def jpeg(width: int = 160, height: int = 120, seed: int = 0, **save: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(_tree_pixels(width, height, seed)).save(buffer, "JPEG", quality=90, **save)
    return buffer.getvalue()


def page_of_text(width: int = 160, height: int = 120) -> bytes:
    """A PNG of black text on white paper: clearly not a tree, for the unfamiliar-photo check."""
    from PIL import ImageDraw, ImageFont

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for y in range(2, height - 10, 12):
        draw.text((3, y), "Invoice total due on receipt, please sign here", fill="black", font=ImageFont.load_default(size=10))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def exif_rotated_jpeg() -> bytes:
    """Stored landscape 160x120 with EXIF orientation 6: the upright photo is portrait 120x160."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return jpeg(160, 120, seed=1, exif=exif)


def gps_jpeg(latitude: float, longitude: float, seed: int = 2) -> bytes:
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)

    def dms(value: float) -> tuple[float, float, float]:
        value = abs(value)
        degrees, rest = int(value), (abs(value) - int(value)) * 60
        return float(degrees), float(int(rest)), round((rest - int(rest)) * 60, 4)

    gps[1], gps[2] = ("N" if latitude >= 0 else "S"), dms(latitude)
    gps[3], gps[4] = ("E" if longitude >= 0 else "W"), dms(longitude)
    return jpeg(160, 120, seed=seed, exif=exif)


def rgba_png() -> bytes:
    pixels = np.dstack([_tree_pixels(120, 120, 3), np.full((120, 120), 255, np.uint8)])
    pixels[:30, :, 3] = 0  # a transparent band
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, "PNG")
    return buffer.getvalue()


def sixteen_bit_png() -> bytes:
    values = (np.linspace(0, 65535, 128 * 96).reshape(96, 128)).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, "PNG")  # mode I;16
    return buffer.getvalue()


def cmyk_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(_tree_pixels(128, 128, 4)).convert("CMYK").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def animated_gif() -> bytes:
    frames = [Image.fromarray(_tree_pixels(96, 96, seed)).convert("P") for seed in (5, 6, 7)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    data = jpeg(160, 120, seed=8)
    return data[: len(data) // 2]


def bomb_png(side: int = 15_000) -> bytes:
    """A valid 1-bit PNG of side x side pixels (225 MP, over Pillow's bomb limit) that is only a few kB."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit grayscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def heic() -> bytes | None:
    """An iPhone-style HEIC photo, when pillow-heif can encode one here."""
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        buffer = io.BytesIO()
        Image.fromarray(_tree_pixels(128, 96, 9)).save(buffer, "HEIF", quality=80)
        return buffer.getvalue()
    except Exception:  # optional codec: the sample is left out where it cannot be made
        return None


def upload_samples() -> list[Sample]:
    """Every kind of file the issue lists (and a HEIC where possible), with the answer each must get."""
    phone = heic()
    return ([Sample("phone.heic", phone, True, "128×96 px photo")] if phone else []) + [
        Sample("good.jpg", jpeg(), True, ""),
        Sample("rotated.jpg", exif_rotated_jpeg(), True, "120×160 px photo"),
        Sample("transparent.png", rgba_png(), True, "transparent areas were filled with white"),
        Sample("sixteen_bit.png", sixteen_bit_png(), True, ""),
        Sample("cmyk.jpg", cmyk_jpeg(), True, ""),
        Sample("animated.gif", animated_gif(), True, "animated image with 3 frames"),
        Sample("truncated.jpg", truncated_jpeg(), False, "truncated"),
        Sample("empty.jpg", b"", False, "empty file (0 bytes)"),
        Sample("notes.jpg", b"Shopping list: apples, pears\n", False, "not an image format"),
        Sample("huge.png", bomb_png(), False, "too many pixels"),
    ]


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def mark_encrypted(archive: bytes, member: str) -> bytes:
    """Set the 'encrypted' flag of ``member`` in both its local and central headers (zipfile cannot write one)."""
    data = bytearray(archive)
    encoded = member.encode()
    for signature, flag_offset, name_offset in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        start = 0
        while (start := data.find(signature, start)) != -1:
            name_length = struct.unpack_from("<H", data, start + (26 if signature == b"PK\x03\x04" else 28))[0]
            if bytes(data[start + name_offset:start + name_offset + name_length]) == encoded:
                flags = struct.unpack_from("<H", data, start + flag_offset)[0]
                struct.pack_into("<H", data, start + flag_offset, flags | 0x1)
            start += 4
    return bytes(data)
