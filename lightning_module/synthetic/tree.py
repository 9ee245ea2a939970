"""One roadside tree: its geometry (trunk, stems, branches, leaves or needles) and how it is drawn.

A :class:`TreeModel` is built from :class:`TreeParams` (the tree's fixed character: form, size, colours) and the
severities of the three defects that change the tree's structure: ``lean`` tilts the trunk, ``codominant_stems``
forks it at the crown into two stems in a tight V, ``crown_dieback`` strips the top of the crown to bare grey
twigs. All randomness comes from one ``random.Random`` given by the caller, consumed the same way whatever the
severities, so a tree rendered with a defect switched off is the same tree in every other respect.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from .canvas import RGB, Canvas, Point
from .defects import DEAD_WOOD

Light = Callable[[RGB], RGB]


@dataclass(frozen=True)
class TreeParams:
    """What kind of tree stands where; severities are kept separately."""

    form: str  # "deciduous" or "conifer"
    leaf_on: bool  # conifers are always True
    base: Point  # where the trunk meets the ground, design coordinates
    height: float  # base to crown top, design pixels
    trunk_frac: float  # visible trunk (base to crown) as a share of height
    width_frac: float  # trunk width at the base as a share of height
    crown_frac: float  # crown half-width as a share of height
    lean_dir: int  # +1 leans right, -1 left, when it leans
    natural_tilt: float  # degrees; a sound tree is never perfectly plumb
    bend: float  # trunk curvature
    bark: RGB
    foliage: tuple[RGB, RGB, RGB, RGB]  # dark, mid, light, speckle
    density: float  # 0.8 sparse .. 1.2 dense crown
    sun_side: int  # which side of the trunk is lit
    heave_side: int  # side of root-plate heave (away from the lean)


def _leaf_patterns(count: int = 97) -> list[tuple[tuple, tuple]]:
    """Fixed leaf-mass layouts, one picked per cluster: far cheaper than drawing 24 random numbers each time."""
    rng = random.Random("treerisk-synthetic/leaf-patterns")
    patterns = []
    for _ in range(count):
        blobs = tuple((rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.3), rng.uniform(0.35, 0.55)) for _ in range(3))
        specks = tuple((rng.uniform(-0.85, 0.85), rng.uniform(-0.85, 0.85), rng.random() < 0.5) for _ in range(5))
        patterns.append((blobs, specks))
    return patterns


_LEAF_PATTERNS = _leaf_patterns()


@dataclass
class _Branch:
    points: list[Point]
    width: float
    depth: int
    dead: bool = False


@dataclass
class _Cluster:
    x: float
    y: float
    r: float
    blobs: tuple[tuple[float, float, float], ...] = ()  # lit leaf masses: offset x, y and radius, in radii
    specks: tuple[tuple[float, float, bool], ...] = ()  # leaf-texture dots: offsets in radii, bright or dark


@dataclass
class _Tier:
    stem: int
    apex: Point
    left: Point
    right: Point
    bottom: list[Point]
    centre: Point
    shade: int


@dataclass
class _Stem:
    start: Point
    angle: float
    length: float
    width: float

    def at(self, s: float) -> Point:
        return (self.start[0] + self.length * s * math.sin(self.angle),
                self.start[1] - self.length * s * math.cos(self.angle))


@dataclass
class TreeModel:
    params: TreeParams
    light: Light
    lean_severity: float = 0.0
    codominant_severity: float = 0.0
    dieback_severity: float = 0.0
    dieback_cut: float = math.inf  # axial height above which the crown is dead (inf: no dieback)
    stems: list[_Stem] = field(default_factory=list)
    branches: list[_Branch] = field(default_factory=list)
    clusters: list[_Cluster] = field(default_factory=list)
    tiers: list[_Tier] = field(default_factory=list)
    shed: list[_Cluster] = field(default_factory=list)  # leaf masses lost to dieback (part of its box)

    # -- derived quantities used by the defect drawers ----------------------------------------------------
    @property
    def base(self) -> Point:
        return self.params.base

    @property
    def height(self) -> float:
        return self.params.height

    @property
    def form(self) -> str:
        return self.params.form

    @property
    def leaf_on(self) -> bool:
        return self.params.leaf_on

    @property
    def heave_side(self) -> int:
        return self.params.heave_side

    @property
    def foliage(self) -> tuple[RGB, ...]:
        return self.params.foliage[:3]

    @property
    def bark_dark(self) -> RGB:
        return tuple(int(c * 0.6) for c in self.params.bark)  # type: ignore[return-value]

    @property
    def bark_light(self) -> RGB:
        return tuple(min(255, int(c * 1.35 + 12)) for c in self.params.bark)  # type: ignore[return-value]

    # Remembered: nothing changes a model's parameters or lean after it is built, and trunk_point, called a
    # hundred times a photo, needs the angle and its sine and cosine every time.
    @cached_property
    def angle(self) -> float:
        p = self.params
        return math.radians(p.natural_tilt + p.lean_dir * 32.0 * self.lean_severity)

    @cached_property
    def _angle_sin_cos(self) -> tuple[float, float]:
        return math.sin(self.angle), math.cos(self.angle)

    @property
    def normal(self) -> Point:
        return (math.cos(self.angle), math.sin(self.angle))

    @property
    def trunk_length(self) -> float:
        return self.params.height * self.params.trunk_frac

    @property
    def crown_rx(self) -> float:
        return self.params.height * self.params.crown_frac

    def trunk_width(self, t: float) -> float:
        w0 = self.params.height * self.params.width_frac
        w1 = w0 * 0.6
        flare = w0 * 0.4 * max(0.0, 1.0 - t / 0.08) ** 2
        return w1 + (w0 - w1) * (1.0 - t) ** 1.2 + flare

    def trunk_point(self, t: float, lateral: float = 0.0) -> Point:
        """Point ``t`` (0 base .. 1 crown) along the trunk, ``lateral`` trunk-widths off its axis."""
        sin, cos = self._angle_sin_cos
        length = self.trunk_length
        off = self.params.bend * length * t * t + lateral * self.trunk_width(t)
        bx, by = self.params.base
        return (bx + length * t * sin + off * cos, by - length * t * cos + off * sin)

    def axial_height(self, x: float, y: float) -> float:
        """Distance above the base along the trunk's direction (the crown's 'up', leaning with it)."""
        a = self.angle
        bx, by = self.params.base
        return (x - bx) * math.sin(a) - (y - by) * math.cos(a)

    def stem_anchor(self, s: float) -> tuple[float, float, float]:
        """A point ``s`` of the way up a stem, and that stem's angle: where dead limbs attach."""
        stem = self.stems[0] if len(self.stems) == 1 or s < 0.4 else self.stems[1]
        x, y = stem.at(s)
        return x, y, stem.angle

    def hanger_anchor(self, rng: random.Random) -> Point:
        """A point on a real branch (or conifer tier tip) in the lower crown, where a broken branch hangs from."""
        if self.tiers:
            lower = self.tiers[: max(1, len(self.tiers) // 3)]
            tier = rng.choice(lower)
            tip = tier.left if rng.random() < 0.5 else tier.right
            f = rng.uniform(0.6, 0.85)
            return tier.centre[0] + (tip[0] - tier.centre[0]) * f, tier.centre[1] + (tip[1] - tier.centre[1]) * f
        bottom, top = self.trunk_length, max(self.axial_height(*b.points[-1]) for b in self.branches)
        candidates = [b for b in self.branches if not b.dead and b.depth <= 2
                      and self.axial_height(*b.points[-1]) < bottom + 0.55 * (top - bottom)]
        branch = rng.choice(candidates or self.branches)
        (x0, y0), (x1, y1) = branch.points[0], branch.points[-1]
        f = rng.uniform(0.55, 0.9)
        return x0 + (x1 - x0) * f, y0 + (y1 - y0) * f

    @property
    def contact_x(self) -> float:
        xs = [s.at(0.5)[0] for s in self.stems]
        return sum(xs) / len(xs)

    def crown_top(self) -> float:
        """Smallest y (highest point) of the crown, design coordinates."""
        ys = [c.y - c.r for c in self.clusters] + [t.apex[1] for t in self.tiers]
        ys += [min(p[1] for p in b.points) for b in self.branches]
        return min(ys) if ys else self.trunk_point(1.0)[1]

    def extent(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the whole tree in design coordinates."""
        xs: list[float] = []
        ys: list[float] = []
        for c in self.clusters:
            xs += [c.x - c.r, c.x + c.r]
            ys += [c.y - c.r, c.y + c.r]
        for t in self.tiers:
            for p in (t.apex, t.left, t.right):
                xs.append(p[0])
                ys.append(p[1])
        for b in self.branches:
            xs += [p[0] for p in b.points]
            ys += [p[1] for p in b.points]
        for t in (0.0, 1.0):
            for lat in (-0.6, 0.6):
                x, y = self.trunk_point(t, lat)
                xs.append(x)
                ys.append(y)
        return min(xs), min(ys), max(xs), max(ys)


# -- building ---------------------------------------------------------------------------------------------------

def build_tree(params: TreeParams, light: Light, rng: random.Random, lean: float = 0.0,
               codominant: float = 0.0, dieback: float = 0.0) -> TreeModel:
    """Lay out the tree. ``rng`` is consumed identically whatever the three severities are."""
    model = TreeModel(params, light, lean, codominant, dieback)
    top = model.trunk_point(1.0)
    top_angle = model.angle + math.atan(2 * params.bend)
    crown_h = params.height * (1.0 - params.trunk_frac)
    w1 = model.trunk_width(1.0)
    conifer = params.form == "conifer"
    stem_len = crown_h * (1.0 if conifer else 0.62)
    spread = math.radians(6 + 16 * (1 - codominant)) * rng.uniform(0.8, 1.2)  # tighter V when worse
    if codominant > 0:
        model.stems = [_Stem(top, top_angle - spread, stem_len * 0.95, w1 * 0.8),
                       _Stem(top, top_angle + spread, stem_len * 0.95, w1 * 0.8)]
    else:
        model.stems = [_Stem(top, top_angle, stem_len, w1)]
    width_scale = 0.68 if codominant > 0 else 1.0
    # Two generators so the crown's layout does not depend on how many stems there are.
    layout = random.Random(rng.random())
    if conifer:
        _build_tiers(model, layout, width_scale)
    else:
        _build_crown(model, layout, width_scale)
    if dieback > 0:
        _apply_dieback(model, dieback)
    return model


def _build_crown(model: TreeModel, rng: random.Random, width_scale: float) -> None:
    p = model.params
    rx = model.crown_rx * width_scale
    max_depth = 2 if p.leaf_on else 3
    for index, stem in enumerate(model.stems):
        n_limbs = rng.randint(6, 8) if len(model.stems) == 1 else rng.randint(4, 5)
        outer = 0 if len(model.stems) == 1 else (-1 if index == 0 else 1)
        for i in range(n_limbs):
            s = 0.1 + 0.78 * i / (n_limbs - 1) + rng.uniform(-0.04, 0.04)
            side = (1 if i % 2 == 0 else -1) if not outer or rng.random() < 0.35 else outer
            rel = side * (1.2 - 0.8 * s + rng.uniform(-0.15, 0.15))
            length = rx * (0.95 - 0.3 * s) * rng.uniform(0.8, 1.05)
            _grow(model, rng, stem.at(s), stem.angle + rel, length, stem.width * 0.5, 1, max_depth, rx)
        _grow(model, rng, stem.at(1.0), stem.angle + rng.uniform(-0.2, 0.2), rx * 0.6, stem.width * 0.4, 1,
              max_depth, rx)


def _grow(model: TreeModel, rng: random.Random, start: Point, angle: float, length: float, width: float,
          depth: int, max_depth: int, rx: float) -> None:
    ex, ey = start[0] + length * math.sin(angle), start[1] - length * math.cos(angle)
    bow = rng.uniform(-0.12, 0.12) * length
    mid = ((start[0] + ex) / 2 + bow * math.cos(angle), (start[1] + ey) / 2 + bow * math.sin(angle))
    model.branches.append(_Branch([start, mid, (ex, ey)], width, depth))
    if model.params.leaf_on:
        # Leaves at the branch's end and, on inner branches, along it: a full crown, not a ring of balls.
        spots = [(ex, ey, 1.0)] if depth >= max_depth else [(ex, ey, 0.9), (mid[0], mid[1], 0.8)]
        for x, y, size in spots:
            r = rx * rng.uniform(0.2, 0.27) * model.params.density * size
            blobs, specks = _LEAF_PATTERNS[rng.randrange(len(_LEAF_PATTERNS))]
            model.clusters.append(_Cluster(x, y, r, blobs, specks))
    if depth >= max_depth:
        return
    for side in (-1, 1):
        f = rng.uniform(0.45, 0.85)
        sx, sy = start[0] + (ex - start[0]) * f, start[1] + (ey - start[1]) * f
        child = (angle + side * rng.uniform(0.45, 0.8)) * 0.88  # *0.88: shoots turn upwards
        _grow(model, rng, (sx, sy), child, length * rng.uniform(0.45, 0.62), width * 0.55, depth + 1, max_depth, rx)
    _grow(model, rng, (ex, ey), angle * 0.9 + rng.uniform(-0.2, 0.2), length * rng.uniform(0.45, 0.6),
          width * 0.6, depth + 1, max_depth, rx)


def _build_tiers(model: TreeModel, rng: random.Random, width_scale: float) -> None:
    rx = model.crown_rx * width_scale
    n = rng.randint(9, 13)
    for index, stem in enumerate(model.stems):
        a = stem.angle
        ux, uy = math.sin(a), -math.cos(a)
        nx, ny = math.cos(a), math.sin(a)
        th = stem.length / n * 1.7
        for i in range(n):
            s = i / n
            cx, cy = stem.at(s)
            hw = rx * (1.0 - s) ** 0.95 + 3.0
            droop = th * rng.uniform(0.25, 0.5)
            apex = (cx + ux * th, cy + uy * th)
            left = (cx - nx * hw - ux * droop, cy - ny * hw - uy * droop)
            right = (cx + nx * hw - ux * droop, cy + ny * hw - uy * droop)
            bottom: list[Point] = []
            for k in range(1, 6):
                f = k / 6
                jag = rng.uniform(-0.25, 0.35) * th
                bx = left[0] + (right[0] - left[0]) * f - ux * jag
                by = left[1] + (right[1] - left[1]) * f - uy * jag + th * 0.25 * math.sin(math.pi * f)
                bottom.append((bx, by))
            model.tiers.append(_Tier(index, apex, left, right, bottom, (cx, cy), rng.randint(0, 1)))


def _apply_dieback(model: TreeModel, severity: float) -> None:
    """Strip the top ``0.1 + 0.55 * severity`` of the crown: no leaves there, branches dead grey."""
    heights = [model.axial_height(c.x, c.y) + c.r for c in model.clusters]
    heights += [model.axial_height(*t.apex) for t in model.tiers]
    heights += [model.axial_height(*b.points[-1]) for b in model.branches]
    top = max(heights)
    bottom = model.trunk_length
    cut = top - (0.1 + 0.55 * severity) * (top - bottom)
    alive = [c for c in model.clusters if model.axial_height(c.x, c.y) + c.r * 0.3 < cut]
    model.shed = [c for c in model.clusters if model.axial_height(c.x, c.y) + c.r * 0.3 >= cut]
    model.clusters = alive
    for b in model.branches:
        if model.axial_height(*b.points[-1]) > cut:
            b.dead = True
    # Dead twigs break off: the finest dead branches of a leafless crown are gone, leaving stubs.
    if not model.params.leaf_on:
        model.branches = [b for b in model.branches if not (b.dead and b.depth >= 3)]
    model.dieback_cut = cut


# -- drawing ----------------------------------------------------------------------------------------------------

def draw_tree(canvas: Canvas, model: TreeModel, rng: random.Random) -> None:
    """Draw trunk, stems, branches and crown; record lean, dieback and codominant-stem boxes when present."""
    p = model.params
    light = model.light
    bark = light(p.bark)
    with _maybe_recording(canvas, "lean", model.lean_severity > 0):
        _draw_trunk(canvas, model, rng)
    for stem in model.stems:
        _draw_stem(canvas, model, stem, bark)
    live = [b for b in model.branches if not b.dead]
    for b in live:
        canvas.line(b.points, fill=bark if b.depth <= 2 else light(model.bark_dark), width=max(0.8, b.width))
    if p.form == "conifer":
        _draw_tiers(canvas, model, dead=False)
    else:
        _draw_foliage(canvas, model)
    if model.dieback_severity > 0:
        with canvas.recording("crown_dieback"):
            for c in model.shed:
                canvas.include_ellipse(c.x, c.y, c.r * 1.2, c.r * 1.2)
            for b in model.branches:
                if b.dead:
                    canvas.line(b.points, fill=light(DEAD_WOOD), width=max(1.0, b.width * 0.9))
            _draw_tiers(canvas, model, dead=True)
    if model.codominant_severity > 0:
        _draw_fork(canvas, model)


class _maybe_recording:
    def __init__(self, canvas: Canvas, name: str, active: bool) -> None:
        self._cm = canvas.recording(name) if active else None

    def __enter__(self) -> None:
        if self._cm is not None:
            self._cm.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self._cm is not None:
            self._cm.__exit__(*exc)


def _draw_trunk(canvas: Canvas, model: TreeModel, rng: random.Random) -> None:
    steps = 8
    ts = [i / steps for i in range(steps + 1)]
    left = [model.trunk_point(t, -0.5) for t in ts]
    right = [model.trunk_point(t, 0.5) for t in ts]
    canvas.polygon(left + right[::-1], fill=model.light(model.params.bark))
    side = model.params.sun_side
    lit = [model.trunk_point(t, side * 0.12) for t in ts] + [model.trunk_point(t, side * 0.5) for t in ts[::-1]]
    canvas.polygon(lit, fill=model.light(model.bark_light))
    shade = [model.trunk_point(t, -side * 0.3) for t in ts] + [model.trunk_point(t, -side * 0.5) for t in ts[::-1]]
    canvas.polygon(shade, fill=model.light(model.bark_dark))
    for _ in range(rng.randint(4, 7)):  # bark fissures
        lat = rng.uniform(-0.38, 0.38)
        pts = [model.trunk_point(t, lat + rng.uniform(-0.04, 0.04)) for t in ts[1:]]
        canvas.line(pts, fill=model.light(model.bark_dark), width=1.0)


def _draw_stem(canvas: Canvas, model: TreeModel, stem: _Stem, bark: RGB) -> None:
    a = stem.angle
    nx, ny = math.cos(a), math.sin(a)
    end_frac = 0.85 if model.params.form == "deciduous" else 1.0
    x0, y0 = stem.start
    x1, y1 = stem.at(end_frac)
    w0, w1 = stem.width / 2, stem.width * 0.12
    canvas.polygon([(x0 - nx * w0, y0 - ny * w0), (x1 - nx * w1, y1 - ny * w1),
                    (x1 + nx * w1, y1 + ny * w1), (x0 + nx * w0, y0 + ny * w0)], fill=bark)


def _draw_foliage(canvas: Canvas, model: TreeModel) -> None:
    """Leaf masses in three tones (shade below, lit on the sun side) with speckles for leaf texture."""
    dark, mid, bright, speck = (model.light(c) for c in model.params.foliage)
    sun = model.params.sun_side
    clusters = model.clusters
    for c in clusters:
        canvas.ellipse(c.x - 0.12 * c.r * sun, c.y + 0.15 * c.r, c.r, c.r * 0.9, fill=dark)
    for c in clusters:
        for bx, by, br in c.blobs:
            canvas.ellipse(c.x + (bx + 0.12 * sun) * c.r, c.y + by * c.r, br * c.r, br * c.r * 0.85, fill=mid)
    for c in clusters:
        bx, by, br = c.blobs[0]
        canvas.ellipse(c.x + (0.35 * sun + bx * 0.3) * c.r, c.y + (by * 0.3 - 0.35) * c.r, br * c.r * 0.55,
                       br * c.r * 0.45, fill=bright)
        for ox, oy, is_bright in c.specks:
            canvas.ellipse(c.x + ox * c.r, c.y + oy * c.r, c.r * 0.1, c.r * 0.08, fill=speck if is_bright else dark)


def _draw_tiers(canvas: Canvas, model: TreeModel, dead: bool) -> None:
    cut = model.dieback_cut
    dark, mid, bright, _ = (model.light(c) for c in model.params.foliage)
    sun = model.params.sun_side
    for t in model.tiers:
        is_dead = model.axial_height(*t.apex) > cut
        if is_dead != dead:
            continue
        if dead:
            canvas.include_points([t.left, t.apex, t.right, *t.bottom])  # its needles are gone: part of the box
            grey = model.light(DEAD_WOOD)
            canvas.line([t.centre, t.left], fill=grey, width=1.5)
            canvas.line([t.centre, t.right], fill=grey, width=1.5)
            canvas.line([t.centre, t.apex], fill=grey, width=2.0)
            continue
        canvas.polygon([t.left, t.apex, t.right, *t.bottom[::-1]], fill=dark if t.shade else mid)
        lit_edge = t.right if sun > 0 else t.left
        canvas.polygon([t.apex, lit_edge, t.bottom[3 if sun > 0 else 1]], fill=bright if t.shade else mid)


def _draw_fork(canvas: Canvas, model: TreeModel) -> None:
    """The fork of codominant stems: a bark bulge either side and the dark included-bark seam below it."""
    sev = model.codominant_severity
    x, y = model.trunk_point(1.0)
    w = model.trunk_width(1.0)
    seam_t = 1.0 - (0.12 + 0.3 * sev)
    with canvas.recording("codominant_stems"):
        for stem in model.stems:
            sx, sy = stem.at(0.28)
            canvas.line([(x, y), (sx, sy)], fill=model.light(model.params.bark), width=stem.width * 0.9)
        for side in (-1, 1):
            bx, by = model.trunk_point(0.97, side * 0.45)
            canvas.ellipse(bx, by, w * 0.22, w * 0.3, fill=model.light(model.bark_light))
        seam = [model.trunk_point(seam_t + (1 - seam_t) * i / 4, 0.03 * (-1) ** i) for i in range(5)]
        canvas.line(seam, fill=model.light((16, 12, 10)), width=1.0 + 2.2 * sev)
        vx0, vy0 = model.stems[0].at(0.12)
        vx1, vy1 = model.stems[1].at(0.12)
        canvas.polygon([(x, y + w * 0.1), (vx0, vy0), (vx1, vy1)], fill=model.light((20, 16, 12)))
