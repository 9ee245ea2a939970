"""Decode one file in a fresh process and measure it: outcome, message, seconds, peak memory.

``python -m lightning_module.reliability.probe FILE [--path square|upright] [--size N] [--limit-mb M]`` prints one
JSON object. Peak memory is the growth of the resident set's high-water mark over the decode (reset just before
it, on Linux), so the imports and reading the file do not count. ``--limit-mb`` caps the address space the decode may add, so a
runaway decode fails with MemoryError (and is reported) instead of exhausting a shared machine.

The probe imports only the imaging module (no torch), which keeps its own footprint small and the numbers clean.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProbeResult:
    outcome: str  # "ok", "refused" (PhotoError) or "crash" (any other exception)
    message: str  # the refusal or crash message; for "ok", the photo's notes
    seconds: float
    peak_mb: float  # growth of the maximum resident set during the decode


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the kernel's resident-set high-water mark (Linux), so the peak measured is the decode's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_mb() -> float:
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux




def measure(data: bytes, path: str = "square", size: int = 64, limit_mb: float | None = None) -> ProbeResult:
    """Decode ``data`` in this process with ``load_square`` (or ``load_upright``) and measure it."""
    from lightning_module.data.imaging import PhotoError, load_square, load_upright

    if limit_mb:
        cap = int(((_status_mb("VmSize") or 0.0) + limit_mb) * 1024 * 1024)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    before = _status_mb("VmRSS") if _reset_peak() else _peak_mb()
    before = before if before is not None else _peak_mb()
    start = time.perf_counter()
    try:
        if path == "square":
            outcome, message = "ok", "; ".join(load_square(data, size, "rgb").notes)
        else:
            load_upright(data)
            outcome, message = "ok", ""
    except PhotoError as error:
        outcome, message = "refused", str(error)
    except BaseException as error:  # noqa: BLE001 - the probe reports every failure, that is its job
        outcome, message = "crash", f"{type(error).__name__}: {error}"
    return ProbeResult(outcome, message, round(time.perf_counter() - start, 3), round(max(0.0, _peak_mb() - before), 1))


def probe_file(file: Path | str, path: str = "square", size: int = 64, limit_mb: float | None = None,
               timeout: float = 120.0) -> ProbeResult:
    """Run :func:`measure` on ``file`` in a fresh interpreter; a hang past ``timeout`` or a hard crash is reported."""
    command = [sys.executable, "-m", "lightning_module.reliability.probe", str(file), "--path", path, "--size", str(size)]
    if limit_mb:
        command += ["--limit-mb", str(limit_mb)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return ProbeResult("crash", f"hang: still decoding after {timeout:.0f} s", timeout, float("nan"))
    if done.returncode != 0 or not done.stdout.strip():
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return ProbeResult("crash", f"process exited with {done.returncode}: {tail}", float("nan"), float("nan"))
    return ProbeResult(**json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--path", choices=("square", "upright"), default="square")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--limit-mb", type=float, default=None)
    args = parser.parse_args(argv)
    data = Path(args.file).read_bytes()
    print(json.dumps(asdict(measure(data, args.path, args.size, args.limit_mb))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
