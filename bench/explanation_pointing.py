"""Which explanation points at the defect? The pointing game for every explanation method, on the independent set.

    python bench/explanation_pointing.py [--checkpoint PATH] [--limit N] [--methods gradcam,occlusion,...]
                                         [--data DIR] [--target predicted|true] [--json PATH]

The photos are the independent synthetic set (``lightning_module.evaluation.independent_set``: generator seed 9001,
which no training uses; made on first use). A checkpoint trained on that seed is refused, and so is a ``--data``
set of seed 0, the training seed. Scored are the trees with at least one defect of severity
≥ 0.5 that has a box (``severity_<defect>``, ``bbox_<defect>`` = "x0 y0 x1 y1" in the 640x480 photo's pixels).
For each method the heatmap's hottest pixel is carried from the model's centre-square input back into the photo
(:func:`~lightning_module.evaluation.explain.heatmap_peak`) and is a *hit* when it falls inside any box of a defect
of severity ≥ 0.5 (strict, no margin; a flat heatmap is a miss). Two baselines on the same trees, same boxes:

* random point: the chance that a uniformly random point of the model's crop lands in a box (the boxes' share of
  the crop, exact, not sampled);
* crop centre: the crop's centre point, strong here because the trunk and most defects are in the middle.

Printed: the hit rate over all scored trees and on Probable trees, each method's mean time per explanation (one
torch thread, as the dashboard runs), the targets (≥ 0.60 overall, ≥ 0.75 on Probable trees) as met or not, and
each method's hit rate per defect. The explained class is the model's prediction, what the Assess page shows
(``--target true`` explains the tree's labelled class instead, the textbook pointing game).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lightning_module.data.categories import canonical_class_name  # noqa: E402
from lightning_module.data.imaging import PhotoError  # noqa: E402
from lightning_module.evaluation.explain import EXPLANATION_METHODS, explain, heatmap_peak  # noqa: E402
from lightning_module.evaluation.independent_set import (  # noqa: E402
    IndependentSetError,
    check_independence,
    ensure_independent_set,
    training_data_of,
)
from lightning_module.evaluation.bundled_models import DEFAULT_MODEL  # noqa: E402
from lightning_module.evaluation.predictor import Predictor, load_predictor  # noqa: E402

BUNDLED = DEFAULT_MODEL.path
MIN_SEVERITY = 0.5  # a defect an arborist would act on; fainter ones are barely drawn
TARGET_OVERALL, TARGET_PROBABLE = 0.60, 0.75
TRAINING_SEED_GROUP = "synth-s0-"  # manifest ``group`` prefix of photos from the training generator's seed

Box = tuple[float, float, float, float]


@dataclass
class Tally:
    """Hits of one pointer (a method or a baseline) over the scored trees."""

    trees: int = 0
    hits: float = 0.0  # a float: the random-point baseline adds expected hits
    probable_trees: int = 0
    probable_hits: float = 0.0
    flat: int = 0
    seconds: list[float] = field(default_factory=list)
    per_defect: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    def add(self, hit: float, probable: bool) -> None:
        self.trees += 1
        self.hits += hit
        self.probable_trees += probable
        self.probable_hits += hit if probable else 0.0

    @property
    def overall(self) -> float:
        return self.hits / self.trees if self.trees else float("nan")

    @property
    def probable(self) -> float:
        return self.probable_hits / self.probable_trees if self.probable_trees else float("nan")


def parse_box(text: str) -> Box | None:
    parts = (text or "").split()
    if len(parts) != 4:
        return None
    x0, y0, x1, y1 = map(float, parts)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def severe_boxes(row: dict[str, str], min_severity: float = MIN_SEVERITY) -> dict[str, Box]:
    """defect -> box of each defect of at least ``min_severity`` that has a box in this manifest row."""
    found = {}
    for column, value in row.items():
        if not column.startswith("bbox_") or not (box := parse_box(value)):
            continue
        defect = column.removeprefix("bbox_")
        try:
            severity = float(row.get(f"severity_{defect}") or 0.0)
        except ValueError:
            continue
        if severity >= min_severity:
            found[defect] = box
    return found


def inside(box: Box, x: float, y: float) -> bool:
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def covered_share(boxes: list[Box], crop: tuple[int, int, int, int]) -> float:
    """Exact share of the crop covered by the union of the boxes (on the pixel grid)."""
    left, top, right, bottom = crop
    mask = np.zeros((bottom - top, right - left), dtype=bool)
    for x0, y0, x1, y1 in boxes:
        c0, c1 = int(np.clip(np.floor(x0) - left, 0, right - left)), int(np.clip(np.ceil(x1) - left, 0, right - left))
        r0, r1 = int(np.clip(np.floor(y0) - top, 0, bottom - top)), int(np.clip(np.ceil(y1) - top, 0, bottom - top))
        mask[r0:r1, c0:c1] = True
    return float(mask.mean()) if mask.size else 0.0


def class_index_for(label: str, classes: list[str]) -> int | None:
    """The model class a manifest label belongs to, merged classes ("Probable+Possible") included."""
    label = canonical_class_name(label)
    for index, name in enumerate(classes):
        if label in (canonical_class_name(part) for part in name.split("+")):
            return index
    return None


def scored_rows(root: Path, limit: int) -> list[dict[str, str]]:
    """The manifest rows with a severe, boxed defect; refuses the training generator's seed."""
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        raise SystemExit(f"{root} has no manifest.csv; give a synthetic dataset folder (or leave --data out)")
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if any(row.get("group", "").startswith(TRAINING_SEED_GROUP) for row in rows):
        raise SystemExit(f"{root} holds photos of seed 0, the seed training uses; give an independent set")
    rows = [row for row in rows if severe_boxes(row)]
    return rows[:limit] if limit else rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(BUNDLED))
    parser.add_argument("--data", default=None,
                        help="synthetic set with manifest.csv, not seed 0 (default: the independent set)")
    parser.add_argument("--limit", type=int, default=0, help="score at most this many trees (0: all)")
    parser.add_argument("--methods", default=",".join(EXPLANATION_METHODS),
                        help=f"comma-separated, from: {', '.join(EXPLANATION_METHODS)}")
    parser.add_argument("--target", choices=("predicted", "true"), default="predicted")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    methods = [name.strip() for name in args.methods.split(",") if name.strip()]
    unknown = [name for name in methods if name not in EXPLANATION_METHODS]
    if unknown or not methods:
        raise SystemExit(f"unknown method(s) {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(EXPLANATION_METHODS)}")
    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_file():
        raise SystemExit(f"checkpoint not found: {checkpoint} (train one, or pass --checkpoint runs/.../best.ckpt)")
    torch.set_num_threads(1)  # as the dashboard runs: times then match what a user waits on the Assess page
    predictor = load_predictor(checkpoint)
    try:
        warning = check_independence(training_data_of(checkpoint, predictor.info))
    except IndependentSetError as error:
        raise SystemExit(str(error)) from None
    if warning:
        print(f"warning: {warning}")
    root = Path(args.data) if args.data else ensure_independent_set(ROOT / "data")
    rows = scored_rows(root, args.limit)
    if not rows:
        raise SystemExit(f"no tree in {root} has a defect of severity ≥ {MIN_SEVERITY} with a box")
    tallies, skipped = score(predictor, root, rows, methods, args.target)
    report(predictor, checkpoint, root, methods, tallies, skipped, args)
    return 0


