"""Render one photo of one tree: street, tree, defects, wires, then the camera's noise and blur.

``render(tree, photo, width, height, disabled={...})`` draws the same scene with some defects switched off, pixel
for pixel the same elsewhere; the tests use it to check each manifest box lies on its defect.
:func:`photo_jpeg` is the file the generator writes (JPEG with EXIF): the generator and the re-drawing of a
manifest row (:mod:`.redraw`) both call it, so a re-drawn photo is byte-identical to the file on disk.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Collection
from functools import lru_cache

import numpy as np
from PIL import Image, ImageFilter

from . import defects as d
from .canvas import Camera, Canvas
from .exif import exif_bytes
from .scene import (
    draw_background_trees,
    draw_cars,
    draw_fence,
    draw_ground,
    draw_houses,
    draw_pole,
    draw_road,
    draw_shadow,
    draw_sky,
    draw_wires,
    wire_y_at,
)
from .spec import PhotoSpec, TreeSpec, rng_for, tree_model
from .tree import draw_tree

Box = tuple[int, int, int, int]

# Additive defects, in drawing order (later ones on top): each is drawn onto the finished tree.
_ADDITIVE: tuple[tuple[str, Callable], ...] = (
    ("root_plate_heave", d.draw_root_plate_heave),
    ("cavity", d.draw_cavity),
    ("trunk_crack", d.draw_trunk_crack),
    ("fungal_conks", d.draw_fungal_conks),
    ("dead_limbs", d.draw_dead_limbs),
    ("hanging_branch", d.draw_hanging_branch),
)


def render(tree: TreeSpec, photo: PhotoSpec, width: int, height: int,
           disabled: Collection[str] = ()) -> tuple[Image.Image, dict[str, Box]]:
    """The photo as an RGB image and the pixel box of every drawn defect (defects in ``disabled`` are not drawn)."""
    camera = Camera(width, height, photo.zoom, photo.shift_x, photo.shift_y, photo.tilt)
    canvas = Canvas(Image.new("RGB", (width, height)), camera)
    sev = {name: (0.0 if name in disabled else s) for name, s in tree.severities.items()}
    scene, light = tree.scene, tree.lighting

    def rng(key: str):
        return rng_for(tree.seed, tree.index, key)

    far = draw_sky(canvas, scene, rng("sky"))
    draw_background_trees(canvas, scene, light, far, rng("background_trees"))
    draw_houses(canvas, scene, light, far, rng("houses"))
    draw_ground(canvas, scene, light, rng("ground"))
    draw_road(canvas, scene, light, rng("road"))
    draw_cars(canvas, scene, light, far, rng("cars"))
    if scene.fence:
        draw_fence(canvas, scene, light, rng("fence"))
    if scene.has_pole:
        draw_pole(canvas, scene, light)

    model = tree_model(tree.seed, tree.index, tree.tree, light, sev["lean"], sev["codominant_stems"],
                       sev["crown_dieback"])
    if scene.view == "drone":
        draw_shadow(canvas, scene, light, *tree.tree.base, model.crown_rx)
    draw_tree(canvas, model, rng("bark"))
    for name, draw in _ADDITIVE:
        if sev[name] > 0:
            draw(canvas, model, sev[name], rng(name))
    if scene.has_pole:
        draw_wires(canvas, scene, light)
    if sev["wire_contact"] > 0:
        d.draw_wire_contact(canvas, model, sev["wire_contact"], rng("wire_contact"), wire_y_at(scene))

    image = _camera_effects(canvas.image, photo, camera.scale)
    return image, dict(canvas.boxes)


def photo_jpeg(tree: TreeSpec, photo: PhotoSpec, width: int, height: int,
               disabled: Collection[str] = ()) -> tuple[bytes, dict[str, Box]]:
    """The photo as the generator saves it (JPEG at the photo's quality, with EXIF) and its defect boxes."""
    image, boxes = render(tree, photo, width, height, disabled)
    exif = exif_bytes(tree.make, tree.model, photo.taken, tree.latitude, tree.longitude, width, height)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=photo.quality, exif=exif)
    return buffer.getvalue(), boxes


@lru_cache(maxsize=2)
def _noise_bank(rows: int, cols: int) -> np.ndarray:
    """Fixed noise, 16 units per standard deviation (same in every process): cropped at a per-photo offset,
    it is fast and repeatable where drawing fresh noise per photo would cost more than the whole drawing."""
    noise = np.random.default_rng(20240613).standard_normal((rows, cols), dtype=np.float32) * 16
    return np.clip(noise, -120, 120).astype(np.int16)


def _camera_effects(image: Image.Image, photo: PhotoSpec, scale: float) -> Image.Image:
    """Focus blur on some photos, then sensor (luminance) noise, as a phone camera would add them.

    Both work one colour plane at a time, which gives the bytes a whole-image blur and a broadcast addition give
    (each is per channel) in two thirds of the time: Pillow blurs an RGB image as four bytes a pixel, padding
    included, and NumPy adds an (h, w) plane to an (h, w, 3) array in runs of three.
    """
    w, h = image.size
    radius = photo.blur * scale
    planes = image.split()
    if radius >= 0.4:
        planes = tuple(plane.filter(ImageFilter.BoxBlur(radius)) for plane in planes)
    rows, cols = max(1024, _round_up(h + 64)), max(1024, _round_up(w + 64))
    bank = _noise_bank(rows, cols)
    oy = photo.grain % (rows - h)
    ox = (photo.grain // 4099) % (cols - w)
    noise = (bank[oy:oy + h, ox:ox + w] * np.int16(round(photo.noise * 16))) >> 8
    channels = []
    for plane in planes:
        pixels = np.add(np.asarray(plane), noise, dtype=np.int16)
        np.clip(pixels, 0, 255, out=pixels)
        channels.append(Image.fromarray(pixels.astype(np.uint8)))
    return Image.merge("RGB", channels)


def _round_up(n: int, step: int = 512) -> int:
    return -(-n // step) * step
