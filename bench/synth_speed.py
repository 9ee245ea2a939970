"""How fast the synthetic generator makes photos, against the 100 images/s target (640x480, one core).

    .venv/bin/python bench/synth_speed.py [--n 300] [--width 640] [--workers 1]

Prints images per second by wall clock and by this process's CPU time (the CPU figure is what one free core
would do; on a busy shared machine wall clock is lower), with the ratio to the target, and where the time goes
(scene drawing vs JPEG + EXIF + writing). It times the real generate_dataset, so it includes everything.

Where the time went before the speed-up (issue 16, item 4), cProfile of generate_dataset(n=150, seed=1) by CPU time
(the profiler's own cost inflates the Python calls about twofold), top lines by own time:

    ncalls      tottime  cumtime  function
    17062/2920    0.227    0.530  tree.py:_grow              (the crown's branches, laid out three times a photo)
    45241         0.219    0.705  canvas.py:ellipse          (300 leaf, cloud and grass ellipses a photo)
       62         0.186    0.186  ImagingCore.box_blur       (focus blur on 40 % of photos, 3 ms each)
   128452         0.179    0.259  random.py:uniform
     2468         0.136    0.136  ImagingEncoder.encode      (JPEG)
      150         0.135    0.476  render.py:_camera_effects  (blur + sensor noise)
   179860         0.134    0.139  builtins.max
    59611         0.131    0.218  ImageDraw.py:_getink       (colour to ink, once per shape)
    16843         0.107    0.245  tree.py:trunk_point
    45241         0.104    0.346  ImageDraw.py:ellipse

Timed without the profiler (CPU ms per photo, before -> after): blur and noise 2.8 -> 2.2 (both per colour plane:
Pillow blurs RGB as four bytes a pixel, NumPy adds a plane to (h, w, 3) in runs of three), EXIF 0.44 -> 0.12
(Pillow's block built once per camera and patched), drawing 2.2 -> 1.9 (Pillow's drawing core called directly with
each colour's ink looked up once; the trunk's angle remembered; the tree laid out for placing it reused to draw
it). JPEG encoding (0.85) and writing the file are unchanged. Every file is byte-identical to before
(tests/test_synthetic_golden.py), so GENERATOR_VERSION stays 1.
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

TARGET = 100.0  # images per second on one core (issue 16, item 4)


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