def score(predictor: Predictor, root: Path, rows: list[dict[str, str]], methods: list[str],
          target_kind: str) -> tuple[dict[str, Tally], int]:
    tallies = {name: Tally() for name in [*methods, "random point", "crop centre"]}
    skipped, warmed = 0, False
    for count, row in enumerate(rows, 1):
        try:
            photo = predictor.prepare(root / row["path"])
        except PhotoError as error:
            skipped += 1
            print(f"skipped {row['path']}: {error}")
            continue
        if not warmed:  # the first call of each method imports captum's modules and finds the layers: not timed
            for name in methods:
                explain(predictor, photo, method=name)
            warmed = True
        boxes = severe_boxes(row)
        probable = row["label"] == "Probable"
        target = class_index_for(row["label"], predictor.classes) if target_kind == "true" else None
        for name in methods:
            started = time.perf_counter()
            result = explain(predictor, photo, target, method=name)
            tallies[name].seconds.append(time.perf_counter() - started)
            x, y = heatmap_peak(result.heatmap, photo)
            tallies[name].add(not result.flat and any(inside(box, x, y) for box in boxes.values()), probable)
            tallies[name].flat += result.flat
            for defect, box in boxes.items():
                tallies[name].per_defect[defect][0] += 1
                tallies[name].per_defect[defect][1] += not result.flat and inside(box, x, y)
        left, top, right, bottom = photo.crop_box
        tallies["random point"].add(covered_share(list(boxes.values()), photo.crop_box), probable)
        tallies["crop centre"].add(any(inside(box, (left + right) / 2, (top + bottom) / 2) for box in boxes.values()),
                                   probable)
        if count % 25 == 0:
            print(f"  {count}/{len(rows)} trees", flush=True)
    return tallies, skipped


