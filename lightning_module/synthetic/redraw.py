"""Draw a generated photo again, exactly, or the same scene with one defect taken away.

Every photo the generator writes is a pure function of a few numbers (:class:`Scene`: seed, tree index, photo
index, the tree's clean label, domain, size, whether Imminent exists), all of which a manifest row carries or
implies. So a photo can be re-created without its file, and re-drawn with one defect's severity set to 0 while
the rest of the scene (street, light, framing, the tree's layout, the other defects, the camera noise) stays as it
was: each part draws from its own named generator (:func:`.spec.rng_for`), and :func:`.render.render` switches
defects off at drawing time without drawing anything again. Nothing else is sampled afresh: the framing and the
street were chosen for the tree *with* the defect, which is what makes the two photos comparable.

What changes when a defect is removed: the additive defects (cavity, crack, conks, dead limbs, hanger, heave,
wire contact) only lose their own pixels; ``lean`` stands the tree upright and ``codominant_stems`` gives it one
stem, so the whole tree moves; ``crown_dieback`` puts the lost leaves back. The wires of a tree grown into them
stay where they were (through the crown), without the shoots and leaves draped over them.

    redrawn = redraw_without(row, "cavity")            # row: a manifest row (read_manifest or csv.DictReader)
    redrawn.jpeg, redrawn.label, redrawn.risk_score     # the photo, and the generator's own class without it

A row that this generator would not draw (another generator version, an edited manifest) raises
:class:`RedrawError`: its severities are checked against the ones drawn again.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image

from .defects import DEFECTS
from .domains import parse_domain
from .generate import plan_trees
from .options import SynthOptions
from .render import Box, photo_jpeg
from .scoring import classify, risk_score
from .spec import TreeSpec, sample_photo, sample_tree

# The manifest stores severities to 3 decimals; a drawn tree matches its row when every one agrees to that.
_SEVERITY_DIGITS = 3
_GROUP = re.compile(r"^synth-s(\d+)-t(\d+)$")
_FILE = re.compile(r"synth_s(\d+)_t(\d+)_p(\d+)\.jpe?g$", re.IGNORECASE)


class RedrawError(ValueError):
    """A manifest row (or name) this generator cannot draw again; the message says why."""


@dataclass(frozen=True)
class Scene:
    """Which photo of which tree, and the dataset options that drew it: all a re-drawing needs."""

    seed: int
    index: int
    photo: int
    label: str  # the clean label the tree was drawn for (label noise changes the folder, not the tree)
    domain: str = "default"
    width: int = 640
    height: int = 480
    include_imminent: bool = False

    @property
    def group(self) -> str:
        """The manifest's ``group`` (one tree, all its photos)."""
        return f"synth-s{self.seed}-t{self.index:05d}"

    @property
    def file_name(self) -> str:
        """The photo's file name in a generated dataset (its folder is the label)."""
        return f"synth_s{self.seed}_t{self.index:05d}_p{self.photo}.jpg"


@dataclass(frozen=True)
class Redrawn:
    """One drawing of a scene: the JPEG (as the generator writes it), its defect boxes, and the generator's class."""

    scene: Scene
    removed: str | None  # the defect taken away (None: the photo as generated)
    jpeg: bytes
    boxes: dict[str, Box]
    severities: dict[str, float]  # as drawn: the removed defect is 0
    risk_score: float
    label: str  # the generator's class for these severities (the ground truth of this drawing)

    def image(self) -> Image.Image:
        """The photo decoded, as ``Image.open`` of the generated file gives it."""
        image = Image.open(io.BytesIO(self.jpeg))
        image.load()
        return image


def scenes(options: SynthOptions) -> list[Scene]:
    """Every photo of the dataset ``options`` describes, in manifest order, without drawing anything."""
    return [Scene(options.seed, index, photo, clean, options.domain, options.width, options.height,
                  options.include_imminent)
            for index, clean, _, photos in plan_trees(options) for photo in range(photos)]


