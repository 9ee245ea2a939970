"""Fuzz the ``_jpeg_dc`` decoder built with AddressSanitizer and UBSan against libjpeg-turbo (through Pillow).

    .venv/bin/python scripts/fuzz_jpeg_dc.py [--cases 100000] [--seed 1]

Builds ``lightning_module/data/_jpeg_dc.c`` with ``-fsanitize=address,undefined`` into a temporary folder, runs
itself again with the sanitizers' runtimes preloaded, and feeds the decoder damaged copies of several JPEGs (bytes
overwritten, inserted, or the file cut short), from Pillow and from ``tests/jpeg_writer.py`` (restart markers,
odd sampling), then undamaged streams of random shapes (one for every 20 damaged files). A memory error or undefined behaviour stops the run with the sanitizer's report; every picture the
decoder returns must equal libjpeg-turbo's. The fast subset of this is ``tests/test_jpeg_dc.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "lightning_module" / "data" / "_jpeg_dc.c"


def build_with_sanitizers(folder: Path) -> Path:
    target = folder / f"_jpeg_dc{sysconfig.get_config_var('EXT_SUFFIX')}"
    subprocess.run(["gcc", "-O1", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-shared", "-fPIC",
                    f"-I{sysconfig.get_paths()['include']}", str(SOURCE), "-o", str(target)], check=True)
    return target


def runtime(name: str) -> str:
    path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True, check=True).stdout.strip()
    if not os.path.isabs(path):
        sys.exit(f"gcc has no {name}: install gcc's sanitizer runtimes (Debian: libasan8, libubsan1)")
    return path


def fuzz(module_path: Path, cases: int, seed: int) -> int:
    import numpy as np
    from PIL import Image

    sys.path.insert(0, str(ROOT))
    from tests.jpeg_writer import JpegSpec, libjpeg_picture, pillow_jpeg, random_spec, write_jpeg

    spec = importlib.util.spec_from_file_location("_jpeg_dc", module_path)
    assert spec is not None and spec.loader is not None
    decoder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(decoder)
    rng = np.random.default_rng(seed)

    originals = [
        write_jpeg(JpegSpec(48, 40, restart_interval=2, seed=20)),
        pillow_jpeg((48, 40), seed=seed, quality=90),
        pillow_jpeg((64, 64), seed=seed + 1, quality=30, subsampling=0),
        pillow_jpeg((41, 27), seed=seed + 2, quality=60, subsampling=2),  # part-filled MCUs on both edges
        write_jpeg(JpegSpec(40, 40, sampling=[(1, 1)], restart_interval=1, seed=3)),
        write_jpeg(JpegSpec(64, 32, sampling=[(4, 1), (1, 1), (1, 1)], seed=4)),
    ]
    saved = []

    def agrees(data: bytes, picture: bytes) -> bool:
        """Whether libjpeg-turbo decodes ``data`` to ``picture`` (scale 1/8, grey); a file it refuses never does.
        A disagreement is saved as jpeg_dc_mismatch_<n>.jpg to look at."""
        try:
            if libjpeg_picture(data).tobytes() == picture:
                return True
        except Exception:  # noqa: BLE001 - libjpeg-turbo refuses what the decoder took
            pass
        saved.append(ROOT / f"jpeg_dc_mismatch_{len(saved) + 1}.jpg")
        saved[-1].write_bytes(data)
        return False

    taken = mismatches = 0
    for case in range(cases):
        damaged = bytearray(originals[case % len(originals)])
        kind = rng.integers(0, 3)
        if kind == 0:
            for position in rng.integers(0, len(damaged), rng.integers(1, 6)):
                damaged[position] = int(rng.integers(0, 256))
        elif kind == 1:
            damaged = damaged[: rng.integers(0, len(damaged))]
        else:
            position = int(rng.integers(0, len(damaged)))
            damaged[position:position] = rng.integers(0, 256, rng.integers(1, 20)).astype(np.uint8).tobytes()
        data = bytes(damaged)
        try:
            width, height = Image.open(io.BytesIO(data)).size
        except Exception:  # noqa: BLE001 - a header Pillow cannot read: the decoder must still survive it
            width, height = 48, 40
        picture = decoder.luma_dc_picture(data, width, height)
        if picture is not None:
            taken += 1
            mismatches += not agrees(data, picture)
    print(f"{cases} damaged files: the decoder took {taken}, gave way on {cases - taken}; "
          f"{mismatches} differed from libjpeg-turbo" + (" (saved as jpeg_dc_mismatch_*.jpg)" if mismatches else ""))
    shapes, taken_shapes = cases // 20, 0
    for seed in range(shapes):  # undamaged streams of every shape: sampling libjpeg refuses, RGB ids, restarts, ...
        data = write_jpeg(random_spec(rng, seed))
        picture = decoder.luma_dc_picture(data, *Image.open(io.BytesIO(data)).size)
        if picture is not None:
            taken_shapes += 1
            mismatches += not agrees(data, picture)
    print(f"{shapes} streams of random shapes: the decoder took {taken_shapes}; {mismatches} differences in all")
    return 1 if mismatches else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--module", type=Path, help=argparse.SUPPRESS)  # the second run: the built module
    args = parser.parse_args()
    if args.module is not None:
        sys.exit(fuzz(args.module, args.cases, args.seed))
    with tempfile.TemporaryDirectory() as folder:
        module = build_with_sanitizers(Path(folder))
        # Python allocates with malloc, so the sanitizer sees the bounds of the bytes object the decoder writes into
        environment = dict(os.environ, PYTHONMALLOC="malloc", LD_PRELOAD=f"{runtime('libasan.so')} {runtime('libubsan.so')}",
                           ASAN_OPTIONS="detect_leaks=0", UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
        command = [sys.executable, __file__, "--cases", str(args.cases), "--seed", str(args.seed), "--module", str(module)]
        sys.exit(subprocess.run(command, env=environment).returncode)


if __name__ == "__main__":
    main()
