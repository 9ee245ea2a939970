"""Everything random about one tree and one photo of it, drawn up front from the seed.

A :class:`TreeSpec` (label, severities, tree, street, light, place and time) is a pure function of
``(seed, tree index, label, options)``; a :class:`PhotoSpec` (framing, noise, blur, JPEG quality) of
``(seed, tree index, photo index)``. Each part draws from its own named generator (:func:`rng_for`), so the output
does not depend on the order trees are made in, on how many worker processes make them, or on which defects are
switched off for a test.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache

from .canvas import RGB
from .domains import Domain
from .lighting import Lighting, lighting_for
from .scene import SceneParams
from .scoring import sample_severities
from .tree import TreeModel, TreeParams, build_tree

# Photos are scattered around one small town so a map of them looks like a street survey.
TOWN_LAT, TOWN_LON = 42.4440, -76.5019
PHONES = (("Apple", "iPhone 12"), ("Apple", "iPhone 13 Pro"), ("samsung", "SM-G991B"), ("Google", "Pixel 7"))
DRONE = ("DJI", "FC3582")


def rng_for(seed: int, index: int, key: str) -> random.Random:
    """The generator for one named part of one tree: independent of every other part."""
    return random.Random(f"treerisk-synthetic/{seed}/{index}/{key}")


@lru_cache(maxsize=8)
def tree_model(seed: int, index: int, params: TreeParams, lighting: Lighting, lean: float, codominant: float,
               dieback: float) -> TreeModel:
    """The tree's layout from its own "crown" generator, remembered: a tree is laid out to place it in the street
    and again for every photo drawn of it, identically. Callers only read it (nothing changes a built model)."""
    return build_tree(params, lighting, rng_for(seed, index, "crown"), lean, codominant, dieback)


@dataclass(frozen=True)
class TreeSpec:
    seed: int
    index: int
    label_clean: str
    severities: dict[str, float]
    tree: TreeParams
    scene: SceneParams
    lighting: Lighting
    latitude: float
    longitude: float
    taken: datetime
    make: str
    model: str
    extent: tuple[float, float, float, float]  # the tree's (x0, y0, x1, y1) in design coordinates, for framing


@dataclass(frozen=True)
class PhotoSpec:
    index: int
    zoom: float
    shift_x: float
    shift_y: float
    tilt: float
    noise: float  # sensor noise, standard deviation in grey levels
    blur: float  # Gaussian blur radius in design pixels (0 = sharp)
    quality: int  # JPEG quality
    taken: datetime
    grain: int  # where in the fixed noise pattern this photo's sensor noise is taken from


def _jitter(colour: RGB, rng: random.Random, amount: int) -> RGB:
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in colour)  # type: ignore[return-value]


def _foliage(rng: random.Random, conifer: bool) -> tuple[RGB, RGB, RGB, RGB]:
    if conifer:
        mid = (38 + rng.randint(-8, 12), 74 + rng.randint(-10, 16), 50 + rng.randint(-8, 12))
    else:
        mid = (72 + rng.randint(-15, 25), 112 + rng.randint(-15, 30), 44 + rng.randint(-10, 18))
    dark = tuple(int(c * 0.55) for c in mid)
    light = tuple(min(255, int(c * 1.35 + 14)) for c in mid)
    speck = tuple(min(255, int(c * 1.6 + 22)) for c in mid)
    return dark, mid, light, speck  # type: ignore[return-value]


def _tree_params(rng: random.Random, season: str, view: str, base: tuple[float, float], scale: float = 1.0) -> TreeParams:
    conifer = rng.random() < 0.25
    drone = view == "drone"
    height = rng.uniform(290, 410) * (0.85 if drone else 1.0) * scale
    trunk_frac = rng.uniform(0.18, 0.3) if conifer else rng.uniform(0.32, 0.44)
    if drone:
        trunk_frac *= 0.6  # seen from above, the trunk is foreshortened
    bark = _jitter(rng.choice(((92, 80, 68), (110, 100, 90), (78, 70, 62), (120, 108, 92), (96, 92, 88))), rng, 10)
    lean_dir = rng.choice((-1, 1))
    return TreeParams(
        form="conifer" if conifer else "deciduous",
        leaf_on=conifer or season == "summer",
        base=base,
        height=height,
        trunk_frac=trunk_frac,
        width_frac=rng.uniform(0.085, 0.115),
        crown_frac=rng.uniform(0.16, 0.22) if conifer else rng.uniform(0.24, 0.33),
        lean_dir=lean_dir,
        natural_tilt=rng.uniform(-2.0, 2.0),
        bend=rng.uniform(-0.06, 0.06),
        bark=bark,
        foliage=_foliage(rng, conifer),
        density=rng.uniform(0.85, 1.15),
        sun_side=rng.choice((-1, 1)),
        heave_side=-lean_dir,
    )


def sample_tree(seed: int, index: int, label: str, domain: Domain, include_imminent: bool = False) -> TreeSpec:
    """Draw one tree of class ``label`` and its street, light, place and time."""
    rng = rng_for(seed, index, "tree")
    severities = sample_severities(label, rng_for(seed, index, "severity"), include_imminent)
    season = domain.season or ("winter" if rng.random() < 0.2 else "summer")
    sky = {"noon": "clear", None: None}.get(domain.sky, domain.sky)
    if sky is None:
        sky = rng.choices(("clear", "overcast", "dusk"), (0.55, 0.35, 0.1))[0]
    view = domain.view
    lighting = lighting_for(sky, rng.uniform(0.9, 1.1))
    base_y = rng.uniform(395, 450) if view == "phone" else rng.uniform(370, 430)

    # Place the tree: measure it at x=0, then centre it (with some play) and shrink it if it would not fit.
    params = _tree_params(rng, season, view, (0.0, base_y))
    structure = {d: severities[d] for d in ("lean", "codominant_stems", "crown_dieback")}
    for _ in range(4):
        model = build_tree(params, lighting, rng_for(seed, index, "crown"), structure["lean"],
                           structure["codominant_stems"], structure["crown_dieback"])
        x0, y0, x1, y1 = model.extent()
        if y0 >= 14 and x1 - x0 <= 560:
            break
        shrink = min((base_y - 14) / (base_y - y0), 540 / (x1 - x0), 1.0) * 0.97
        params = replace(params, height=params.height * shrink)
    centre = 320 + rng.uniform(-35, 35)
    base_x = centre - (x0 + x1) / 2
    params = replace(params, base=(base_x, base_y))
    model = tree_model(seed, index, params, lighting, structure["lean"], structure["codominant_stems"],
                       structure["crown_dieback"])
    scene = _scene(rng, model, severities["wire_contact"] > 0, season, sky, view)

    taken = _taken(rng, season, sky)
    lat = round(TOWN_LAT + rng.gauss(0, 0.012), 6)
    lon = round(TOWN_LON + rng.gauss(0, 0.016), 6)
    make, camera_model = DRONE if view == "drone" else rng.choice(PHONES)
    return TreeSpec(seed, index, label, severities, params, scene, lighting, lat, lon, taken, make, camera_model,
                    model.extent())


def _scene(rng: random.Random, model, contact: bool, season: str, sky: str, view: str) -> SceneParams:
    bx, by = model.base
    w0 = model.trunk_width(0.0)
    horizon = rng.uniform(170, min(270, by - 90)) if view == "phone" else rng.uniform(-90, 30)
    side = rng.choice((-1, 1))
    edge_y = by
    edge_x = bx + side * (w0 * 0.8 + rng.uniform(25, 100))
    vx = 320 + side * rng.uniform(-60, 240)
    bottom = 900.0
    ex = vx + (edge_x - vx) * (bottom - horizon) / (edge_y - horizon)
    road_width = rng.uniform(600, 1400) * (bottom - horizon) / 700

    has_pole = contact or rng.random() < 0.65
    pole_side = rng.choice((-1, 1))
    pole_x = min(625.0, max(15.0, bx + pole_side * rng.uniform(130, 240)))
    span = rng.uniform(450, 800)
    sag = rng.uniform(8, 22)
    wire_count = rng.choice((2, 3, 3))
    drop = rng.uniform(26, 44) if rng.random() < 0.5 else 0.0
    crown_top = model.crown_top()
    cx = model.contact_x
    u = min(1.0, abs(cx - pole_x) / span)
    sag_here = sag * 4 * u * (1 - u)
    lows = [c.y + c.r for c in model.clusters] + [t.left[1] for t in model.tiers]
    crown_low = max([*lows, model.trunk_point(1.0)[1]])
    if contact:
        target = crown_top + rng.uniform(0.15, 0.3) * (crown_low - crown_top)
        drop = 0.0
    else:
        target = crown_top - rng.uniform(14, 45)
        if drop and target + drop > crown_top - 6:
            drop = 0.0
        if target < 8:  # no room above the crown: run the wires under it, or leave the pole out
            target = crown_low + rng.uniform(12, 30)
            drop = 0.0
            if target > by - 45:
                has_pole = False
    attach = target + 5 - sag_here

    return SceneParams(
        sky=sky, season=season, view=view,
        snow=season == "winter" and rng.random() < 0.45,
        horizon=horizon, road_side=side, road_edge=((vx, horizon), (ex, bottom)), road_width=road_width,
        has_pole=has_pole, pole_x=pole_x, pole_base_y=by - rng.uniform(5, 30), wire_attach_y=attach,
        wire_span=span, wire_sag=sag, wire_count=wire_count, telecom_drop=drop,
        houses=rng.choice((0, 0, 1, 2, 3)) if 20 < horizon else 0,
        fence=rng.random() < 0.4 and horizon > 0,
        cars=rng.choice((0, 0, 1, 2)),
        bg_trees=rng.randint(3, 12) if horizon > 0 else 0,
        sun_side=model.params.sun_side,
    )


def _taken(rng: random.Random, season: str, sky: str) -> datetime:
    month = rng.choice((6, 7, 8)) if season == "summer" else rng.choice((12, 1, 2))
    year = 2024 if month != 12 else 2023
    day = rng.randint(1, 28)
    if sky == "dusk":
        hour = rng.choice((19, 20)) if season == "summer" else 16
    elif sky == "clear":
        hour = rng.randint(10, 14)
    else:
        hour = rng.randint(8, 16)
    return datetime(year, month, day, hour, rng.randint(0, 59), rng.randint(0, 59))


def sample_photo(seed: int, tree: TreeSpec, photo_index: int) -> PhotoSpec:
    """Framing and camera quality of one photo of ``tree``; photo 0 is the standard framing."""
    rng = rng_for(seed, tree.index, f"photo{photo_index}")
    drone = tree.scene.view == "drone"
    if photo_index == 0:
        zoom, sx, sy, tilt = rng.uniform(0.94, 1.06), rng.uniform(-12, 12), rng.uniform(-10, 10), rng.uniform(-2, 2)
    else:
        zoom, sx, sy, tilt = rng.uniform(0.8, 1.2), rng.uniform(-45, 45), rng.uniform(-25, 25), rng.uniform(-4, 4)
    if drone:
        tilt *= 1.8
    # Keep the whole tree in the frame and its middle near the centre square the models crop.
    x0, y0, x1, y1 = tree.extent
    zoom = min(zoom, 462 / max(1.0, y1 - y0), 600 / max(1.0, x1 - x0))
    sx = _clamp(sx, 8 - 320 - zoom * (x0 - 320), 632 - 320 - zoom * (x1 - 320))
    sx = _clamp(sx, 260 - 320 - zoom * ((x0 + x1) / 2 - 320), 380 - 320 - zoom * ((x0 + x1) / 2 - 320))
    sy = _clamp(sy, 8 - 240 - zoom * (y0 - 240), 472 - 240 - zoom * (y1 - 240))
    noise = rng.uniform(1.5, 5.0) * (1.6 if tree.scene.sky == "dusk" else 1.0)
    blur = rng.uniform(0.5, 1.4) if rng.random() < 0.4 else 0.0
    quality = rng.randint(82, 95)
    taken = tree.taken + timedelta(seconds=photo_index * rng.randint(6, 40))
    return PhotoSpec(photo_index, zoom, sx, sy, tilt, noise, blur, quality, taken, rng.getrandbits(30))


def _clamp(value: float, low: float, high: float) -> float:
    if low > high:
        return (low + high) / 2
    return min(high, max(low, value))


__all__ = ["PhotoSpec", "TreeSpec", "rng_for", "sample_photo", "sample_tree", "tree_model"]
