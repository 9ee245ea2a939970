"""The 1/8-scale grey decoder (``lightning_module.data._jpeg_dc``) gives libjpeg-turbo's bytes, or gives way.

Ingest decodes most training photos through it, so a single byte of difference would mean training on other
pictures than the dashboard shows; and it reads files from anywhere, so damage must make it give way to Pillow,
never crash or return a picture libjpeg-turbo would not.
"""

from __future__ import annotations

import io
import shutil
import sysconfig

import numpy as np
import pytest
from PIL import Image

from lightning_module.data import imaging
from tests.jpeg_writer import JpegSpec, libjpeg_picture, pillow_jpeg, random_spec, write_jpeg

try:
    from lightning_module.data._jpeg_dc import luma_dc_picture
except ImportError:  # pragma: no cover - only without a C compiler
    luma_dc_picture = None

needs_extension = pytest.mark.skipif(luma_dc_picture is None, reason="_jpeg_dc is not built (no C compiler)")


def fast_picture(data: bytes) -> np.ndarray | None:
    assert luma_dc_picture is not None
    width, height = Image.open(io.BytesIO(data)).size
    picture = luma_dc_picture(data, width, height)
    if picture is None:
        return None
    return np.frombuffer(picture, np.uint8).reshape((height + 7) // 8, (width + 7) // 8)


def test_the_extension_is_built_where_a_compiler_is() -> None:
    """A missing extension only makes ingest slower, so nothing else would notice it; this does."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if not (shutil.which(compiler) or shutil.which("cc")):
        pytest.skip("no C compiler here: Pillow decodes every photo")
    assert luma_dc_picture is not None, "run `make test` (or `pip install -e .`) to build _jpeg_dc"


@needs_extension
@pytest.mark.parametrize("subsampling", [0, 1, 2], ids=["4:4:4", "4:2:2", "4:2:0"])
@pytest.mark.parametrize("quality", [5, 75, 100])
def test_pillow_photos_decode_to_libjpeg_turbos_bytes(subsampling: int, quality: int) -> None:
    data = pillow_jpeg(subsampling=subsampling, quality=quality, seed=quality)
    assert np.array_equal(fast_picture(data), libjpeg_picture(data))


@needs_extension
@pytest.mark.parametrize("save", [{"optimize": True}, {"quality": 95, "exif": b"Exif\x00\x00" + b"\x00" * 40},
                                  {"qtables": [[255] * 64, [1] * 64], "subsampling": 2}],
                         ids=["own Huffman tables", "EXIF", "extreme quantisation"])
def test_other_encoder_settings_decode_to_libjpeg_turbos_bytes(save: dict) -> None:
    data = pillow_jpeg(**save)
    assert np.array_equal(fast_picture(data), libjpeg_picture(data))


@needs_extension
@pytest.mark.parametrize("size", [(64, 64), (71, 33), (33, 71), (4032 // 7, 3024 // 7)])
def test_grey_photos_and_sizes_that_do_not_fill_a_block(size: tuple[int, int]) -> None:
    for data in (pillow_jpeg(size, "L"), pillow_jpeg(size, "RGB", subsampling=2)):
        assert np.array_equal(fast_picture(data), libjpeg_picture(data))


@needs_extension
@pytest.mark.parametrize(
    "spec",
    [
        JpegSpec(97, 61, restart_interval=1),
        JpegSpec(200, 120, restart_interval=7, seed=1),
        JpegSpec(96, 80, sampling=[(2, 1), (1, 1), (1, 1)], restart_interval=3, seed=2),
        JpegSpec(96, 80, sampling=[(1, 2), (1, 1), (1, 1)], seed=3),
        JpegSpec(120, 64, sampling=[(4, 1), (1, 1), (1, 1)], seed=4),
        JpegSpec(64, 64, sampling=[(2, 2), (1, 2), (2, 1)], seed=5),
        JpegSpec(75, 50, sampling=[(1, 1)], restart_interval=5, seed=6),
        JpegSpec(64, 48, sampling=[(2, 2)], seed=7),  # one component claiming 2x2: still one block an MCU
        JpegSpec(80, 64, jfif=False, seed=8),  # YCbCr told from the component ids alone
        JpegSpec(88, 40, dc_quant=[255, 3], dc_step=2047, seed=9),  # DC far out of range: libjpeg's wrap-around
        JpegSpec(72, 56, dc_quant=[30000, 2000], dc_step=2047, sixteen_bit_quant=True, seed=10),  # SOF1
        JpegSpec(64, 64, ac_density=0.0, seed=11),  # every block ends at once
        JpegSpec(64, 64, ac_density=1.0, seed=12),  # no block has an end-of-block code
        JpegSpec(64, 64, ac_density=0.05, restart_interval=2, seed=13),  # long zero runs (ZRL codes)
    ],
    ids=lambda spec: f"{spec.width}x{spec.height}-{spec.sampling}-rst{spec.restart_interval}-seed{spec.seed}",
)
def test_camera_like_streams_decode_to_libjpeg_turbos_bytes(spec: JpegSpec) -> None:
    data = write_jpeg(spec)
    assert np.array_equal(fast_picture(data), libjpeg_picture(data))


@needs_extension
def test_random_valid_streams_decode_as_libjpeg_turbo_does_or_give_way() -> None:
    """Streams of every shape the writer knows (sampling factors libjpeg refuses, luma below full size, RGB ids,
    duplicate ids, ...): whatever the decoder takes, libjpeg-turbo decodes to the same picture."""
    rng = np.random.default_rng(3)
    taken = 0
    for seed in range(150):
        spec = random_spec(rng, seed)
        data = write_jpeg(spec)
        try:
            expected = libjpeg_picture(data)
        except Exception:  # noqa: BLE001 - libjpeg-turbo refuses it
            expected = None
        result = fast_picture(data)
        if result is not None:
            taken += 1
            assert expected is not None and np.array_equal(result, expected), spec
    assert taken > 30


@needs_extension
@pytest.mark.parametrize(
    "data",
    [
        pytest.param(pillow_jpeg(progressive=True), id="progressive"),
        pytest.param(pillow_jpeg(mode="CMYK"), id="CMYK with Adobe's marker"),
        pytest.param(write_jpeg(JpegSpec(64, 64, jfif=False, component_ids=(82, 71, 66))), id="RGB by its ids"),
        pytest.param(write_jpeg(JpegSpec(64, 64, sampling=[(1, 1), (2, 2), (1, 1)])), id="luma below full size"),
        pytest.param(b"\xff\xd8\xff\xe0\x00\x07JFIF\x00" + write_jpeg(JpegSpec(64, 64, jfif=False, component_ids=(82, 71, 66)))[2:],
                     id="RGB by its ids, a JFIF marker too short to count"),
        pytest.param(write_jpeg(JpegSpec(64, 64, sampling=[(4, 4), (1, 1), (1, 1)])), id="18 blocks an MCU"),
        pytest.param(write_jpeg(JpegSpec(65510, 8, sampling=[(1, 1)], ac_density=0.0)), id="wider than 65500"),
        pytest.param(pillow_jpeg()[:-400], id="cut short"),
        pytest.param(pillow_jpeg()[:-2], id="no end of image"),
        pytest.param(b"\xff\xd8\xff\xd9", id="no frame"),
        pytest.param(b"not a jpeg at all", id="not a JPEG"),
    ],
)
def test_what_it_does_not_take_is_left_to_pillow(data: bytes) -> None:
    assert luma_dc_picture is not None
    for size in ((203, 157), (64, 64), (65510, 8)):
        assert luma_dc_picture(data, *size) is None


@needs_extension
def test_a_size_other_than_the_files_is_refused() -> None:
    data = pillow_jpeg((203, 157))
    assert luma_dc_picture is not None
    assert luma_dc_picture(data, 203, 157) is not None
    assert luma_dc_picture(data, 204, 157) is None  # the caller's buffer would not fit the picture
    assert luma_dc_picture(data, 0, 157) is None


@needs_extension
def test_damaged_streams_give_way_or_give_libjpeg_turbos_bytes() -> None:
    """Bytes flipped anywhere, restart markers included: whatever the decoder takes, libjpeg-turbo decodes to the
    same picture; the rest it leaves to Pillow (which then reports the damage, or decodes it with a warning)."""
    rng = np.random.default_rng(0)
    originals = [write_jpeg(JpegSpec(48, 40, restart_interval=2, seed=20)), pillow_jpeg((48, 40), quality=90),
                 pillow_jpeg((41, 27), quality=60, subsampling=2)]  # the last with part-filled MCUs
    taken = given_way = 0
    for original in originals:
        for _ in range(300):
            damaged = bytearray(original)
            for position in rng.integers(2, len(damaged), rng.integers(1, 4)):
                damaged[position] = int(rng.integers(0, 256))
            try:
                expected = libjpeg_picture(bytes(damaged))
            except Exception:  # noqa: BLE001 - Pillow refuses it: so must the fast decoder
                expected = None
            try:
                result = fast_picture(bytes(damaged))
            except Exception:  # noqa: BLE001 - a header Pillow cannot even open
                result = None
            if result is None:
                given_way += 1
                continue
            taken += 1
            assert expected is not None and np.array_equal(result, expected)
    assert taken > 50 and given_way > 50  # both outcomes were exercised


@needs_extension
def test_every_truncation_gives_way() -> None:
    data = write_jpeg(JpegSpec(40, 32, restart_interval=1, seed=21))
    assert luma_dc_picture is not None
    assert all(luma_dc_picture(data[:end], 40, 32) is None for end in range(len(data) - 1))


@needs_extension
@pytest.mark.parametrize("orientation", [1, 6])
def test_load_square_uses_it_and_prepares_the_same_photo(monkeypatch: pytest.MonkeyPatch, orientation: int) -> None:
    """The model's input is the same bytes with and without the fast decoder, EXIF orientation included."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = pillow_jpeg((1200, 900), quality=90, exif=exif.tobytes())
    calls = []

    def counting(*args):
        calls.append(args[1:])
        return luma_dc_picture(*args)

    monkeypatch.setattr(imaging, "luma_dc_picture", counting)
    fast = imaging.load_square(data, 56, "grayscale")  # 900 // (2 * 56) = 8: a 1/8-scale decode
    monkeypatch.setattr(imaging, "luma_dc_picture", None)
    plain = imaging.load_square(data, 56, "grayscale")
    assert calls == [(1200, 900)]
    assert np.array_equal(fast.as_array(), plain.as_array())
    assert (fast.original_size, fast.crop_box) == (plain.original_size, plain.crop_box)
    assert fast.original_size == ((900, 1200) if orientation == 6 else (1200, 900))


@needs_extension
def test_colour_and_display_decodes_do_not_use_it(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(imaging, "luma_dc_picture", lambda *args: calls.append(args))
    data = pillow_jpeg((1200, 900))
    imaging.load_square(data, 64, "rgb")
    imaging.load_square(data, 300, "grayscale")  # a 1/4-scale decode
    imaging.load_views(data, 64, "grayscale", display_side=400)
    assert calls == []
