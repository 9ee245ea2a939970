"""EfficientNet-Lite0 with ImageNet weights versus the same network from random initialisation, on the
synthetic data: same epochs, learning rate, batches and split; both through the project's own ``fit``.

Prints each run's validation balanced accuracy (best epoch and last epoch) beside the majority baseline.
Expected: the pretrained network reaches the higher balanced accuracy. Sized for a two-core CPU (112 px,
a few minutes); the synthetic set (458 photos) is generated on first use under bench/out/data.

    .venv/bin/python bench/transfer.py [--epochs 6] [--size 112] [--color-mode grayscale] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_DIR  # noqa: E402

from lightning_module.__main__ import main as cli  # noqa: E402


def train(pretrained: str, seed: int, args: argparse.Namespace, runs: Path) -> dict:
    """One `fit` run; returns its run.json."""
    name = f"lite0-{pretrained}-seed{seed}"
    start = time.perf_counter()
    sys.argv = sys.argv[:1]  # LightningCLI warns when it gets both args and this script's own options
    cli([
        "fit", "--data.source=synthetic", f"--data.synthetic_root={BENCH_DIR / 'data'}",
        f"--data.image_size={args.size}", f"--data.color_mode={args.color_mode}", f"--data.batch_size={args.batch}",
        f"--seed_everything={seed}", "--model.backbone=efficientnet_lite0", f"--model.pretrained={pretrained}",
        f"--model.lr={args.lr}", f"--model.head_only_epochs={args.head_only_epochs if pretrained == 'imagenet' else 0}",
        f"--trainer.max_epochs={args.epochs}", "--trainer.enable_progress_bar=false", "--trainer.num_sanity_val_steps=0",
        f"--trainer.logger.init_args.save_dir={runs}", f"--trainer.logger.init_args.name={name}",
    ])  # fmt: skip
    record = json.loads(next((runs / name).glob("version_*/run.json")).read_text())
    record["wall_seconds"] = time.perf_counter() - start
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--color-mode", default="grayscale", choices=("grayscale", "rgb"))
    parser.add_argument("--head-only-epochs", type=int, default=0, help="for the pretrained run only")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="weight-initialisation/order seeds")
    args = parser.parse_args()

    results: dict[str, list[dict]] = {"imagenet": [], "none": []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for pretrained in results:
                results[pretrained].append(train(pretrained, seed, args, Path(tmp)))

    first = results["imagenet"][0]
    print(
        f"\nefficientnet_lite0, synthetic data ({sum(sum(s.values()) for s in first['split_sizes'].values())} photos, "
        f"{len(first['classes'])} classes), {args.size} px {args.color_mode}, batch {args.batch}, lr {args.lr}, "
        f"{args.epochs} epochs, CPU ({torch.get_num_threads()} threads)"
    )
    print(f"majority baseline val bal_acc: {first['majority_baseline'].get('bal_acc', float('nan')):.3f}")
    print(f"{'weights':<10} {'seed':>4} {'best bal_acc':>12} {'(epoch)':>7} {'last bal_acc':>12} {'minutes':>8}")
    for pretrained, records in results.items():
        for seed, record in zip(args.seeds, records):
            best, last = record["best"], record["last"]
            print(
                f"{pretrained:<10} {seed:>4} {best['val/bal_acc']:>12.3f} {best['epoch']:>7} "
                f"{last['val/bal_acc']:>12.3f} {record['wall_seconds'] / 60:>8.1f}"
            )
    mean = {p: sum(r["best"]["val/bal_acc"] for r in rs) / len(rs) for p, rs in results.items()}
    verdict = "PASS" if mean["imagenet"] > mean["none"] else "FAIL"
    print(f"mean best bal_acc: imagenet {mean['imagenet']:.3f} vs random {mean['none']:.3f} -> {verdict}")


if __name__ == "__main__":
    main()