def scene_of_row(row: Mapping) -> Scene:
    """The scene a manifest row was drawn from; raises :class:`RedrawError` if the row cannot say.

    ``include_imminent`` is not a column: it is found by drawing the tree's severities both ways and keeping the one
    that matches the row (only Probable trees differ). A row whose severities match neither was not drawn by this
    generator.
    """
    group = _GROUP.match(str(row.get("group", "")).strip())
    if group is None:
        raise RedrawError(f"manifest row {row.get('path', '?')!r} has no synthetic tree id in its 'group' column "
                          f"(expected e.g. synth-s0-t00042): it was not made by the synthetic generator")
    try:
        base = Scene(int(group[1]), int(group[2]), int(row.get("photo") or 0), str(row["label_clean"]),
                     str(row.get("domain") or "default"), int(row.get("width") or 640), int(row.get("height") or 480))
        recorded = {d: round(float(row[f"severity_{d}"]), _SEVERITY_DIGITS) for d in DEFECTS}
    except (KeyError, TypeError, ValueError) as error:
        raise RedrawError(f"manifest row {row.get('path', '?')!r} is incomplete or unreadable ({error})") from None
    choices = (True,) if base.label == "Imminent" else (False, True)
    for imminent in choices:
        scene = Scene(**{**base.__dict__, "include_imminent": imminent})
        try:
            drawn = tree_spec(scene).severities
        except ValueError as error:  # an unknown label or domain
            raise RedrawError(f"manifest row {row.get('path', '?')!r}: {error}") from None
        if {d: round(s, _SEVERITY_DIGITS) for d, s in drawn.items()} == recorded:
            return scene
    raise RedrawError(f"manifest row {row.get('path', '?')!r} does not match what this generator draws for "
                      f"{base.group} (made by another generator version, or the manifest was edited)")


def scene_of_file_name(name: str, options: SynthOptions) -> Scene | None:
    """The scene of a generated file name (``synth_s0_t00042_p0.jpg``) in the dataset of ``options``, else None."""
    found = _FILE.search(name)
    if found is None or int(found[1]) != options.seed:
        return None
    index, photo = int(found[2]), int(found[3])
    plan = plan_trees(options)
    if index >= len(plan) or photo >= plan[index][3]:
        return None
    return Scene(options.seed, index, photo, plan[index][1], options.domain, options.width, options.height,
                 options.include_imminent)


@lru_cache(maxsize=256)
def tree_spec(scene: Scene) -> TreeSpec:
    """The tree (and street, light, place) of ``scene``, as the generator drew it."""
    return sample_tree(scene.seed, scene.index, scene.label, parse_domain(scene.domain), scene.include_imminent)


def redraw(scene: Scene, without: str | None = None) -> Redrawn:
    """Draw ``scene`` again; with ``without``, that defect's severity is 0 and nothing else changes."""
    if without is not None and without not in DEFECTS:
        raise ValueError(f"Unknown defect {without!r}; known: {', '.join(DEFECTS)}.")
    spec = tree_spec(scene)
    photo = sample_photo(scene.seed, spec, scene.photo)
    jpeg, boxes = photo_jpeg(spec, photo, scene.width, scene.height, disabled=(without,) if without else ())
    severities = {d: (0.0 if d == without else s) for d, s in spec.severities.items()}
    score = risk_score(severities)
    # The drawing with nothing removed keeps the tree's own label (equal to the score's class by construction).
    label = scene.label if without is None else classify(score, scene.include_imminent)
    return Redrawn(scene, without, jpeg, boxes, severities, score, label)


def redraw_without(row: Mapping, defect: str | None) -> Redrawn:
    """A manifest row's photo drawn again with ``defect`` removed (``None``: byte-identical to the file)."""
    return redraw(scene_of_row(row), defect)


def render_scene(options: SynthOptions, index: int, photo_index: int = 0, without: str | None = None) -> Image.Image:
    """Photo ``photo_index`` of tree ``index`` of the dataset ``options`` describes, decoded, optionally without
    one defect. Raises ``ValueError`` for a tree or photo the dataset does not have."""
    plan = plan_trees(options)
    if not 0 <= index < len(plan) or not 0 <= photo_index < plan[index][3]:
        raise ValueError(f"The dataset (seed {options.seed}, n {options.n}) has no photo {photo_index} "
                         f"of tree {index}.")
    scene = Scene(options.seed, index, photo_index, plan[index][1], options.domain, options.width, options.height,
                  options.include_imminent)
    return redraw(scene, without).image()


def present_defects(severities: Mapping[str, float]) -> list[str]:
    """The defects a tree has (severity above 0), in the generator's order."""
    return [d for d in DEFECTS if float(severities.get(d, 0.0)) > 0]


__all__ = [
    "RedrawError", "Redrawn", "Scene", "present_defects", "redraw", "redraw_without", "render_scene",
    "scene_of_file_name", "scene_of_row", "scenes", "tree_spec",
]
