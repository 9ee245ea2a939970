"""Photos of every kind a phone or a lab produces come out the same way: upright, centre square, right size."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from lightning_module.data.imaging import (
    MAX_PIXELS,
    PhotoError,
    centre_square_box,
    load_square,
    load_upright,
    load_views,
    load_views_overlapped,
)


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _marked_photo(width: int = 120, height: int = 90) -> Image.Image:
    """Grey photo with a white block in the top-left corner of its centre square, to check orientation."""
    pixels = np.full((height, width, 3), 60, np.uint8)
    left, top, _, _ = centre_square_box(width, height)
    pixels[top : top + 20, left : left + 20] = 255
    return Image.fromarray(pixels)


def test_centre_square_of_a_phone_photo() -> None:
    assert centre_square_box(3024, 4032) == (0, 504, 3024, 3528)
    assert centre_square_box(4032, 3024) == (504, 0, 3528, 3024)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int) -> None:
    upright = _marked_photo()
    # Store the pixels rotated the way a camera would, with the tag that undoes it.
    undo = {1: None, 3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[orientation]
    stored = upright.transpose(undo) if undo else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "photo.jpg"
    stored.save(path, quality=95, exif=exif.tobytes())
    assert ImageOps.exif_transpose(Image.open(path)).size == upright.size  # the fixture itself is right

    prepared = load_square(path, 30, "grayscale")
    array = prepared.as_array()
    assert prepared.original_size == upright.size
    assert array[:5, :5].mean() > 200, "the white mark must end up top-left after orientation"
    assert array[-5:, -5:].mean() < 100


def test_grayscale_and_colour_modes(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    _marked_photo().save(path)
    assert load_square(path, 24, "grayscale").as_array().shape == (24, 24)
    assert load_square(path, 24, "rgb").as_array().shape == (24, 24, 3)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Image.new("RGBA", (64, 48), (200, 10, 10, 0)), id="rgba-transparent"),
        pytest.param(lambda: Image.new("P", (64, 48), 3), id="palette"),
        pytest.param(lambda: Image.new("CMYK", (64, 48), (0, 255, 255, 0)), id="cmyk"),
        pytest.param(lambda: Image.new("LA", (64, 48), (128, 255)), id="gray-alpha"),
        pytest.param(lambda: Image.new("1", (64, 48), 1), id="bilevel"),
    ],
)
def test_unusual_modes_become_8bit(make) -> None:
    image = make()
    buffer = io.BytesIO()
    image.save(buffer, "TIFF" if image.mode == "CMYK" else "PNG")
    array = load_square(buffer.getvalue(), 16, "rgb").as_array()
    assert array.dtype == np.uint8 and array.shape == (16, 16, 3)


def test_transparent_areas_become_white() -> None:
    array = load_square(_png_bytes(Image.new("RGBA", (64, 48), (200, 10, 10, 0))), 16, "rgb").as_array()
    assert array.min() == 255


def test_cmyk_red_stays_red() -> None:
    buffer = io.BytesIO()
    Image.new("CMYK", (64, 48), (0, 255, 255, 0)).save(buffer, "JPEG")
    red, green, blue = load_square(buffer.getvalue(), 16, "rgb").as_array().reshape(-1, 3).mean(0)
    assert red > 200 and green < 60 and blue < 60


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    values = np.tile(np.linspace(0, 65535, 48).astype(np.uint16), (48, 1))  # square: nothing cropped
    array = load_square(_png_bytes(Image.fromarray(values)), 48, "grayscale").as_array()
    assert array.min() < 20 and array.max() > 235, "the full 16-bit range must map onto 0..255"
    assert np.all(np.diff(array[24].astype(int)) >= -2), "a ramp stays a ramp"


def test_animated_gif_uses_first_frame() -> None:
    frames = [Image.new("L", (64, 48), value) for value in (30, 220)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    prepared = load_square(buffer.getvalue(), 16, "grayscale")
    assert prepared.as_array().mean() < 60
    assert any("first frame" in note for note in prepared.notes)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"hello, this is a text file renamed to .jpg\n" * 20, "not an image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><rect/></svg>", "markup"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "markup"),
    ],
)
def test_non_photos_are_refused_with_a_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(content)
    with pytest.raises(PhotoError, match=reason):
        load_square(path, 16)


def test_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    _marked_photo(400, 300).save(buffer, "JPEG", quality=95)
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(PhotoError, match="truncated|corrupt"):
        load_square(path, 16)


def test_tiny_and_huge_images_are_refused() -> None:
    with pytest.raises(PhotoError, match="too small"):
        load_square(_png_bytes(Image.new("L", (1, 1))), 16)
    with pytest.raises(PhotoError, match="too small"):
        load_square(_png_bytes(Image.new("L", (4000, 1))), 16)
    side = int(MAX_PIXELS**0.5) + 100
    with pytest.raises(PhotoError, match="too many pixels"):
        load_square(_png_bytes(Image.new("1", (side, side))), 16)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PhotoError, match="not found"):
        load_square(tmp_path / "nope.jpg", 16)


def test_fast_jpeg_path_matches_a_full_decode(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    smooth = Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).resize((1600, 1200), Image.BICUBIC)
    path = tmp_path / "big.jpg"
    smooth.save(path, quality=92)
    fast = load_square(path, 64, "grayscale").as_array().astype(float)
    full = Image.open(path).crop(centre_square_box(1600, 1200)).resize((64, 64), Image.BICUBIC).convert("L")
    assert np.abs(fast - np.asarray(full, float)).mean() <= 1.0


def test_an_mpo_photo_is_prepared_as_the_same_jpeg() -> None:
    """Many phones and cameras write MPO: a JPEG followed by other pictures (a large preview, a depth map), which
    Pillow opens as a two-frame image. It must be decoded as its JPEG is (at reduced scale, upright) and not be
    called "animated"."""
    rng = np.random.default_rng(1)
    photo = Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).resize((1600, 1200), Image.BICUBIC)
    exif = Image.Exif()
    exif[0x0112] = 6
    mpo, jpeg = io.BytesIO(), io.BytesIO()
    photo.save(mpo, "MPO", save_all=True, append_images=[photo.resize((400, 300))], quality=90, exif=exif)
    photo.save(jpeg, "JPEG", quality=90, exif=exif)
    assert Image.open(io.BytesIO(mpo.getvalue())).format == "MPO"
    for size, mode in ((50, "grayscale"), (64, "rgb")):  # the 1/8-scale grey decode and a colour one
        as_mpo, as_jpeg = load_square(mpo.getvalue(), size, mode), load_square(jpeg.getvalue(), size, mode)
        assert as_mpo.notes == [] and np.array_equal(as_mpo.as_array(), as_jpeg.as_array())
        assert as_mpo.original_size == (1200, 1600)
    (square, shown), (square_jpeg, shown_jpeg) = (load_views(d.getvalue(), 64, "rgb", 400) for d in (mpo, jpeg))
    assert square.notes == [] and np.array_equal(square.as_array(), square_jpeg.as_array())
    assert np.array_equal(np.asarray(shown), np.asarray(shown_jpeg)) and shown.size == (300, 400)
    assert np.array_equal(np.asarray(load_upright(mpo.getvalue(), 400)), np.asarray(load_upright(jpeg.getvalue(), 400)))


def test_upright_display_copy_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    _marked_photo(1200, 900).save(path)
    shown = load_upright(path, max_side=300)
    assert max(shown.size) <= 300 and shown.mode == "RGB"


@pytest.mark.parametrize("color_mode", ["grayscale", "rgb"])
def test_one_decode_gives_the_model_input_and_the_display_copy(tmp_path: Path, color_mode: str) -> None:
    """``load_views`` (the Assess page's decode) sees what ``load_square`` (training's) sees, upright, to a fraction
    of a grey level, and shows what ``load_upright`` shows."""
    rng = np.random.default_rng(3)
    smooth = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).resize((1600, 1200), Image.BICUBIC)
    pixels = np.asarray(smooth).copy()
    left, top, _, _ = centre_square_box(1600, 1200)
    pixels[top : top + 200, left : left + 200] = 255  # top-left of the centre square, once upright
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated, as a phone held upright saves it
    path = tmp_path / "phone.jpg"
    Image.fromarray(pixels).transpose(Image.Transpose.ROTATE_90).save(path, quality=92, exif=exif.tobytes())

    photo, shown = load_views(path, 64, color_mode, display_side=300)
    square = load_square(path, 64, color_mode)
    assert photo.original_size == square.original_size == (1600, 1200) and photo.crop_box == square.crop_box
    model_input = photo.as_array().astype(float)
    assert model_input.shape == square.as_array().shape
    assert np.abs(model_input - square.as_array()).mean() <= 0.5
    assert model_input[:4, :4].mean() > 200, "upright: the white block is top-left"
    assert shown.mode == "RGB" and shown.size == load_upright(path, 300).size == (300, 225)
    assert np.abs(np.asarray(shown, float) - np.asarray(load_upright(path, 300), float)).mean() <= 1.0


def test_the_overlapped_decode_gives_the_same_views(tmp_path: Path) -> None:
    """``load_views_overlapped`` (the Assess page's: the display copy made while the model runs) gives exactly what
    ``load_views`` gives, and leaves a file the caller opened to the caller."""
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    _marked_photo(1200, 900).save(path, quality=92, exif=exif.tobytes())
    photo, shown = load_views(path, 64, "rgb", display_side=300)
    with path.open("rb") as handle:
        overlapped, pending = load_views_overlapped(handle, 64, "rgb", display_side=300)
        copy = pending.result(timeout=30)
        assert not handle.closed, "the caller's file stays the caller's"
    assert np.array_equal(overlapped.as_array(), photo.as_array()) and overlapped.crop_box == photo.crop_box
    assert copy.size == shown.size == (225, 300) and np.array_equal(np.asarray(copy), np.asarray(shown))


def test_one_decode_refuses_what_the_budget_refuses() -> None:
    data = _png_bytes(Image.new("L", (400, 300)))
    with pytest.raises(PhotoError, match="megapixel limit for uploads"):
        load_views(data, 32, "grayscale", 200, max_pixels=100_000)
    photo, shown = load_views(data, 32, "grayscale", 200, max_pixels=120_000)
    assert photo.image.size == (32, 32) and shown.size == (200, 150)


def test_every_photo_format_opens_in_a_fresh_process(tmp_path: Path) -> None:
    """The imaging module registers only the Pillow plugins it needs (not Image.init()'s fifty): each format a
    person may bring must still open in a process where nothing else registered anything."""
    import subprocess
    import sys

    pixels = Image.fromarray(np.random.default_rng(0).integers(0, 255, (90, 120, 3), dtype=np.uint8))
    written = []
    for suffix in ("jpg", "png", "webp", "bmp", "tiff", "gif", "heic", "avif"):
        try:
            if suffix == "heic":
                import pillow_heif

                pillow_heif.register_heif_opener()
            pixels.save(tmp_path / f"photo.{suffix}")
        except (ImportError, KeyError, OSError):  # a codec this machine lacks (the reader skips it the same way)
            continue
        written.append(str(tmp_path / f"photo.{suffix}"))
    assert {"photo.jpg", "photo.png", "photo.webp", "photo.tiff"} <= {Path(p).name for p in written}
    script = (
        "import sys\n"
        "from PIL import Image\n"
        "from lightning_module.data.imaging import load_square\n"
        "for path in sys.argv[1:]:\n"
        "    print(path, load_square(path, 16).image.size)\n"
        "assert Image._initialized < 2, 'Image.init() ran'\n"
    )
    done = subprocess.run([sys.executable, "-c", script, *written], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("(16, 16)") == len(written)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_the_overlapped_decode_works_in_a_forked_child(tmp_path: Path) -> None:
    """A process forked after the parent used ``load_views`` (whose display copies are made on a thread pool) gets
    its views too, instead of waiting forever on the parent's threads, which a child does not have."""
    path = tmp_path / "photo.jpg"
    _marked_photo(400, 300).save(path)
    load_views(path, 32, "rgb", display_side=100)  # the parent's pool exists now
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only when the views come back within the time limit
        try:
            _, pending = load_views_overlapped(path, 32, "rgb", display_side=100)
            os._exit(0 if pending.result(timeout=20).size == (100, 75) else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
