"""The defects arborists weigh, in the generator's words, and how each is drawn on a tree.

Every defect here is drawn *onto* a finished tree by its own function, inside ``canvas.recording(name)``, so
the manifest box is exactly where its pixels are, and switching a defect off (``disabled``) leaves every other
pixel of the scene as it was. Three defects change the tree itself rather than adding to it and are drawn in
:mod:`.tree`: ``lean`` (the trunk's angle), ``codominant_stems`` (the fork) and ``crown_dieback`` (the bare top).
"""

from __future__ import annotations

import math
import random

from .canvas import RGB, Canvas, Point

DEFECTS: tuple[str, ...] = (
    "lean",
    "trunk_crack",
    "cavity",
    "dead_limbs",
    "hanging_branch",
    "crown_dieback",
    "codominant_stems",
    "root_plate_heave",
    "fungal_conks",
    "wire_contact",
)

DEFECT_DESCRIPTIONS: dict[str, str] = {
    "lean": "trunk leaning away from vertical (up to about 32 degrees at severity 1)",
    "trunk_crack": "dark vertical crack in the trunk; longer and wider when severe",
    "cavity": "open cavity or decay pocket in the trunk, dark with a woundwood rim",
    "dead_limbs": "bare grey dead limbs sticking out of the live crown",
    "hanging_branch": "broken branch hanging in the crown with withered leaves (a 'hanger')",
    "crown_dieback": "bare, dead top of the crown (stag-headed)",
    "codominant_stems": "trunk forking into two equal stems in a tight V with an included-bark seam",
    "root_plate_heave": "soil mound and cracked ground lifted at the base on the side away from the lean",
    "fungal_conks": "bracket fungi (conks) on the lower trunk, a sign of internal decay",
    "wire_contact": "branches grown into and over the overhead wires",
}

# Short names for people: what a rater ticks on the Label page and what tables and exports show beside the key.
DEFECT_LABELS: dict[str, str] = {
    "lean": "Lean",
    "trunk_crack": "Trunk crack",
    "cavity": "Cavity / decay pocket",
    "dead_limbs": "Dead limbs",
    "hanging_branch": "Hanging branch",
    "crown_dieback": "Crown dieback",
    "codominant_stems": "Codominant stems",
    "root_plate_heave": "Root-plate heave",
    "fungal_conks": "Fungal conks",
    "wire_contact": "Wire contact",
}

DEAD_WOOD: RGB = (128, 122, 112)


def _jitter(color: RGB, rng: random.Random, amount: int) -> RGB:
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in color)  # type: ignore[return-value]


def draw_cavity(canvas: Canvas, tree, severity: float, rng: random.Random) -> None:
    """A dark hole with a lighter woundwood rim, on the visible trunk."""
    t = rng.uniform(0.08, 0.45)
    cx, cy = tree.trunk_point(t, rng.uniform(-0.15, 0.15))
    w = tree.trunk_width(t)
    rx = w * (0.14 + 0.37 * severity)
    ry = rx * rng.uniform(1.4, 2.2)
    with canvas.recording("cavity"):
        canvas.ellipse(cx, cy, rx * 1.25, ry * 1.15, fill=tree.light(tree.bark_light))
        canvas.ellipse(cx, cy + ry * 0.05, rx, ry, fill=tree.light((22, 17, 14)))
        canvas.ellipse(cx - rx * 0.2, cy + ry * 0.2, rx * 0.55, ry * 0.6, fill=tree.light((8, 6, 5)))


def draw_trunk_crack(canvas: Canvas, tree, severity: float, rng: random.Random) -> None:
    """A jagged dark split along the trunk with a pale exposed-wood edge."""
    t0 = rng.uniform(0.05, 0.3)
    t1 = min(0.92, t0 + 0.12 + 0.65 * severity)
    lateral = rng.uniform(-0.2, 0.2)
    steps = 9
    left: list[Point] = []
    right: list[Point] = []
    edge: list[Point] = []
    for i in range(steps + 1):
        t = t0 + (t1 - t0) * i / steps
        w = tree.trunk_width(t)
        taper = math.sin(math.pi * i / steps) ** 0.6
        half = (0.06 + 0.2 * severity) * w * taper + 0.5
        off = lateral + rng.uniform(-0.06, 0.06)
        x, y = tree.trunk_point(t, off)
        nx, ny = tree.normal
        left.append((x - nx * half, y - ny * half))
        right.append((x + nx * half, y + ny * half))
        edge.append((x + nx * (half + 1.2), y + ny * (half + 1.2)))
    with canvas.recording("trunk_crack"):
        canvas.line(edge, fill=tree.light((178, 160, 128)), width=1.2)
        canvas.polygon(left + right[::-1], fill=tree.light((14, 11, 9)))


