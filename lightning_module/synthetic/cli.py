"""`python -m lightning_module synth`: make a synthetic dataset from the command line."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .domains import DOMAIN_HELP
from .generate import generate_dataset, read_config


def build_parser(prog: str = "python -m lightning_module synth") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Generate labelled synthetic roadside-tree photos (one folder per likelihood-of-failure "
                    "class, plus manifest.csv with every defect's severity and box). Synthetic scenes only: "
                    "see docs/SYNTHETIC_MODEL_CARD.md.",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to create (must not exist or be empty)")
    parser.add_argument("--n", type=int, default=458, help="number of images (default 458, the lab's count)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed and options = same files")
    parser.add_argument("--width", type=int, default=None, help="image width in pixels, 4:3 (default 640)")
    parser.add_argument("--height", type=int, default=None, help="image height in pixels (default: width x 3/4)")
    parser.add_argument("--imminent", action="store_true", help="also make an Imminent class")
    parser.add_argument("--label-noise", type=float, default=0.0,
                        help="share of trees whose label is flipped to a neighbouring class (0..1, default 0)")
    parser.add_argument("--photos-per-tree", type=int, default=1,
                        help="photos of each tree, differently framed; they share a group id (default 1)")
    parser.add_argument("--domain", default="default", help=DOMAIN_HELP)
    parser.add_argument("--workers", type=int, default=1, help="processes to use (default 1)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (0 ok, 2 bad options or an occupied folder)."""
    args = build_parser().parse_args(argv)
    width = args.width if args.width is not None else (round(args.height * 4 / 3) if args.height else 640)
    height = args.height if args.height is not None else round(width * 3 / 4)
    started = time.perf_counter()
    try:
        out = generate_dataset(
            args.out, n=args.n, seed=args.seed, width=width, height=height, include_imminent=args.imminent,
            label_noise=args.label_noise, photos_per_tree=args.photos_per_tree, domain=args.domain,
            workers=args.workers,
        )
    except (ValueError, FileExistsError, OSError) as error:
        print(f"synth: {error}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    config = read_config(out) or {}
    per_class = config.get("images_per_class", {})
    total = sum(per_class.values())
    counts = ", ".join(f"{label} {count}" for label, count in per_class.items())
    print(f"Synthetic dataset in {out}: {total} images ({counts}); {config.get('trees', '?')} trees, "
          f"{width}x{height}, domain {config.get('options', {}).get('domain', args.domain)}, seed {args.seed}.")
    print(f"Manifest: {out / 'manifest.csv'}. Took {seconds:.1f} s ({total / max(seconds, 1e-9):.0f} images/s).")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
