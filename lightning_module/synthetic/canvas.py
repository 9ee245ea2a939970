"""Drawing in scene ("design") coordinates through a camera, with per-defect bounding boxes recorded as drawn.

Every scene is laid out on a fixed 640 x 480 design frame (y down). The :class:`Camera` maps design points to the
stored image's pixels (zoom, shift and a small tilt, then scale to the output size), so a scene can be rendered at
any size and framing while staying the same scene. While a defect is being drawn, :meth:`Canvas.recording`
collects the pixel extent of everything drawn, which becomes that defect's box in the manifest: the box is where
the defect's pixels really are, not an estimate.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, ImageDraw

DESIGN_W, DESIGN_H = 640, 480
Point = tuple[float, float]
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Camera:
    """Design frame -> stored-image pixels: zoom about the frame centre, shift, tilt (degrees), then scale."""

    width: int
    height: int
    zoom: float = 1.0
    shift_x: float = 0.0
    shift_y: float = 0.0
    tilt_deg: float = 0.0

    @property
    def scale(self) -> float:
        """Pixels per design unit."""
        return self.width / DESIGN_W * self.zoom

    def coefficients(self) -> tuple[float, float, float, float, float, float]:
        k = self.width / DESIGN_W
        cos, sin = math.cos(math.radians(self.tilt_deg)), math.sin(math.radians(self.tilt_deg))
        cx, cy = DESIGN_W / 2, DESIGN_H / 2
        a, b = k * self.zoom * cos, -k * self.zoom * sin
        d, e = k * self.zoom * sin, k * self.zoom * cos
        c = k * (cx + self.shift_x) - a * cx - b * cy
        f = k * (cy + self.shift_y) - d * cx - e * cy
        return a, b, c, d, e, f


class Canvas:
    """A PIL image plus a camera; all coordinates given to its methods are design coordinates."""

    def __init__(self, image: Image.Image, camera: Camera) -> None:
        self.image = image
        self.draw = ImageDraw.Draw(image)
        # The primitives below call Pillow's drawing core directly, with each colour's ink looked up once: the
        # same calls ImageDraw makes for a plain fill, without its per-call argument handling, which cost more
        # than the drawing itself for the hundreds of small leaf ellipses in a crown.
        self._core = self.draw.draw
        self._inks: dict[RGB, int] = {}
        self.camera = camera
        self.scale = camera.scale
        self._m = camera.coefficients()
        self._recording: list[float] | None = None
        self.boxes: dict[str, tuple[int, int, int, int]] = {}

    # -- geometry --------------------------------------------------------------------------------------------
    def pt(self, x: float, y: float) -> Point:
        a, b, c, d, e, f = self._m
        return (a * x + b * y + c, d * x + e * y + f)

    def pts(self, points: Sequence[Point]) -> list[Point]:
        a, b, c, d, e, f = self._m
        return [(a * x + b * y + c, d * x + e * y + f) for x, y in points]

    def width(self, w: float) -> int:
        """A design line width in pixels (at least 1)."""
        return max(1, round(w * self.scale))

    def _extend(self, points: Sequence[Point], pad: float) -> None:
        if self._recording is None:
            return
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        r = self._recording
        r[0] = min(r[0], min(xs) - pad)
        r[1] = min(r[1], min(ys) - pad)
        r[2] = max(r[2], max(xs) + pad)
        r[3] = max(r[3], max(ys) + pad)

    @contextmanager
    def recording(self, name: str) -> Iterator[None]:
        """Record the pixel extent of everything drawn inside the block as ``boxes[name]`` (clipped to the image)."""
        outer = self._recording
        self._recording = [math.inf, math.inf, -math.inf, -math.inf]
        try:
            yield
        finally:
            x0, y0, x1, y1 = self._recording
            self._recording = outer
            if outer is not None and math.isfinite(x0):  # nested: the outer box also covers this
                outer[0], outer[1] = min(outer[0], x0), min(outer[1], y0)
                outer[2], outer[3] = max(outer[2], x1), max(outer[3], y1)
            w, h = self.image.size
            box = (max(0, math.floor(x0)), max(0, math.floor(y0)), min(w, math.ceil(x1)), min(h, math.ceil(y1)))
            if math.isfinite(x0) and box[2] - box[0] >= 1 and box[3] - box[1] >= 1:
                self.boxes[name] = box

    def include_ellipse(self, cx: float, cy: float, rx: float, ry: float) -> None:
        """Extend the current box over an area without drawing (e.g. where dieback removed leaves)."""
        x, y = self.pt(cx, cy)
        sx, sy = rx * self.scale, ry * self.scale
        self._extend(((x - sx, y - sy), (x + sx, y + sy)), 1.0)

    def include_points(self, points: Sequence[Point]) -> None:
        """Extend the current box over a polygon's area without drawing it."""
        self._extend(self.pts(points), 1.0)

    # -- primitives ------------------------------------------------------------------------------------------
    def _ink(self, colour: RGB) -> int:
        ink = self._inks.get(colour)
        if ink is None:
            ink = self._inks[colour] = self._core.draw_ink(colour)
        return ink

    def polygon(self, points: Sequence[Point], fill: RGB, outline: RGB | None = None) -> None:
        p = self.pts(points)
        if outline is None and isinstance(fill, tuple):
            self._core.draw_polygon(p, self._ink(fill), 1)  # what ImageDraw.polygon does for a plain fill
        else:
            self.draw.polygon(p, fill=fill, outline=outline)
        self._extend(p, 1.0)

    def line(self, points: Sequence[Point], fill: RGB, width: float, joint: bool = False) -> None:
        p = self.pts(points)
        w = self.width(width)
        if isinstance(fill, tuple) and not (joint and w > 4):
            self._core.draw_lines(p, self._ink(fill), w)  # what ImageDraw.line does without a curved joint
        else:
            self.draw.line(p, fill=fill, width=w, joint="curve" if joint and w > 2 else None)
        self._extend(p, w / 2 + 1.0)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, fill: RGB | None,
                outline: RGB | None = None, outline_width: float = 1.0) -> None:
        a, b, c, d, e, f = self._m  # self.pt and max() inlined: a crown has hundreds of these
        x, y = a * cx + b * cy + c, d * cx + e * cy + f
        sx, sy = rx * self.scale, ry * self.scale
        sx, sy = sx if sx > 0.5 else 0.5, sy if sy > 0.5 else 0.5
        box = (x - sx, y - sy, x + sx, y + sy)
        if outline is None and isinstance(fill, tuple):
            ink = self._inks.get(fill)
            self._core.draw_ellipse(box, self._ink(fill) if ink is None else ink, 1)  # ImageDraw.ellipse, plain fill
        else:
            self.draw.ellipse(box, fill=fill, outline=outline, width=self.width(outline_width) if outline else 0)
        if self._recording is not None:
            self._extend(((box[0], box[1]), (box[2], box[3])), 1.0)

    def chord(self, cx: float, cy: float, rx: float, ry: float, start: float, end: float, fill: RGB,
              outline: RGB | None = None) -> None:
        """A filled ellipse segment between angles ``start`` and ``end`` (degrees, clockwise from 3 o'clock)."""
        x, y = self.pt(cx, cy)
        sx, sy = max(0.5, rx * self.scale), max(0.5, ry * self.scale)
        tilt = self.camera.tilt_deg
        box = (x - sx, y - sy, x + sx, y + sy)
        self.draw.chord(box, start + tilt, end + tilt, fill=fill, outline=outline)
        self._extend(((box[0], box[1]), (box[2], box[3])), 1.0)