def draw_fungal_conks(canvas: Canvas, tree, severity: float, rng: random.Random) -> None:
    """Bracket fungi: pale shelves on the lower trunk, more and bigger when severe."""
    count = 1 + round(severity * 4.0)
    base = _jitter((196, 168, 118), rng, 18)
    with canvas.recording("fungal_conks"):
        for _ in range(count):
            t = rng.uniform(0.03, 0.4)
            w = tree.trunk_width(t)
            side = rng.choice((-0.5, 0.5, rng.uniform(-0.3, 0.3)))
            x, y = tree.trunk_point(t, side)
            rx = w * (0.18 + 0.42 * severity) * rng.uniform(0.8, 1.2)
            ry = rx * rng.uniform(0.4, 0.55)
            canvas.chord(x, y, rx, ry, 180, 360, fill=tree.light(base))
            canvas.ellipse(x, y, rx, ry * 0.22, fill=tree.light((235, 225, 200)))
            band = tree.light(_jitter((150, 104, 60), rng, 15))
            canvas.chord(x, y - ry * 0.35, rx * 0.75, ry * 0.5, 180, 360, fill=band)


def draw_root_plate_heave(canvas: Canvas, tree, severity: float, rng: random.Random) -> None:
    """A raised soil mound with exposed roots and a ground crack, on the side away from the lean."""
    bx, by = tree.base
    w0 = tree.trunk_width(0.0)
    side = tree.heave_side
    length = w0 * (0.7 + 3.0 * severity)
    height = w0 * (0.25 + 0.6 * severity)
    x0 = bx + side * w0 * 0.45
    mound = [
        (x0 - side * w0 * 0.3, by + 2),
        (x0, by - height * 0.9),
        (x0 + side * length * 0.4, by - height),
        (x0 + side * length * 0.8, by - height * 0.6),
        (x0 + side * length, by + 1),
        (x0 + side * length * 0.5, by + height * 0.35 + 2),
    ]
    soil = tree.light(_jitter((92, 70, 48), rng, 10))
    with canvas.recording("root_plate_heave"):
        canvas.polygon(mound, fill=soil)
        for _ in range(2 + round(2 * severity)):
            f = rng.uniform(0.25, 0.9)
            canvas.line([(x0 - side * w0 * 0.1, by - height * 0.5),
                         (x0 + side * length * f * 0.5, by - height * rng.uniform(0.6, 1.0)),
                         (x0 + side * length * f, by - height * 0.2)],
                        fill=tree.light((112, 86, 62)), width=1.5 + 2.0 * severity)
        crack = [(x0 + side * length * (0.55 + 0.1 * i), by - height * 0.15 + (-1) ** i * 1.5) for i in range(6)]
        canvas.line(crack, fill=tree.light((12, 10, 8)), width=1.5 + 1.5 * severity)


