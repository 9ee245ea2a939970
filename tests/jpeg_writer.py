"""A minimal baseline JPEG writer for tests (random quantised coefficients, any sampling, restart intervals), and
libjpeg-turbo's own 1/8-scale grey decode of a file to compare a decoder with.

Pillow (libjpeg-turbo) writes only a few kinds of JPEG and never restart markers; this writes what cameras do too,
and what a hostile file might, so the ``_jpeg_dc`` decoder can be compared with libjpeg-turbo on all of it. The
coefficients are random, not a picture: a decoder must give libjpeg-turbo's bytes for any valid stream.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

ZIGZAG_LENGTH = 64


def standard_huffman_tables() -> dict[tuple[int, int], tuple[bytes, bytes]]:
    """{(class, id): (16 code-length counts, symbols)} of the tables libjpeg writes by default (JPEG Annex K.3).

    Read from a file Pillow writes, rather than copied out by hand: class 0 is DC, 1 is AC; id 0 luma, 1 chroma."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, "JPEG", quality=75, optimize=False)
    data, tables, pos = buffer.getvalue(), {}, 2
    while data[pos + 1] != 0xDA:
        marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        segment, pos = data[pos + 4 : pos + 2 + length], pos + 2 + length
        while marker == 0xC4 and segment:
            counts = segment[1:17]
            total = sum(counts)
            tables[(segment[0] >> 4, segment[0] & 15)] = (counts, segment[17 : 17 + total])
            segment = segment[17 + total :]
    return tables


def _codes(counts: bytes, symbols: bytes) -> dict[int, tuple[int, int]]:
    """symbol -> (code, length), the canonical Huffman code of a table."""
    codes, code, k = {}, 0, 0
    for length in range(1, 17):
        for _ in range(counts[length - 1]):
            codes[symbols[k]] = (code, length)
            code, k = code + 1, k + 1
        code <<= 1
    return codes


class _BitWriter:
    def __init__(self) -> None:
        self.out, self.acc, self.count = bytearray(), 0, 0

    def write(self, value: int, bits: int) -> None:
        self.acc, self.count = (self.acc << bits) | (value & ((1 << bits) - 1)), self.count + bits
        while self.count >= 8:
            self.count -= 8
            byte = (self.acc >> self.count) & 0xFF
            self.out += b"\xff\x00" if byte == 0xFF else bytes([byte])

    def pad(self) -> None:
        """Fill the last byte with one bits, as encoders do before a marker."""
        if self.count:
            self.write((1 << (8 - self.count)) - 1, 8 - self.count)


def _magnitude(value: int) -> tuple[int, int]:
    """(size, value bits) of a coefficient, as JPEG codes it."""
    size = abs(value).bit_length()
    return size, value if value >= 0 else value + (1 << size) - 1


@dataclass
class JpegSpec:
    width: int
    height: int
    sampling: list[tuple[int, int]] = field(default_factory=lambda: [(2, 2), (1, 1), (1, 1)])
    restart_interval: int = 0
    dc_quant: list[int] = field(default_factory=lambda: [16, 17])  # luma, chroma table's first entry
    sixteen_bit_quant: bool = False
    jfif: bool = True
    component_ids: tuple[int, ...] = (1, 2, 3)
    dc_step: int = 200  # largest DC difference between neighbouring blocks (at most 2047)
    ac_density: float = 0.3  # share of non-zero AC coefficients
    seed: int = 0


