"""Everything around the tree: sky, ground, road, background trees, houses, fence, cars, utility pole and wires.

:class:`SceneParams` fixes the layout (where the horizon, road and pole are), decided once per tree so several
photos of one tree show the same street. Colours and small details come from per-part random generators so that
drawing one part never changes another.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .canvas import RGB, Canvas, Point
from .lighting import Lighting, haze

GROUND_BOTTOM = 900.0  # design y far below the frame, so zoomed-out or tilted photos still show ground


@dataclass(frozen=True)
class SceneParams:
    sky: str  # clear | overcast | dusk
    season: str  # summer | winter
    view: str  # phone | drone
    snow: bool
    horizon: float  # design y of the horizon (may be above the frame for drone views)
    road_side: int  # -1 road left of the tree, +1 right
    road_edge: tuple[Point, Point]  # the road's edge on the tree's side: vanishing point, bottom point
    road_width: float  # at the bottom of the frame
    has_pole: bool
    pole_x: float
    pole_base_y: float
    wire_attach_y: float  # crossarm height at the pole
    wire_span: float  # distance to the next (unseen) pole
    wire_sag: float
    wire_count: int
    telecom_drop: float  # extra lower cable this far under the power wires; 0 = none
    houses: int
    fence: bool
    cars: int
    bg_trees: int
    sun_side: int

    def wire_y(self, x: float, drop: float = 0.0, offset: int = 0) -> float:
        """Height of a wire at design x: a sagging span to each side of the pole."""
        u = min(1.0, abs(x - self.pole_x) / self.wire_span)
        return self.wire_attach_y + drop + offset * 2.0 + self.wire_sag * 4 * u * (1 - u)


def sky_colours(sky: str, rng: random.Random) -> tuple[RGB, RGB]:
    """(top, horizon) colours of the sky gradient."""
    j = rng.randint
    if sky == "overcast":
        top = (165 + j(-15, 15),) * 3
        return (top[0], top[0] + 3, top[0] + 8), (208 + j(-10, 10), 210 + j(-10, 10), 214 + j(-10, 10))
    if sky == "dusk":
        return (45 + j(-10, 15), 52 + j(-10, 15), 105 + j(-15, 20)), (240 + j(-15, 10), 150 + j(-25, 30), 90 + j(-20, 20))
    top = (70 + j(-20, 25), 125 + j(-20, 25), 205 + j(-15, 30))
    return top, (185 + j(-15, 20), 210 + j(-12, 15), 235 + j(-10, 15))


def draw_sky(canvas: Canvas, scene: SceneParams, rng: random.Random) -> RGB:
    """Fill the image with the sky gradient, add clouds; returns the horizon colour (for haze)."""
    top, horizon = sky_colours(scene.sky, rng)
    w, h = canvas.image.size
    _, hy = canvas.pt(320.0, scene.horizon)
    hy = max(hy, h * 0.25)
    rows = np.arange(h, dtype=np.float32)[:, None] / hy
    mix = np.clip(rows, 0.0, 1.0) ** 0.8
    column = (np.array(top, np.float32) * (1 - mix) + np.array(horizon, np.float32) * mix).astype(np.uint8)
    canvas.image.paste(Image.fromarray(column.reshape(h, 1, 3)).resize((w, h), Image.Resampling.NEAREST))
    counts = {"clear": (0, 0, 1, 2, 3), "overcast": (3, 4, 5, 6), "dusk": (0, 1, 2, 3)}
    n_clouds = rng.choice(counts[scene.sky])
    for _ in range(n_clouds):
        cx, cy = rng.uniform(-50, 690), rng.uniform(-30, max(0.0, scene.horizon - 30))
        if scene.sky == "dusk":
            colour = (235, 150 + rng.randint(-20, 30), 130 + rng.randint(-20, 20))
            canvas.ellipse(cx, cy, rng.uniform(60, 160), rng.uniform(4, 9), fill=colour)
            continue
        base = (248, 248, 250) if scene.sky == "clear" else (185 + rng.randint(-12, 12),) * 3
        for _ in range(rng.randint(3, 6)):
            r = rng.uniform(14, 40) * (2.0 if scene.sky == "overcast" else 1.0)
            canvas.ellipse(cx + rng.uniform(-50, 50), cy + rng.uniform(-10, 10), r * 1.5, r * 0.8, fill=base)
    return horizon


def draw_ground(canvas: Canvas, scene: SceneParams, light: Lighting, rng: random.Random) -> None:
    """Grass (or straw, or snow) from the horizon down, with patches nearer the camera bigger."""
    if scene.snow:
        base = (222 + rng.randint(-12, 10), 226 + rng.randint(-12, 10), 234 + rng.randint(-10, 10))
    elif scene.season == "winter":
        base = (128 + rng.randint(-20, 20), 116 + rng.randint(-15, 15), 86 + rng.randint(-15, 15))
    else:
        base = (82 + rng.randint(-15, 20), 124 + rng.randint(-15, 25), 56 + rng.randint(-12, 15))
    y0 = scene.horizon
    canvas.polygon([(-600, y0), (1240, y0), (1240, GROUND_BOTTOM), (-600, GROUND_BOTTOM)], fill=light(base))
    for _ in range(34):
        y = y0 + (rng.random() ** 0.7) * (500 - y0)
        depth = (y - y0) / max(1.0, 480 - y0)
        shade = rng.uniform(0.82, 1.15)
        colour = light(tuple(min(255, int(c * shade)) for c in base))  # type: ignore[arg-type]
        canvas.ellipse(rng.uniform(-20, 660), y, 10 + 60 * depth, 2 + 9 * depth, fill=colour)


def draw_background_trees(canvas: Canvas, scene: SceneParams, light: Lighting, far: RGB, rng: random.Random) -> None:
    """A hazy tree line along the horizon."""
    winter = scene.season == "winter"
    for _ in range(scene.bg_trees):
        x = rng.uniform(-30, 670)
        h = rng.uniform(18, 70)
        y = scene.horizon + rng.uniform(0, 6)
        amount = rng.uniform(0.35, 0.6)
        if rng.random() < 0.3:  # a distant conifer
            colour = light(haze((40, 70, 45), far, amount))
            canvas.polygon([(x - h * 0.25, y), (x, y - h * 1.2), (x + h * 0.25, y)], fill=colour)
            continue
        base = (105, 95, 85) if winter else (58 + rng.randint(-10, 10), 92 + rng.randint(-10, 15), 52)
        colour = light(haze(base, far, amount))
        canvas.line([(x, y), (x, y - h * 0.4)], fill=light(haze((70, 60, 50), far, amount)), width=2)
        for _ in range(3):
            canvas.ellipse(x + rng.uniform(-h * 0.2, h * 0.2), y - h * rng.uniform(0.55, 0.8),
                           h * rng.uniform(0.25, 0.4), h * rng.uniform(0.2, 0.32), fill=colour)


def draw_houses(canvas: Canvas, scene: SceneParams, light: Lighting, far: RGB, rng: random.Random) -> None:
    """Simple houses behind the verge: wall, pitched roof, windows, a door."""
    walls = ((222, 214, 196), (190, 190, 186), (160, 84, 64), (200, 186, 150), (150, 162, 170))
    roofs = ((70, 62, 60), (110, 58, 46), (60, 66, 78), (92, 90, 88))
    for _ in range(scene.houses):
        w = rng.uniform(70, 150)
        h = w * rng.uniform(0.45, 0.65)
        x = rng.uniform(-40, 600)
        y = scene.horizon + rng.uniform(6, 26)
        amount = rng.uniform(0.2, 0.4)
        wall = light(haze(rng.choice(walls), far, amount))
        roof = light(haze(rng.choice(roofs), far, amount))
        dark = light(haze((45, 50, 60), far, amount))
        canvas.polygon([(x, y), (x, y - h), (x + w, y - h), (x + w, y)], fill=wall)
        overhang = w * 0.06
        canvas.polygon([(x - overhang, y - h), (x + w / 2, y - h - w * rng.uniform(0.25, 0.4)),
                        (x + w + overhang, y - h)], fill=roof)
        for k in range(rng.randint(2, 4)):
            wx = x + w * (0.12 + 0.22 * k)
            if wx + w * 0.12 > x + w:
                break
            canvas.polygon([(wx, y - h * 0.75), (wx + w * 0.12, y - h * 0.75), (wx + w * 0.12, y - h * 0.45),
                            (wx, y - h * 0.45)], fill=dark)
        dx = x + w * rng.uniform(0.3, 0.7)
        canvas.polygon([(dx, y), (dx, y - h * 0.5), (dx + w * 0.09, y - h * 0.5), (dx + w * 0.09, y)], fill=dark)


def draw_road(canvas: Canvas, scene: SceneParams, light: Lighting, rng: random.Random) -> Callable[[float], float]:
    """A road receding to the horizon beside the tree, with kerb and centre dashes. Returns edge x at a given y."""
    (vx, vy), (ex, ey) = scene.road_edge
    side = scene.road_side

    def along(x_bottom: float, y: float) -> float:
        return vx + (x_bottom - vx) * (y - vy) / (ey - vy)

    far_x = ex + side * scene.road_width
    asphalt = light((92 + rng.randint(-18, 18),) * 3)
    canvas.polygon([(vx, vy), (ex, ey), (far_x, ey)], fill=asphalt)
    kerb = light((172, 170, 164))
    canvas.polygon([(vx, vy), (ex - side * 10, ey), (ex, ey)], fill=kerb)
    paint = light((214, 190, 78) if rng.random() < 0.5 else (228, 228, 222))
    centre_bottom = ex + side * scene.road_width * 0.5
    k = 0.06
    while k < 1.0:
        k2 = k + 0.04 + 0.08 * k
        a = (vx + (centre_bottom - vx) * k, vy + (ey - vy) * k)
        b = (vx + (centre_bottom - vx) * min(1.0, k2), vy + (ey - vy) * min(1.0, k2))
        canvas.line([a, b], fill=paint, width=1 + 5 * k)
        k = k2 + 0.05 + 0.12 * k
    return lambda y: along(ex, y)


def draw_cars(canvas: Canvas, scene: SceneParams, light: Lighting, far: RGB, rng: random.Random) -> None:
    """Small distant cars on the road: body, cabin with windows, wheels."""
    (vx, vy), (ex, ey) = scene.road_edge
    colours = ((180, 30, 30), (30, 60, 140), (220, 220, 220), (40, 40, 44), (150, 150, 156), (200, 170, 60))
    for _ in range(scene.cars):
        k = rng.uniform(0.04, 0.2)
        lane = rng.uniform(0.25, 0.75)
        y = vy + (ey - vy) * k
        x_edge = vx + (ex - vx) * k
        x = x_edge + scene.road_side * scene.road_width * k * lane
        size = scene.road_width * k * 0.13
        body = light(haze(rng.choice(colours), far, 0.2))
        glass = light((50, 60, 75))
        canvas.polygon([(x - size, y), (x - size, y - size * 0.45), (x + size, y - size * 0.45), (x + size, y)],
                       fill=body)
        canvas.polygon([(x - size * 0.6, y - size * 0.45), (x - size * 0.4, y - size * 0.8),
                        (x + size * 0.4, y - size * 0.8), (x + size * 0.6, y - size * 0.45)], fill=glass)
        for wx in (-0.6, 0.6):
            canvas.ellipse(x + size * wx, y, size * 0.18, size * 0.18, fill=light((20, 20, 22)))


def draw_fence(canvas: Canvas, scene: SceneParams, light: Lighting, rng: random.Random) -> None:
    """A picket or rail fence running along the far side of the verge."""
    y = scene.horizon + rng.uniform(28, 60)
    x0 = rng.uniform(-20, 250)
    x1 = x0 + rng.uniform(200, 500)
    colour = light(rng.choice(((235, 235, 230), (140, 110, 80), (120, 120, 118))))
    h = rng.uniform(14, 24)
    canvas.line([(x0, y - h * 0.75), (x1, y - h * 0.75)], fill=colour, width=2)
    canvas.line([(x0, y - h * 0.3), (x1, y - h * 0.3)], fill=colour, width=2)
    step = rng.uniform(9, 16)
    x = x0
    while x <= x1:
        canvas.line([(x, y), (x, y - h)], fill=colour, width=2.5)
        x += step


def draw_pole(canvas: Canvas, scene: SceneParams, light: Lighting) -> None:
    """A wooden utility pole with a crossarm and insulators (behind the tree)."""
    x, base = scene.pole_x, scene.pole_base_y
    top = scene.wire_attach_y - 14
    wood = light((104, 88, 70))
    canvas.polygon([(x - 5.5, base), (x - 3.5, top), (x + 3.5, top), (x + 5.5, base)], fill=wood)
    arm = scene.wire_attach_y + 4
    canvas.polygon([(x - 34, arm - 2.5), (x + 34, arm - 2.5), (x + 34, arm + 2.5), (x - 34, arm + 2.5)], fill=wood)
    insulator = light((200, 200, 196))
    for k in range(scene.wire_count):
        ix = x + (k - (scene.wire_count - 1) / 2) * 26
        canvas.polygon([(ix - 2, arm - 2.5), (ix - 2, arm - 9), (ix + 2, arm - 9), (ix + 2, arm - 2.5)], fill=insulator)
    if scene.telecom_drop:
        canvas.polygon([(x - 7, arm + scene.telecom_drop - 3), (x + 7, arm + scene.telecom_drop - 3),
                        (x + 7, arm + scene.telecom_drop + 3), (x - 7, arm + scene.telecom_drop + 3)],
                       fill=light((60, 60, 62)))


def draw_wires(canvas: Canvas, scene: SceneParams, light: Lighting) -> None:
    """The wires across the frame, drawn over the tree (they pass in front of and through crowns)."""
    colour = light((34, 34, 36))
    xs = [-200.0 + 1040.0 * i / 40 for i in range(41)]
    for k in range(scene.wire_count):
        offset = k - (scene.wire_count - 1) // 2
        canvas.line([(x, scene.wire_y(x, offset=offset) - 5) for x in xs], fill=colour, width=1.2)
    if scene.telecom_drop:
        canvas.line([(x, scene.wire_y(x, drop=scene.telecom_drop)) for x in xs], fill=colour, width=2.2)


def draw_shadow(canvas: Canvas, scene: SceneParams, light: Lighting, x: float, y: float, radius: float) -> None:
    """Drone views: the crown's shadow on the ground beside the base."""
    if scene.sky == "overcast":
        return
    canvas.ellipse(x + scene.sun_side * -radius * 0.6, y + radius * 0.15, radius * 1.1, radius * 0.45,
                   fill=light((38, 52, 30) if not scene.snow else (150, 156, 170)))


def wire_y_at(scene: SceneParams) -> Callable[[float], float]:
    """Design y of the main wire (the one a crown can grow into) as a function of x."""
    return lambda x: scene.wire_y(x) - 5
