"""Does the Grad-CAM heatmap point at the defect? The pointing game on the synthetic data's defect boxes.

    python bench/gradcam_pointing.py [--data DIR] [--checkpoint PATH] [--n 150] [--seed 1] [--target true|predicted]

For every photo in a synthetic dataset (``manifest.csv``: ``path``, ``label``, ``bbox_<defect>`` = "x0 y0 x1 y1" in
stored-image pixels, blank when the defect is absent) that has at least one defect box, the heatmap's hottest
pixel is mapped back to the photo and counts as a *hit* when it falls inside any defect box (strict: no tolerance
margin). Two baselines, computed on the same photos:

* random point: the chance that a uniformly random point of the model's crop lands in a box (the boxes' share of
  the crop, exact, not sampled);
* centre point: the crop's centre, a strong baseline here because the tree's trunk is usually in the middle.

Without ``--data`` a fresh held-out dataset is generated (seed 1; the bundled model was trained on seed 0) with
``lightning_module.synthetic.generate_dataset``. Without ``--checkpoint`` the bundled
checkpoints/seed_cnn_synthetic.ckpt is used. The explained class is the photo's true class (``--target true``, the
usual pointing game) or the model's prediction.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lightning_module.data.categories import canonical_class_name  # noqa: E402
from lightning_module.data.imaging import PhotoError  # noqa: E402
from lightning_module.evaluation.explain import explain, heatmap_peak  # noqa: E402
from lightning_module.evaluation.predictor import load_predictor  # noqa: E402

BUNDLED = ROOT / "checkpoints" / "seed_cnn_synthetic.ckpt"


def parse_box(text: str) -> tuple[float, float, float, float] | None:
    parts = (text or "").split()
    if len(parts) != 4:
        return None
    x0, y0, x1, y1 = map(float, parts)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def boxes_of(row: dict[str, str]) -> dict[str, tuple[float, float, float, float]]:
    found = {}
    for column, value in row.items():
        if column.startswith("bbox_") and (box := parse_box(value)):
            found[column.removeprefix("bbox_")] = box
    return found


def inside(box: tuple[float, float, float, float], x: float, y: float) -> bool:
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def covered_share(boxes: list[tuple[float, float, float, float]], crop: tuple[int, int, int, int]) -> float:
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


def dataset(folder: str | None, n: int, seed: int, scratch: Path) -> Path:
    if folder:
        path = Path(folder)
        if not (path / "manifest.csv").is_file():
            raise SystemExit(f"{path} has no manifest.csv; give a synthetic dataset folder")
        return path
    from lightning_module.synthetic import generate_dataset

    print(f"generating {n} held-out synthetic photos (seed {seed}) in a temporary folder …", flush=True)
    return generate_dataset(scratch / "data", n=n, seed=seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="synthetic dataset folder with manifest.csv")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--n", type=int, default=150, help="photos to generate when --data is not given")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0, help="use at most this many photos (0: all)")
    parser.add_argument("--target", choices=("true", "predicted"), default="true")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    checkpoint = Path(args.checkpoint) if args.checkpoint else BUNDLED
    if not checkpoint.is_file():
        raise SystemExit(f"checkpoint not found: {checkpoint} (train one, or pass --checkpoint runs/.../best.ckpt)")
    predictor = load_predictor(checkpoint)
    with tempfile.TemporaryDirectory(prefix="treerisk_pointing_") as scratch:  # a generated set is removed after
        return score(predictor, checkpoint, dataset(args.data, args.n, args.seed, Path(scratch)), args)


def score(predictor, checkpoint: Path, root: Path, args: argparse.Namespace) -> int:
    with (root / "manifest.csv").open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if boxes_of(row)]
    if args.limit:
        rows = rows[: args.limit]

    hits = centre_hits = flat = skipped = 0
    random_expected: list[float] = []
    per_defect: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # defect -> [photos, peak inside its box]
    per_label: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0])  # label -> [photos, hits, random expected]
    started = time.perf_counter()
    for row in rows:
        try:
            photo = predictor.prepare(root / row["path"])
        except PhotoError as error:
            skipped += 1
            print(f"skipped {row['path']}: {error}")
            continue
        target = class_index_for(row["label"], predictor.classes) if args.target == "true" else None
        result = explain(predictor, photo, target)
        x, y = heatmap_peak(result.heatmap, photo)
        boxes = boxes_of(row)
        hit = not result.flat and any(inside(box, x, y) for box in boxes.values())
        hits += hit
        flat += result.flat
        left, top, right, bottom = photo.crop_box
        centre_hits += any(inside(box, (left + right) / 2, (top + bottom) / 2) for box in boxes.values())
        random_expected.append(covered_share(list(boxes.values()), photo.crop_box))
        per_label[row["label"]][0] += 1
        per_label[row["label"]][1] += hit
        per_label[row["label"]][2] += random_expected[-1]
        for defect, box in boxes.items():
            per_defect[defect][0] += 1
            per_defect[defect][1] += not result.flat and inside(box, x, y)

    scored = len(random_expected)
    if not scored:
        raise SystemExit("no photo with a defect box could be scored")
    figures = {
        "checkpoint": str(checkpoint), "backbone": predictor.backbone, "image_size": predictor.image_size,
        "data": str(root), "photos_with_boxes": scored, "skipped": skipped, "explained_class": args.target,
        "pointing_accuracy": round(hits / scored, 4),
        "random_point_baseline": round(float(np.mean(random_expected)), 4),
        "centre_point_baseline": round(centre_hits / scored, 4),
        "flat_heatmaps": flat,
        "per_label": {k: {"photos": n, "pointing_accuracy": round(h / n, 4), "random_point_baseline": round(r / n, 4)}
                      for k, (n, h, r) in sorted(per_label.items())},
        "per_defect": {d: {"photos": n, "hit_rate": round(h / n, 4)} for d, (n, h) in sorted(per_defect.items())},
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(f"\nmodel: {checkpoint} ({predictor.backbone}, {predictor.image_size} px); data: {root}")
    print(f"photos with at least one defect box: {scored} (explaining the {args.target} class)")
    print(f"  Grad-CAM peak inside a defect box : {hits / scored:6.1%}")
    print(f"  random point (expected)           : {np.mean(random_expected):6.1%}")
    print(f"  centre of the crop                : {centre_hits / scored:6.1%}")
    print(f"  flat heatmaps (counted as misses) : {flat}")
    print("per true class (photos: peak in a box / random point)")
    for label, (count, hit_count, expected) in sorted(per_label.items()):
        print(f"  {label:<20}{count:>5}  {hit_count / count:6.1%} / {expected / count:6.1%}")
    print("per defect (photos with it: how often the peak is in that defect's box)")
    for defect, (count, hit_count) in sorted(per_defect.items(), key=lambda item: -item[1][0]):
        print(f"  {defect:<20}{count:>5}  {hit_count / count:6.1%}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
