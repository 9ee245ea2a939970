"""The project's `fit` versus a plain PyTorch loop: same model, data, batch, epochs, in one run, on CPU.

Both run the same work per epoch: every training batch (augmented the same way), then a validation pass.
The project's run also writes everything the dashboard reads (metrics row, confusion matrix, predictions,
run.json, best and last checkpoints) each epoch. Target (issue 2): time ratio <= 1.15.

    .venv/bin/python bench/train_overhead.py [--epochs 4] [--size 108]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from lightning_module.__main__ import main as cli  # noqa: E402
from lightning_module.data.datamodule import TreeRiskDataModule  # noqa: E402
from lightning_module.models.networks import build_network  # noqa: E402


def dataset_source(tmp: Path) -> str:
    try:
        from lightning_module.synthetic import ensure_synthetic_dataset

        ensure_synthetic_dataset(tmp / "synthetic", n=458, seed=0)
        return str(tmp / "synthetic")
    except (ImportError, AttributeError):
        from conftest import make_photo_folder

        return str(make_photo_folder(tmp / "photos", per_class=(322, 80, 56)))


def plain_loop(source: str, size: int, epochs: int, batch: int, cache: Path) -> float:
    torch.manual_seed(0)
    data = TreeRiskDataModule(source, image_size=size, batch_size=batch, cache_dir=str(cache))
    start = time.perf_counter()
    data.setup("fit")
    network = build_network("seed_cnn", data.num_classes, "grayscale", size)
    optimiser = torch.optim.Adam(network.parameters(), lr=1e-3)
    weights = data.class_weights
    for _ in range(epochs):
        network.train()
        for images, labels, _ in data.train_dataloader():
            loss = torch.nn.functional.cross_entropy(network(images), labels, weight=weights)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        network.eval()
        with torch.no_grad():
            for images, labels, _ in data.val_dataloader():
                network(images).argmax(1)
    return time.perf_counter() - start


def project_fit(source: str, size: int, epochs: int, batch: int, cache: Path, runs: Path) -> float:
    start = time.perf_counter()
    cli(["fit", f"--data.source={source}", f"--data.image_size={size}", f"--data.batch_size={batch}",
         f"--data.cache_dir={cache}", f"--trainer.max_epochs={epochs}", "--trainer.enable_progress_bar=false",
         "--trainer.num_sanity_val_steps=0", f"--trainer.logger.init_args.save_dir={runs}"])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--size", type=int, default=108)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best of each is kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        source = dataset_source(tmp)
        cache = tmp / "cache"
        TreeRiskDataModule(source, image_size=args.size, cache_dir=str(cache)).setup("fit")  # warm the decode cache
        plain, project = [], []
        for round_index in range(args.rounds):
            plain.append(plain_loop(source, args.size, args.epochs, args.batch, cache))
            project.append(project_fit(source, args.size, args.epochs, args.batch, cache, tmp / f"runs{round_index}"))
    ratio = min(project) / min(plain)
    print(f"seed_cnn, {args.size} px, batch {args.batch}, {args.epochs} epochs, CPU ({torch.get_num_threads()} threads)")
    print(f"plain PyTorch loop : {min(plain):6.2f} s   (rounds: {', '.join(f'{t:.2f}' for t in plain)})")
    print(f"project fit        : {min(project):6.2f} s   (rounds: {', '.join(f'{t:.2f}' for t in project)})")
    print(f"ratio              : {ratio:6.3f}   (target <= 1.15: {'PASS' if ratio <= 1.15 else 'FAIL'})")


if __name__ == "__main__":
    main()
