"""A contact sheet of a synthetic dataset: one row per class, each photo captioned with its defects.

    python -m lightning_module.synthetic.contact_sheet --out docs/synthetic_contact_sheet.png

makes the sheet shown in the README (from a fresh 458-image, seed-0 dataset at 640x480 unless --dataset is given).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .defects import DEFECTS
from .generate import generate_dataset, read_manifest
from .scoring import class_interval, class_names

_SHORT = {
    "lean": "lean", "trunk_crack": "crack", "cavity": "cavity", "dead_limbs": "dead limbs",
    "hanging_branch": "hanger", "crown_dieback": "dieback", "codominant_stems": "codominant",
    "root_plate_heave": "root heave", "fungal_conks": "conks", "wire_contact": "wires",
}
_BOX_COLOURS = ((255, 64, 64), (255, 200, 0), (0, 220, 255), (255, 120, 255), (120, 255, 120))


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def caption(row: dict) -> str:
    """'hanger .72  lean .55' for the defects present, worst first; 'no defects' for a sound tree."""
    present = sorted(((row[f"severity_{d}"], d) for d in DEFECTS if row[f"severity_{d}"] > 0), reverse=True)
    if not present:
        return "no defects"
    text = "  ".join(f"{_SHORT[d]} {s:.2f}".replace("0.", ".") for s, d in present[:3])
    return text + ("  +" + str(len(present) - 3) if len(present) > 3 else "")


def make_contact_sheet(dataset_dir: Path, out_png: Path, per_class: int = 6, thumb_width: int = 300,
                       boxes: bool = False) -> Path:
    """Write a PNG with ``per_class`` photos of every class (first in manifest order, i.e. a random sample)."""
    rows = read_manifest(dataset_dir)
    labels = [c for c in class_names(include_imminent=True) if any(r["label"] == c for r in rows)]
    thumb_h = thumb_width * 3 // 4
    label_w, cap_h, title_h, pad = 170, 22, 46, 6
    width = label_w + per_class * (thumb_width + pad) + pad
    height = title_h + len(labels) * (thumb_h + cap_h + pad) + pad
    sheet = Image.new("RGB", (width, height), (250, 250, 248))
    draw = ImageDraw.Draw(sheet)
    draw.text((pad * 2, 8), "Synthetic roadside trees (TreeRisk generator): one row per likelihood-of-failure "
              "class; caption = defects present and their severity (0..1)", fill=(20, 20, 20), font=_font(18))
    include_imminent = "Imminent" in labels
    for r_index, label in enumerate(labels):
        y = title_h + r_index * (thumb_h + cap_h + pad)
        low, high = class_interval(label, include_imminent)
        draw.text((pad * 2, y + thumb_h // 2 - 22), label, fill=(0, 0, 0), font=_font(24))
        draw.text((pad * 2, y + thumb_h // 2 + 10), f"risk {low:.2f}-{high:.2f}", fill=(90, 90, 90), font=_font(15))
        chosen = [r for r in rows if r["label"] == label][:per_class]
        for c_index, row in enumerate(chosen):
            x = label_w + pad + c_index * (thumb_width + pad)
            with Image.open(Path(dataset_dir) / row["path"]) as photo:
                scale = thumb_width / photo.width
                thumb = photo.convert("RGB").resize((thumb_width, thumb_h), Image.Resampling.LANCZOS)
            if boxes:
                _draw_boxes(thumb, row, scale)
            sheet.paste(thumb, (x, y))
            draw.text((x + 2, y + thumb_h + 3), caption(row), fill=(30, 30, 30), font=_font(14))
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_png, optimize=True)
    return out_png


def _draw_boxes(thumb: Image.Image, row: dict, scale: float) -> None:
    draw = ImageDraw.Draw(thumb)
    k = 0
    for d in DEFECTS:
        box = row[f"bbox_{d}"]
        if box:
            colour = _BOX_COLOURS[k % len(_BOX_COLOURS)]
            draw.rectangle([v * scale for v in box], outline=colour, width=2)
            k += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lightning_module.synthetic.contact_sheet",
                                     description="Draw a contact sheet (one row per class) of a synthetic dataset.")
    parser.add_argument("--out", type=Path, default=Path("docs/synthetic_contact_sheet.png"))
    parser.add_argument("--dataset", type=Path, help="existing synthetic dataset (default: make one in a temp dir)")
    parser.add_argument("--per-class", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--boxes", action="store_true", help="outline each defect's manifest box")
    args = parser.parse_args(argv)
    if args.dataset:
        make_contact_sheet(args.dataset, args.out, args.per_class, boxes=args.boxes)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            data = generate_dataset(Path(tmp) / "synthetic", n=458, seed=args.seed)
            make_contact_sheet(data, args.out, args.per_class, boxes=args.boxes)
    print(f"Contact sheet written to {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