def report(predictor: Predictor, checkpoint: Path, root: Path, methods: list[str], tallies: dict[str, Tally],
           skipped: int, args: argparse.Namespace) -> None:
    centre = tallies["crop centre"]
    print(f"\nmodel: {checkpoint} ({predictor.backbone}, {predictor.image_size} px {predictor.color_mode})")
    print(f"data: {root}; trees with a defect of severity ≥ {MIN_SEVERITY}: {centre.trees} "
          f"({centre.probable_trees} Probable), skipped {skipped}; explaining the {args.target} class\n")
    print(f"{'pointer':<28}{'overall':>9}{'Probable':>10}{'ms/expl.':>10}{'flat':>6}"
          f"   targets (≥ {TARGET_OVERALL:.0%} / ≥ {TARGET_PROBABLE:.0%})")
    for name, tally in tallies.items():
        label = EXPLANATION_METHODS[name].label if name in EXPLANATION_METHODS else f"baseline: {name}"
        timing = f"{1000 * np.mean(tally.seconds):10.1f}" if tally.seconds else f"{'':>10}"
        verdict = ""
        if name in EXPLANATION_METHODS:
            verdict = (f"   overall {'met' if tally.overall >= TARGET_OVERALL else 'not met'}, "
                       f"Probable {'met' if tally.probable >= TARGET_PROBABLE else 'not met'}")
        flat = f"{tally.flat:>6}" if name in EXPLANATION_METHODS else f"{'':>6}"
        print(f"{label:<28}{tally.overall:>9.1%}{tally.probable:>10.1%}{timing}{flat}{verdict}")
    best = max(methods, key=lambda name: (tallies[name].overall, tallies[name].probable))
    print(f"\nbest here: {best} ({EXPLANATION_METHODS[best].label})")

    defects = sorted(tallies[methods[0]].per_defect, key=lambda d: -tallies[methods[0]].per_defect[d][0])
    print("\nper defect (trees with it: how often each method's peak is in that defect's box)")
    print(f"{'defect':<20}{'trees':>6}" + "".join(f"{name[:14]:>16}" for name in methods))
    for defect in defects:
        trees = tallies[methods[0]].per_defect[defect][0]
        rates = "".join(f"{tallies[m].per_defect[defect][1] / trees:>16.1%}" for m in methods)
        print(f"{defect:<20}{trees:>6}{rates}")

    if args.json:
        figures = {
            "checkpoint": str(checkpoint), "backbone": predictor.backbone, "image_size": predictor.image_size,
            "data": str(root), "min_severity": MIN_SEVERITY, "explained_class": args.target,
            "trees": centre.trees, "probable_trees": centre.probable_trees, "skipped": skipped,
            "targets": {"overall": TARGET_OVERALL, "probable": TARGET_PROBABLE}, "best": best,
            "pointers": {name: {"overall": round(t.overall, 4), "probable": round(t.probable, 4),
                                "mean_ms": round(1000 * float(np.mean(t.seconds)), 2) if t.seconds else None,
                                "flat": t.flat if name in EXPLANATION_METHODS else None}
                         for name, t in tallies.items()},
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
