"""Does the unfamiliar-photo check warn about photos that are not trees, and stay quiet on trees it should know?

    .venv/bin/python bench/unfamiliar_photos.py [--checkpoint PATH] [--limit N] [--data DIR]
                                                [--calibrate-on FOLDER] [--json PATH]

Two sets of photos, one model:

* **Not trees** — the sample images scikit-image ships inside its wheel (``skimage.data``: a cat, a horse, a cup of
  coffee, a rocket, coins, a motorcycle, a clock, printed text, faces, the moon, microscope slides, brick, grass,
  gravel, ...; the ones that need a download are left out), the photo matplotlib ships (Grace Hopper), and images
  drawn here with a fixed seed: rendered text, cartoon faces, building fronts, rooms, plates of food, random
  shapes, noise and gradients. Every real sample image also counts as five variants (mirrored, rotated, three
  crops), since a user's photo of a cat is never exactly that one. Grouped by category: animals, food, objects,
  buildings, indoor scenes, text, faces, textures and science images, patterns and noise.
* **Trees it should know** — the independent synthetic set (``data/independent-n1000-seed9001``: a generator seed
  no training uses). Flagging one of these is a false alarm.

The check is the one the Assess page runs (:mod:`lightning_module.evaluation.familiarity`), with the calibration
the checkpoint carries. A checkpoint without one (older bundles, a run's ``best.ckpt``) is calibrated here first,
as the Assess page would: on the run's validation photos when they are on this machine, else on ``--calibrate-on``
(photos like the training data that the model did not train on; never the independent set). Printed: the share
flagged per category and overall against the target (≥ 95 %), the false-alarm rate on the trees against its
target (≤ 5 %), and the same figures for the old energy check (Liu et al. 2020, the 95th percentile of the same
calibration photos' energies) measured in the same run, with the ratio between the two.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lightning_module.data.imaging import SUPPORTED_SUFFIXES, PhotoError  # noqa: E402
from lightning_module.evaluation import familiarity  # noqa: E402
from lightning_module.evaluation.independent_set import independent_set_dir  # noqa: E402
from lightning_module.evaluation.bundled_models import DEFAULT_MODEL  # noqa: E402
from lightning_module.evaluation.predictor import Predictor, load_predictor  # noqa: E402

BUNDLED = DEFAULT_MODEL.path
TARGET_FLAGGED, TARGET_FALSE_ALARMS = 0.95, 0.05
DRAWN_PER_KIND = 12  # images drawn per kind of generated picture: enough for a rate per category

# skimage.data images that ship inside the wheel, by category. Left out because they need a download (pooch):
# brain, cells3d, eagle, human_mitosis, kidney, lily, nickel_solidification, palisades_of_vogt, protein_transport,
# skin, vortex.
SKIMAGE_SAMPLES: dict[str, tuple[str, ...]] = {
    "animals": ("chelsea", "horse"),
    "food": ("coffee",),
    "objects": ("rocket", "coins", "stereo_motorcycle", "clock", "logo", "colorwheel", "camera"),
    "text": ("text", "page"),
    "faces": ("astronaut",),
    "textures and science": ("moon", "hubble_deep_field", "immunohistochemistry", "retina", "cell",
                             "microaneurysms", "brick", "grass", "gravel", "shepp_logan_phantom"),
    "patterns and noise": ("checkerboard", "binary_blobs"),
}
LFW_FACES = 12  # of the 100 faces in skimage's lfw_subset (25x25 px, enlarged)


@dataclass(frozen=True)
class ForeignPhoto:
    """One image that is not a photo of a tree, as the bytes of an image file."""

    category: str
    name: str
    data: bytes


def _png(image: Image.Image | np.ndarray) -> bytes:
    if isinstance(image, np.ndarray):
        array = image
        if array.dtype == bool:
            array = array.astype(np.uint8) * 255
        elif array.dtype != np.uint8:
            array = np.clip(255 * (array - array.min()) / max(1e-9, float(np.ptp(array))), 0, 255).astype(np.uint8)
        if array.ndim == 3 and array.shape[2] == 4:
            array = array[..., :3]
        image = Image.fromarray(array)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _variants(image: Image.Image) -> Iterator[tuple[str, Image.Image]]:
    """The image and five everyday variants of it: mirrored, turned, and three crops."""
    width, height = image.size
    yield "", image
    yield " mirrored", image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    yield " turned", image.transpose(Image.Transpose.ROTATE_90)
    yield " centre crop", image.crop((width // 5, height // 5, width - width // 5, height - height // 5))
    yield " top-left crop", image.crop((0, 0, width * 7 // 10, height * 7 // 10))
    yield " bottom-right crop", image.crop((width * 3 // 10, height * 3 // 10, width, height))


def _skimage_image(name: str) -> np.ndarray:
    from skimage import data

    if name == "stereo_motorcycle":
        return data.stereo_motorcycle()[0]
    if name == "binary_blobs":
        return data.binary_blobs(length=384, rng=0)
    return getattr(data, name)()


def sample_images() -> Iterator[ForeignPhoto]:
    """The real sample images shipped by installed packages, each with its variants."""
    for category, names in SKIMAGE_SAMPLES.items():
        for name in names:
            base = Image.open(io.BytesIO(_png(_skimage_image(name))))
            for suffix, image in _variants(base):
                yield ForeignPhoto(category, f"skimage {name}{suffix}", _png(image))
    from skimage import data

    faces = data.lfw_subset()[:LFW_FACES]  # the first 100 are faces, the rest are not
    for index, face in enumerate(faces):
        image = Image.fromarray(np.clip(face * 255, 0, 255).astype(np.uint8)).resize((300, 300), Image.Resampling.BICUBIC)
        yield ForeignPhoto("faces", f"skimage lfw face {index}", _png(image))
    try:
        import matplotlib

        hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        if hopper.is_file():
            base = Image.open(hopper).convert("RGB")
            for suffix, image in _variants(base):
                yield ForeignPhoto("faces", f"matplotlib grace_hopper{suffix}", _png(image))
    except ImportError:
        pass


# ------------------------------------------------------------------------------------------------ drawn images

Draw = Callable[[random.Random], Image.Image]
SIZE = (640, 480)  # the size of a phone photo scaled down, like the synthetic scenes


def _colour(rng: random.Random, low: int = 0, high: int = 255) -> tuple[int, int, int]:
    return (rng.randint(low, high), rng.randint(low, high), rng.randint(low, high))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


WORDS = ("the quick brown fox jumps over lazy dog invoice total amount due please sign here meeting agenda "
         "chapter one results table figure summary budget report page index notes").split()


def _text_page(rng: random.Random) -> Image.Image:
    paper = rng.choice([(250, 250, 245), (255, 255, 255), (240, 235, 220), (30, 30, 35)])
    ink = (20, 20, 20) if sum(paper) > 300 else (230, 230, 230)
    image = Image.new("RGB", SIZE, paper)
    draw = ImageDraw.Draw(image)
    size = rng.choice([14, 18, 24, 32])
    y = rng.randint(10, 40)
    while y < SIZE[1] - size:
        line = " ".join(rng.choice(WORDS) for _ in range(40))
        draw.text((rng.randint(10, 30), y), line, fill=ink, font=_font(size))
        y += int(size * 1.5)
    return image


def _sign(rng: random.Random) -> Image.Image:
    image = Image.new("RGB", SIZE, _colour(rng, 120, 230))
    draw = ImageDraw.Draw(image)
    board = _colour(rng, 0, 200)
    draw.rectangle((60, 90, 580, 390), fill=board, outline=(240, 240, 240), width=8)
    text = " ".join(rng.choice(WORDS).upper() for _ in range(2))
    draw.text((90, 180), text, fill=(255, 255, 255) if sum(board) < 380 else (0, 0, 0), font=_font(rng.choice([48, 64])))
    return image


def _face(rng: random.Random) -> Image.Image:
    image = Image.new("RGB", SIZE, _colour(rng, 60, 230))
    draw = ImageDraw.Draw(image)
    skin = rng.choice([(241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172)])
    cx, cy, rx, ry = 320 + rng.randint(-40, 40), 250 + rng.randint(-20, 20), rng.randint(110, 150), rng.randint(150, 190)
    hair = _colour(rng, 0, 120)
    draw.ellipse((cx - rx - 10, cy - ry - 20, cx + rx + 10, cy + ry // 3), fill=hair)
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=skin)
    for side in (-1, 1):
        ex = cx + side * rx // 2
        draw.ellipse((ex - 22, cy - 50, ex + 22, cy - 25), fill=(255, 255, 255))
        draw.ellipse((ex - 9, cy - 46, ex + 9, cy - 28), fill=_colour(rng, 0, 120))
        draw.line((ex - 25, cy - 70, ex + 25, cy - 72), fill=hair, width=6)
    draw.polygon([(cx, cy - 20), (cx - 15, cy + 30), (cx + 15, cy + 30)], fill=tuple(int(c * 0.85) for c in skin))
    draw.arc((cx - 55, cy + 30, cx + 55, cy + 90), 20, 160, fill=(150, 40, 40), width=7)
    return image.filter(ImageFilter.GaussianBlur(1))


def _building(rng: random.Random) -> Image.Image:
    image = Image.new("RGB", SIZE, _colour(rng, 150, 230))
    draw = ImageDraw.Draw(image)
    wall = rng.choice([(150, 70, 50), (200, 190, 170), (120, 120, 125), (230, 220, 200), (90, 60, 40)])
    top = rng.randint(0, 80)
    draw.rectangle((0, top, SIZE[0], SIZE[1]), fill=wall)
    columns, rows = rng.randint(4, 8), rng.randint(3, 6)
    cell_w, cell_h = SIZE[0] / columns, (SIZE[1] - top) / rows
    glass = _colour(rng, 40, 160)
    for c in range(columns):
        for r in range(rows):
            x0, y0 = c * cell_w + cell_w * 0.2, top + r * cell_h + cell_h * 0.2
            draw.rectangle((x0, y0, x0 + cell_w * 0.6, y0 + cell_h * 0.6), fill=glass, outline=(240, 240, 240), width=3)
    return image


def _skyline(rng: random.Random) -> Image.Image:
    image = Image.new("RGB", SIZE, _colour(rng, 120, 220))
    draw = ImageDraw.Draw(image)
    x = 0
    while x < SIZE[0]:
        width, height = rng.randint(50, 130), rng.randint(150, 420)
        shade = rng.randint(40, 140)
        draw.rectangle((x, SIZE[1] - height, x + width, SIZE[1]), fill=(shade, shade, shade + 10))
        for wy in range(SIZE[1] - height + 10, SIZE[1] - 10, 22):
            for wx in range(x + 8, x + width - 12, 18):
                if rng.random() < 0.6:
                    draw.rectangle((wx, wy, wx + 9, wy + 12), fill=(230, 220, 150) if rng.random() < 0.5 else (60, 70, 90))
        x += width + rng.randint(0, 10)
    return image


def _room(rng: random.Random) -> Image.Image:
    image = Image.new("RGB", SIZE, _colour(rng, 150, 240))
    draw = ImageDraw.Draw(image)
    floor = _colour(rng, 60, 160)
    draw.polygon([(0, 480), (640, 480), (500, 330), (140, 330)], fill=floor)
    draw.polygon([(0, 0), (140, 90), (140, 330), (0, 480)], fill=tuple(max(0, c - 30) for c in image.getpixel((320, 200))))
    draw.polygon([(640, 0), (500, 90), (500, 330), (640, 480)], fill=tuple(max(0, c - 20) for c in image.getpixel((320, 200))))
    draw.rectangle((140, 0, 500, 90), fill=(235, 235, 235))
    draw.rectangle((rng.randint(170, 220), 130, rng.randint(300, 340), 250), fill=_colour(rng), outline=(60, 40, 20), width=6)
    table = _colour(rng, 60, 140)
    draw.rectangle((260, 300, 470, 320), fill=table)
    draw.rectangle((270, 320, 285, 400), fill=table)
    draw.rectangle((445, 320, 460, 400), fill=table)
    draw.rectangle((360, 200, 372, 300), fill=(40, 40, 40))
    draw.polygon([(330, 200), (400, 200), (385, 160), (345, 160)], fill=_colour(rng, 180, 255))
    return image


def _plate(rng: random.Random) -> Image.Image:
    image = Image.new("RGB", SIZE, _colour(rng, 80, 200))
    draw = ImageDraw.Draw(image)
    draw.ellipse((110, 60, 530, 430), fill=(245, 245, 245), outline=(200, 200, 200), width=6)
    food = rng.choice([(210, 140, 60), (190, 60, 40), (240, 200, 90), (120, 70, 30)])
    draw.ellipse((170, 110, 470, 380), fill=food)
    for _ in range(rng.randint(6, 14)):
        x, y, r = rng.randint(200, 430), rng.randint(140, 340), rng.randint(12, 30)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=_colour(rng, 40, 240))
    return image.filter(ImageFilter.GaussianBlur(1.5))


def _shapes(rng: random.Random) -> Image.Image:
    image = Image.new("RGB", SIZE, _colour(rng))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(5, 25)):
        x0, y0 = rng.randint(-50, 600), rng.randint(-50, 440)
        box = (x0, y0, x0 + rng.randint(30, 250), y0 + rng.randint(30, 250))
        kind = rng.choice(("rectangle", "ellipse", "polygon"))
        if kind == "polygon":
            draw.polygon([(rng.randint(0, 640), rng.randint(0, 480)) for _ in range(rng.randint(3, 6))], fill=_colour(rng))
        else:
            getattr(draw, kind)(box, fill=_colour(rng))
    return image


def _noise(rng: random.Random) -> Image.Image:
    generator = np.random.default_rng(rng.randint(0, 2**31))
    kind = rng.choice(("uniform", "gaussian", "smooth", "grey"))
    if kind == "uniform":
        pixels = generator.integers(0, 256, (SIZE[1], SIZE[0], 3))
    elif kind == "gaussian":
        pixels = generator.normal(128, 50, (SIZE[1], SIZE[0], 3))
    elif kind == "grey":
        pixels = np.repeat(generator.integers(0, 256, (SIZE[1], SIZE[0], 1)), 3, axis=2)
    else:
        small = generator.integers(0, 256, (SIZE[1] // 16, SIZE[0] // 16, 3)).astype(np.uint8)
        return Image.fromarray(small).resize(SIZE, Image.Resampling.BICUBIC)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _gradient(rng: random.Random) -> Image.Image:
    yy, xx = np.mgrid[: SIZE[1], : SIZE[0]].astype(np.float64)
    if rng.random() < 0.5:
        angle = rng.uniform(0, 2 * np.pi)
        t = (xx * np.cos(angle) + yy * np.sin(angle))
    else:
        t = np.hypot(xx - rng.uniform(0, SIZE[0]), yy - rng.uniform(0, SIZE[1]))
    t = (t - t.min()) / max(1e-9, float(np.ptp(t)))
    a, b = np.array(_colour(rng)), np.array(_colour(rng))
    pixels = a[None, None, :] * (1 - t[..., None]) + b[None, None, :] * t[..., None]
    return Image.fromarray(pixels.astype(np.uint8))


DRAWN: dict[str, tuple[tuple[str, Draw], ...]] = {
    "text": (("page of text", _text_page), ("sign", _sign)),
    "faces": (("cartoon face", _face),),
    "buildings": (("building front", _building), ("city skyline", _skyline)),
    "indoor scenes": (("room", _room),),
    "food": (("plate of food", _plate),),
    "patterns and noise": (("random shapes", _shapes), ("noise", _noise), ("gradient", _gradient)),
}


def drawn_images(per_kind: int = DRAWN_PER_KIND, seed: int = 0) -> Iterator[ForeignPhoto]:
    """Pictures drawn here, ``per_kind`` of each kind, the same every run."""
    for category, kinds in DRAWN.items():
        for kind, draw in kinds:
            rng = random.Random(f"unfamiliar/{seed}/{kind}")
            for index in range(per_kind):
                yield ForeignPhoto(category, f"drawn {kind} {index}", _png(draw(rng)))


def foreign_photos(per_kind: int = DRAWN_PER_KIND) -> list[ForeignPhoto]:
    """Every image of the benchmark that is not a tree, sample images first."""
    return [*sample_images(), *drawn_images(per_kind)]


# ------------------------------------------------------------------------------------------------ measuring


def _energy_and_verdict(predictor: Predictor, reference: familiarity.FamiliarityReference, source: Path | bytes,
                        ) -> tuple[float, bool]:
    """The old energy score and the new check's verdict, from one forward pass."""
    reading = familiarity.read_photo(predictor, predictor.prepare(source))
    return familiarity.energy_score(reading.logits), bool(reference.is_unfamiliar(reading))


