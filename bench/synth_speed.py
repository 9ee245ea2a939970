"""How fast the synthetic generator makes photos, against the 50 images/s target (640x480, one core).

    .venv/bin/python bench/synth_speed.py [--n 300] [--width 640] [--workers 1]

Prints images per second by wall clock and by this process's CPU time (the CPU figure is what one free core
would do; on a busy shared machine wall clock is lower), with the ratio to the target, and where the time goes
(scene drawing vs JPEG + EXIF + writing). It times the real generate_dataset, so it includes everything.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lightning_module.synthetic import generate_dataset  # noqa: E402
from lightning_module.synthetic.domains import parse_domain  # noqa: E402
from lightning_module.synthetic.render import render  # noqa: E402
from lightning_module.synthetic.spec import sample_photo, sample_tree  # noqa: E402

TARGET = 50.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    height = args.width * 3 // 4

    with tempfile.TemporaryDirectory() as tmp:
        generate_dataset(Path(tmp) / "warmup", n=5, width=args.width, height=height)  # imports, caches
        wall, cpu = time.perf_counter(), time.process_time()
        generate_dataset(Path(tmp) / "synthetic", n=args.n, seed=1, width=args.width, height=height,
                         workers=args.workers)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

    # Where the time goes, on a sample of the same trees.
    labels = ("Improbable", "Possible", "Probable")
    draw_s = encode_s = 0.0
    for i in range(60):
        spec = sample_tree(1, i, labels[i % 3], parse_domain("default"))
        photo = sample_photo(1, spec, 0)
        t0 = time.process_time()
        image, _ = render(spec, photo, args.width, height)
        t1 = time.process_time()
        image.save(io.BytesIO(), "JPEG", quality=photo.quality)
        draw_s += t1 - t0
        encode_s += time.process_time() - t1

    wall_rate = args.n / wall
    print(f"synthetic generator, {args.n} images at {args.width}x{height}, workers={args.workers}")
    print(f"  wall clock: {wall_rate:6.1f} images/s  ({wall_rate / TARGET:.2f}x the {TARGET:.0f}/s target)")
    if args.workers == 1:
        cpu_rate = args.n / cpu
        print(f"  CPU time:   {cpu_rate:6.1f} images/s  ({cpu_rate / TARGET:.2f}x the target; one free core)")
    print(f"  per image:  drawing + noise {draw_s / 60 * 1000:.1f} ms, JPEG encode {encode_s / 60 * 1000:.1f} ms (CPU)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