def write_jpeg(spec: JpegSpec) -> bytes:
    """A valid baseline (SOF0) or extended (SOF1, with 16-bit quantisation tables) JPEG of random coefficients."""
    rng = np.random.default_rng(spec.seed)
    tables = standard_huffman_tables()
    ncomp = len(spec.sampling)
    out = bytearray(b"\xff\xd8")

    def segment(marker: int, payload: bytes) -> None:
        out.extend(struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload)

    if spec.jfif:
        segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    for table_id, dc in enumerate(spec.dc_quant[: min(2, ncomp)]):
        values = [dc] + list(rng.integers(1, 100, ZIGZAG_LENGTH - 1))
        if spec.sixteen_bit_quant:
            segment(0xDB, bytes([0x10 | table_id]) + struct.pack(">64H", *values))
        else:
            segment(0xDB, bytes([table_id]) + bytes(values))
    frame = struct.pack(">BHHB", 8, spec.height, spec.width, ncomp)
    for c, (h, v) in enumerate(spec.sampling):
        frame += bytes([spec.component_ids[c], (h << 4) | v, min(c, 1)])
    segment(0xC1 if spec.sixteen_bit_quant else 0xC0, frame)
    for (table_class, table_id), (counts, symbols) in sorted(tables.items()):
        segment(0xC4, bytes([(table_class << 4) | table_id]) + counts + symbols)
    if spec.restart_interval:
        segment(0xDD, struct.pack(">H", spec.restart_interval))
    scan = bytes([ncomp])
    for c in range(ncomp):
        scan += bytes([spec.component_ids[c], (min(c, 1) << 4) | min(c, 1)])
    segment(0xDA, scan + b"\x00\x3f\x00")

    dc_codes = [_codes(*tables[(0, t)]) for t in (0, 1)]
    ac_codes = [_codes(*tables[(1, t)]) for t in (0, 1)]
    hmax, vmax = max(h for h, _ in spec.sampling), max(v for _, v in spec.sampling)
    if ncomp == 1:
        mcus, blocks = ((spec.width + 7) // 8) * ((spec.height + 7) // 8), [(1, 1)]
    else:
        mcus = -(-spec.width // (8 * hmax)) * -(-spec.height // (8 * vmax))
        blocks = spec.sampling
    bits, predictions = _BitWriter(), [0] * ncomp
    for mcu in range(mcus):
        if spec.restart_interval and mcu and mcu % spec.restart_interval == 0:
            bits.pad()
            bits.out += bytes([0xFF, 0xD0 + (mcu // spec.restart_interval - 1) % 8])
            predictions = [0] * ncomp
        for c, (h, v) in enumerate(blocks):
            for _ in range(h * v):
                difference = int(rng.integers(-spec.dc_step, spec.dc_step + 1))
                predictions[c] += difference
                size, value = _magnitude(difference)
                bits.write(*dc_codes[min(c, 1)][size])
                if size:
                    bits.write(value, size)
                coefficients = np.where(rng.random(63) < spec.ac_density, rng.integers(-1023, 1024, 63), 0)
                run = 0
                for coefficient in coefficients:
                    if coefficient == 0:
                        run += 1
                        continue
                    while run > 15:
                        bits.write(*ac_codes[min(c, 1)][0xF0])
                        run -= 16
                    size, value = _magnitude(int(coefficient))
                    bits.write(*ac_codes[min(c, 1)][(run << 4) | size])
                    bits.write(value, size)
                    run = 0
                if run:
                    bits.write(*ac_codes[min(c, 1)][0x00])
    bits.pad()
    out += bits.out + b"\xff\xd9"
    return bytes(out)


def random_spec(rng: np.random.Generator, seed: int) -> JpegSpec:
    """Any stream the writer can make: 1 or 3 components, sampling factors 1-4, sizes, restarts, ids, tables."""
    components = int(rng.choice([1, 3]))
    sampling = [(int(rng.integers(1, 5)), int(rng.integers(1, 5))) for _ in range(components)]
    return JpegSpec(
        int(rng.integers(8, 120)), int(rng.integers(8, 120)), sampling=sampling,
        restart_interval=int(rng.choice([0, 0, 1, 2, 5])), dc_quant=[int(rng.integers(1, 256)), int(rng.integers(1, 256))],
        jfif=bool(rng.random() < 0.7), component_ids=tuple(int(i) for i in rng.choice([1, 2, 3, 82, 71, 66], 3)),
        dc_step=int(rng.choice([5, 200, 2047])), ac_density=float(rng.random() * 0.6), seed=seed,
    )


def pillow_jpeg(size: tuple[int, int] = (203, 157), mode: str = "RGB", seed: int = 0, **save) -> bytes:
    """A JPEG of noise that Pillow (libjpeg-turbo) writes with ``save``'s options."""
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], len(mode))
    pixels = np.clip(rng.normal(128, 60, shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode).save(buffer, "JPEG", **save)
    return buffer.getvalue()


def libjpeg_picture(data: bytes) -> np.ndarray:
    """What Pillow's draft mode asks libjpeg-turbo for: scale 1/8, grey."""
    image = Image.open(io.BytesIO(data))
    image.draft("L", (image.width // 8, image.height // 8))
    assert image.decoderconfig == (8, 0), "the photo is too small for a 1/8-scale decode"
    image.load()
    return np.asarray(image)
