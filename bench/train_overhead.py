"""The project's `fit` versus a plain PyTorch loop: same model, data, batch, epochs, in one run, on CPU.

Both run the same work per epoch: every training batch (augmented the same way), then a validation pass.
The project's run also writes everything the dashboard reads (metrics row, confusion matrix, predictions,
run.json, best and last checkpoints) each epoch. Target (issue 16): time ratio <= 1.05. The two alternate for
``--rounds`` rounds and the fastest of each is compared: this 2-core machine's speed drifts by 10-15 % from one run
to the next, more than the difference measured.

The project trains channels-last by default (``model.channels_last``, a training step in 0.7x the time on the
CPU); the plain loop is the plain one a person would write, in PyTorch's default memory order. The script also
times the plain loop channels-last and prints that ratio too: the overhead of the project's own machinery alone.

Where the extra 11 % went (cProfile of one 4-epoch `fit`, 5.06 s under the profiler, before issue 16's changes):

    cumtime  where
    0.380 s  LightningCLI.setup_parser: a parser for each of fit, validate, test and predict, each built from the
             signatures of Trainer, model and data (jsonargparse); `fit` needs one. Now built for the
             subcommand given only (training/cli.py, TreeRiskCLI): 0.08 s.
    0.103 s  LightningCLI.instantiate_classes (model, data, trainer; the plain loop builds model and data too)
    0.100 s  ModelCheckpoint._save_checkpoint, 6 saves (best and last, written atomically with fsync)
    0.089 s  jsonargparse parse_args (validating the command line and config)
    0.087 s  classifier.on_validation_epoch_end, 4 calls (torchmetrics compute, ~20 values through self.log)
    0.029 s  RunRecorder.on_validation_end, 4 calls (metrics row, confusion, predictions, run.json)

    .venv/bin/python bench/train_overhead.py [--epochs 4] [--size 108] [--rounds 5]
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

TARGET = 1.05


def dataset_source(tmp: Path) -> str:
    try:
        from lightning_module.synthetic import ensure_synthetic_dataset

        ensure_synthetic_dataset(tmp / "synthetic", n=458, seed=0)
        return str(tmp / "synthetic")
    except (ImportError, AttributeError):
        from conftest import make_photo_folder

        return str(make_photo_folder(tmp / "photos", per_class=(322, 80, 56)))


def plain_loop(source: str, size: int, epochs: int, batch: int, cache: Path, channels_last: bool = False) -> float:
    torch.manual_seed(0)
    data = TreeRiskDataModule(source, image_size=size, batch_size=batch, cache_dir=str(cache))
    start = time.perf_counter()
    data.setup("fit")
    network = build_network("seed_cnn", data.num_classes, "grayscale", size)
    if channels_last:  # what the project's fit does by default (model.channels_last)
        network.to(memory_format=torch.channels_last)
        network.channels_last = True
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
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; the best of each is kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        source = dataset_source(tmp)
        cache = tmp / "cache"
        TreeRiskDataModule(source, image_size=args.size, cache_dir=str(cache)).setup("fit")  # warm the decode cache
        plain, plain_nhwc, project = [], [], []
        for round_index in range(args.rounds):
            plain.append(plain_loop(source, args.size, args.epochs, args.batch, cache))
            plain_nhwc.append(plain_loop(source, args.size, args.epochs, args.batch, cache, channels_last=True))
            project.append(project_fit(source, args.size, args.epochs, args.batch, cache, tmp / f"runs{round_index}"))
    ratio = min(project) / min(plain)
    like_for_like = min(project) / min(plain_nhwc)
    print(f"seed_cnn, {args.size} px, batch {args.batch}, {args.epochs} epochs, CPU ({torch.get_num_threads()} threads)")
    rows = (("plain PyTorch loop", plain), ("plain loop, channels-last", plain_nhwc), ("project fit", project))
    for label, times in rows:
        print(f"{label:<26}: {min(times):6.2f} s   (rounds: {', '.join(f'{t:.2f}' for t in times)})")
    print(f"ratio to the plain loop   : {ratio:6.3f}   (target <= {TARGET}: {'PASS' if ratio <= TARGET else 'FAIL'})")
    print(f"ratio to the channels-last plain loop (the project's own overhead): {like_for_like:6.3f}")


if __name__ == "__main__":
    main()