def _calibration_photos(predictor: Predictor, folder: Path | None, limit: int) -> tuple[list[Path], str]:
    photos = familiarity.validation_photos(predictor.checkpoint)
    if photos:
        return photos, "validation photos of the run"
    if folder is None:
        return [], ""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUPPORTED_SUFFIXES)
    random.Random(0).shuffle(files)
    return files[: 4 * limit], f"{folder.name} photos"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=BUNDLED)
    parser.add_argument("--data", type=Path, default=ROOT / independent_set_dir("data"),
                        help="held-out synthetic trees (default: the independent set)")
    parser.add_argument("--limit", type=int, default=None, help="use a random sample of this many trees")
    parser.add_argument("--calibrate-on", type=Path, default=None,
                        help="for a checkpoint that carries no calibration and has no run beside it: a folder of "
                             "photos like its validation photos (not the independent set)")
    parser.add_argument("--drawn-per-kind", type=int, default=DRAWN_PER_KIND)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    predictor = load_predictor(args.checkpoint)
    started = time.perf_counter()
    reference = familiarity.stored_reference(predictor)
    if reference is None:
        photos, source = _calibration_photos(predictor, args.calibrate_on, familiarity.MAX_REFERENCE_PHOTOS)
        if args.calibrate_on is not None and args.calibrate_on.resolve() == args.data.resolve():
            parser.error("--calibrate-on must not be the held-out trees the false alarms are counted on")
        reference = familiarity.calibrate(predictor, photos, source=source) if photos else None
    if reference is None:
        parser.error(f"{args.checkpoint} carries no unfamiliar-photo calibration and there are no validation photos "
                     "to make one: give --calibrate-on FOLDER")
    calibration_seconds = time.perf_counter() - started
    print(f"Checkpoint {args.checkpoint} ({predictor.backbone}, {predictor.image_size} px {predictor.color_mode})")
    print(f"Calibration: {reference.describe()}  [{calibration_seconds:.1f} s]")

    trees = sorted(p for p in args.data.rglob("*") if p.suffix.lower() in SUPPORTED_SUFFIXES)
    if not trees:
        parser.error(f"no photos under {args.data}: make the independent set with "
                     f"python -m lightning_module synth --out {args.data} --n 1000 --seed 9001")
    if args.limit:
        random.Random(0).shuffle(trees)
        trees = trees[: args.limit]
    tree_energy, tree_flags = [], []
    for path in trees:
        try:
            energy, flagged = _energy_and_verdict(predictor, reference, path)
        except PhotoError:
            continue
        tree_energy.append(energy)
        tree_flags.append(flagged)

    by_category: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    missed: list[str] = []
    for photo in foreign_photos(args.drawn_per_kind):
        energy, flagged = _energy_and_verdict(predictor, reference, photo.data)
        by_category[photo.category].append((energy, flagged))
        if not flagged:
            missed.append(f"{photo.category}: {photo.name}")

    energy_threshold = reference.energy_threshold
    all_foreign = [item for items in by_category.values() for item in items]
    new_rate = float(np.mean([f for _, f in all_foreign]))
    old_rate = float(np.mean([e > energy_threshold for e, _ in all_foreign]))
    new_alarms = float(np.mean(tree_flags))
    old_alarms = float(np.mean([e > energy_threshold for e in tree_energy]))

    print(f"\nNot trees: {len(all_foreign)} images in {len(by_category)} categories")
    print(f"{'category':24s} {'images':>6s} {'flagged (new)':>14s} {'flagged (energy)':>17s}")
    rows = {}
    for category, items in by_category.items():
        new = float(np.mean([f for _, f in items]))
        old = float(np.mean([e > energy_threshold for e, _ in items]))
        rows[category] = {"images": len(items), "flagged": new, "flagged_energy": old}
        print(f"{category:24s} {len(items):6d} {new:14.1%} {old:17.1%}")
    macro = float(np.mean([r["flagged"] for r in rows.values()]))
    print(f"{'all':24s} {len(all_foreign):6d} {new_rate:14.1%} {old_rate:17.1%}   (mean over categories {macro:.1%})")
    print(f"\nFalse alarms on {len(tree_flags)} held-out synthetic trees ({args.data.name}): "
          f"new {new_alarms:.1%}, energy {old_alarms:.1%}")
    ratio = f"{new_rate / old_rate:.1f}x" if old_rate else "the energy check flagged none"
    print(f"Flagged, new vs energy: {new_rate:.1%} vs {old_rate:.1%} ({ratio})")
    # Would keeping the energy check beside the new one add anything? What it alone catches, what it costs.
    energy_only = sum(1 for e, f in all_foreign if e > energy_threshold and not f)
    union_alarms = float(np.mean([f or e > energy_threshold for e, f in zip(tree_energy, tree_flags)]))
    print(f"Both checks together: {energy_only} more images flagged ({(new_rate * len(all_foreign) + energy_only) / len(all_foreign):.1%}), "
          f"false alarms {union_alarms:.1%}")
    met = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    print(f"Targets: flagged >= {TARGET_FLAGGED:.0%}: {met(new_rate >= TARGET_FLAGGED)}; "
          f"false alarms <= {TARGET_FALSE_ALARMS:.0%}: {met(new_alarms <= TARGET_FALSE_ALARMS)}")
    if missed:
        print(f"\nNot flagged ({len(missed)}): " + "; ".join(missed[:40]) + (" ..." if len(missed) > 40 else ""))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "checkpoint": str(args.checkpoint), "calibration": reference.summary(), "categories": rows,
            "flagged": new_rate, "flagged_energy": old_rate, "flagged_mean_over_categories": macro,
            "false_alarms": new_alarms, "false_alarms_energy": old_alarms, "trees": len(tree_flags),
            "energy_only_catches": energy_only, "false_alarms_both": union_alarms,
            "not_flagged": missed,
        }, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