def draw_dead_limbs(canvas: Canvas, tree, severity: float, rng: random.Random) -> None:
    """Bare grey limbs that start inside the crown and stick out past the leaves, with broken side stubs."""
    count = 1 + int(severity * 3.2)
    with canvas.recording("dead_limbs"):
        for i in range(count):
            sx, sy, stem_angle = tree.stem_anchor(rng.uniform(0.3, 0.8))
            side = 1 if (i % 2 == 0) == (rng.random() < 0.5) else -1
            angle = stem_angle + side * rng.uniform(0.45, 1.1)  # up and out, through the top of the crown
            length = tree.crown_rx * (0.65 + 0.85 * severity) * rng.uniform(0.85, 1.1)
            width = tree.trunk_width(1.0) * (0.22 + 0.38 * severity)
            ex, ey = sx + length * math.sin(angle), sy - length * math.cos(angle)
            mx = (sx + ex) / 2 + rng.uniform(-4, 4)
            my = (sy + ey) / 2 + rng.uniform(-4, 4)
            canvas.line([(sx, sy), (mx, my), (ex, ey)], fill=tree.light(DEAD_WOOD), width=width, joint=True)
            for _ in range(2 + round(severity * 2)):
                f = rng.uniform(0.45, 0.9)
                px, py = sx + (ex - sx) * f, sy + (ey - sy) * f
                a = angle + rng.choice((-1, 1)) * rng.uniform(0.4, 0.9)
                stub = length * rng.uniform(0.12, 0.25)
                canvas.line([(px, py), (px + stub * math.sin(a), py - stub * math.cos(a))],
                            fill=tree.light(DEAD_WOOD), width=max(1.0, width * 0.45))


def draw_hanging_branch(canvas: Canvas, tree, severity: float, rng: random.Random) -> None:
    """A broken limb hanging from the lower crown, withered leaves near its end, pale splintered stub on top."""
    ax, ay = tree.hanger_anchor(rng)
    # Long when severe, but never reaching the ground: a hanger is caught in the crown.
    length = max(tree.height * 0.08, min(tree.height * (0.1 + 0.35 * severity), tree.base[1] - 25 - ay))
    swing = rng.uniform(-0.25, 0.25)
    ex, ey = ax + length * math.sin(swing), ay + length * math.cos(swing)
    mid = (ax + (ex - ax) * 0.45 + rng.uniform(-6, 6), ay + (ey - ay) * 0.45)
    width = tree.trunk_width(1.0) * (0.4 + 0.35 * severity)
    leaf = (150, 112, 60) if tree.leaf_on else (96, 80, 64)
    with canvas.recording("hanging_branch"):
        canvas.polygon([(ax - width * 1.3, ay - 3), (ax + width * 1.3, ay - 3), (ax + width * 0.4, ay + width * 3),
                        (ax - width * 0.4, ay + width * 2.5)], fill=tree.light((214, 196, 160)))
        canvas.line([(ax, ay), mid, (ex, ey)], fill=tree.light((66, 52, 40)), width=width, joint=True)
        for _ in range(6 + round(8 * severity)):
            f = rng.uniform(0.3, 1.0)
            px = ax + (ex - ax) * f + rng.uniform(-1, 1) * length * 0.14
            py = ay + (ey - ay) * f + rng.uniform(-0.05, 0.05) * length
            if tree.leaf_on:
                r = length * rng.uniform(0.05, 0.09)
                canvas.ellipse(px, py, r, r * 0.8, fill=tree.light(_jitter(leaf, rng, 18)))
            else:
                canvas.line([(ax + (ex - ax) * f, ay + (ey - ay) * f), (px, py)], fill=tree.light(leaf), width=1.0)


def draw_wire_contact(canvas: Canvas, tree, severity: float, rng: random.Random, wire_y) -> None:
    """Shoots grown up through the wires and leaves draped over them across part of the crown."""
    cx = tree.contact_x
    half = tree.crown_rx * (0.2 + 0.45 * severity)
    with canvas.recording("wire_contact"):
        for i in range(3 + round(5 * severity)):
            x = cx + rng.uniform(-half, half)
            y = wire_y(x)
            canvas.line([(x + rng.uniform(-6, 6), y + rng.uniform(14, 30)), (x, y),
                         (x + rng.uniform(-8, 8), y - rng.uniform(8, 22) * (0.6 + severity))],
                        fill=tree.light(tree.bark_dark), width=1.6)
        if tree.leaf_on or tree.form == "conifer":
            for _ in range(5 + round(12 * severity)):
                x = cx + rng.uniform(-half, half)
                y = wire_y(x) + rng.uniform(-7, 3)
                r = rng.uniform(4, 8)
                canvas.ellipse(x, y, r * 1.2, r, fill=tree.light(rng.choice(tree.foliage)))
