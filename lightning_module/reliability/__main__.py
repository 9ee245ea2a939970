"""``python -m lightning_module.reliability [--slow] [--out FILE]``: the fuzz table of docs/RELIABILITY.md.

Every fuzz case is decoded the way the model sees it (``load_square``) in a fresh process, with its peak memory
measured; one markdown row per case: what it is, what TreeRisk promised, what happened, the message a user
sees, the time and the memory. ``--slow`` adds the 50 MB photo and the ~100-megapixel images (a few minutes).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from lightning_module.reliability.fuzz_inputs import FuzzCase, fuzz_cases, slow_cases
from lightning_module.reliability.probe import probe_file

PROMISE = {"ok": "decodes", "refused": "refused, with a reason", "either": "decodes or refused"}


def _row(case: FuzzCase, folder: Path) -> tuple[str, bool]:
    path = folder / case.file_name
    path.write_bytes(case.data)
    result = probe_file(path, "square", limit_mb=2048, timeout=300)
    path.unlink()
    kept = (case.expect == "either" and result.outcome in ("ok", "refused")) or result.outcome == (
        "ok" if case.expect == "ok" else "refused")
    said = result.message.replace("|", "\\|") if result.outcome != "ok" else (result.message or "")
    size = f"{len(case.data) / 1e6:.1f} MB" if len(case.data) >= 100_000 else f"{len(case.data):,} B"
    row = (f"| `{case.file_name}` | {case.what} | {size} | {PROMISE[case.expect]} | "
           f"{'✓' if kept else '✗'} {result.outcome} | {said} | {result.seconds:.2f} s | {result.peak_mb:.0f} MB |")
    return row, kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", action="store_true", help="add the large cases (50 MB photo, ~100 MP images)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    args = parser.parse_args(argv)
    lines = ["| file | what it is | size | promise | outcome | message shown | time | peak memory |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    broken = 0
    with tempfile.TemporaryDirectory(prefix="treerisk-fuzz-") as tmp:
        cases: list[FuzzCase] = list(fuzz_cases())
        for case in cases + (list(slow_cases()) if args.slow else []):
            row, kept = _row(case, Path(tmp))
            broken += not kept
            lines.append(row)
            print(row, flush=True)
    summary = f"\n{len(lines) - 2} inputs; {len(lines) - 2 - broken} kept their promise, {broken} did not."
    print(summary)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n" + summary + "\n")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
