"""Training images per second on a GPU: the project's ``fit`` versus a plain PyTorch loop, in one run.

Both use the same network, batch, precision (bf16 autocast), memory format (channels-last), photos held on
the GPU and the same on-GPU augmentation (``data.on_device``), the same Adam optimiser and class-weighted
loss. Only training steps are timed (from the start of an epoch to its last step, the GPU synchronised at
both ends), over every epoch but the first; the project's validation pass, checkpoints and run files fall
outside the timed span. Cases (issue "Transfer learning and scale-out"):

* seed_cnn at 108 px, batch 1024
* efficientnet_lite0 at 224 px, batch 256

Three contenders per case: the plain eager loop, the same loop with ``torch.compile(network)`` (``--compiled``, on by
default on a GPU), and the project's ``fit`` (with ``--model.compile true`` too when ``--compiled``, printed as its
own row). Target (issue 16): ``fit`` / plain eager >= 1.0 for both cases (it was 0.9 before). The compiled rows
say what compiling buys; the first epoch, where compiling happens, is not timed. Without a CUDA GPU it prints
that it skipped and exits 0; ``--device cpu --quick`` runs a tiny version on the CPU to check the script itself
(its figures mean nothing; add ``--compiled`` to check the compiled paths too: minutes on a 2-core CPU).

    .venv/bin/python bench/gpu_throughput.py [--epochs 6] [--photos 12000] [--rounds 2] [--compiled | --no-compiled]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

CLOCK_FILE = "TREERISK_BENCH_CLOCK_FILE"


@dataclass(frozen=True)
class Case:
    backbone: str
    size: int
    batch: int
    photos: int


GPU_CASES = (Case("seed_cnn", 108, 1024, 12_000), Case("efficientnet_lite0", 224, 256, 4_000))
TARGET = 1.0  # fit / plain eager loop (issue 16)
QUICK_CASES = (Case("seed_cnn", 32, 64, 600), Case("efficientnet_lite0", 64, 16, 200))


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class TrainingClock(pl.Callback):
    """Times the training steps of each epoch (GPU synchronised at both ends); written to $TREERISK_BENCH_CLOCK_FILE."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []
        self._start = 0.0
        self._photos = 0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _synchronize(pl_module.device)
        self._photos = 0
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int) -> None:
        self._photos += len(batch[1])
        if batch_idx == trainer.num_training_batches - 1:
            _synchronize(pl_module.device)
            self.epochs.append({"seconds": time.perf_counter() - self._start, "photos": self._photos})

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero and os.environ.get(CLOCK_FILE):
            Path(os.environ[CLOCK_FILE]).write_text(json.dumps(self.epochs))


def make_photos(folder: Path, count: int, size: int, seed: int = 0) -> Path:
    """``count`` small JPEGs in three class folders (content is irrelevant to speed; sizes are what count)."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        class_name = ("Improbable", "Possible", "Probable")[index % 3]
        pixels = rng.integers(0, 256, (size // 4, size // 4, 3), dtype=np.uint8)
        image = Image.fromarray(pixels).resize((size, size), Image.Resampling.BILINEAR)
        path = folder / class_name / f"photo{index:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, quality=90)
    return folder


def images_per_second(epochs: list[dict[str, float]]) -> float:
    measured = epochs[1:] or epochs  # the first epoch pays for cuDNN's algorithm search and warm-up
    return sum(e["photos"] for e in measured) / sum(e["seconds"] for e in measured)


def project_fit(case: Case, source: Path, args: argparse.Namespace, tmp: Path, cache: Path,
                compiled: bool = False) -> float:
    from lightning_module.__main__ import main as cli

    clock = tmp / f"clock-{case.backbone}-{time.time_ns()}.json"
    os.environ[CLOCK_FILE] = str(clock)
    sys.argv = sys.argv[:1]  # LightningCLI warns when it gets both args and this script's own options
    cli([
        "fit", f"--data.source={source}", f"--data.image_size={case.size}", f"--data.batch_size={case.batch}",
        f"--data.color_mode={args.color_mode}", f"--data.cache_dir={cache}", "--data.on_device=true",
        f"--model.backbone={case.backbone}", f"--model.channels_last={args.device == 'cuda'}",
        f"--trainer.accelerator={'gpu' if args.device == 'cuda' else 'cpu'}", f"--trainer.precision={args.precision}",
        "--trainer.deterministic=false", f"--trainer.benchmark={args.device == 'cuda'}",
        f"--trainer.max_epochs={args.epochs}", "--trainer.enable_progress_bar=false", "--trainer.num_sanity_val_steps=0",
        "--trainer.callbacks+=gpu_throughput.TrainingClock", f"--trainer.logger.init_args.save_dir={tmp / 'runs'}",
        f"--model.compile={compiled}",
    ])  # fmt: skip
    return images_per_second(json.loads(clock.read_text()))


def plain_loop(case: Case, source: Path, args: argparse.Namespace, cache: Path, compiled: bool = False) -> float:
    from lightning_module.data.datamodule import TreeRiskDataModule
    from lightning_module.data.device_data import DeviceBatches
    from lightning_module.models.networks import build_network

    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = device.type == "cuda"
    torch.manual_seed(0)
    data = TreeRiskDataModule(
        str(source), image_size=case.size, batch_size=case.batch, color_mode=args.color_mode, cache_dir=str(cache)
    )
    data.setup("fit")
    network = build_network(case.backbone, data.num_classes, args.color_mode, case.size).to(device)
    if device.type == "cuda":
        network.to(memory_format=torch.channels_last)
        network.channels_last = True
    optimiser = torch.optim.Adam(network.parameters(), lr=1e-3)
    model = torch.compile(network) if compiled else network  # compiled during the first (untimed) epoch
    weights = data.class_weights.to(device)
    epoch = {"value": 0}
    batches = DeviceBatches(
        data.train_set.images, data.train_set.labels, case.batch, device, train=True, augment=True, epoch=lambda: epoch["value"]
    )
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision.startswith("bf16"))
    timings = []
    network.train()
    for epoch["value"] in range(args.epochs):
        _synchronize(device)
        start, photos = time.perf_counter(), 0
        for images, labels, _ in batches:
            with autocast:
                loss = torch.nn.functional.cross_entropy(model(images), labels, weight=weights)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            photos += len(labels)
        _synchronize(device)
        timings.append({"seconds": time.perf_counter() - start, "photos": photos})
    return images_per_second(timings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--quick", action="store_true", help="tiny sizes (to check the script, e.g. on the CPU)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--photos", type=int, default=None, help="photos per case (default: per case)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best of each is kept")
    parser.add_argument("--precision", default="bf16-mixed", choices=("bf16-mixed", "32-true"))
    parser.add_argument("--color-mode", default="grayscale", choices=("grayscale", "rgb"))
    parser.add_argument("--only", default=None, help="run one backbone only")
    parser.add_argument("--compiled", action=argparse.BooleanOptionalAction, default=None,
                        help="also time the compiled plain loop and the compiled fit (default: on a GPU only)")
    args = parser.parse_args()
    compiled = args.device == "cuda" if args.compiled is None else args.compiled
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_throughput: no CUDA GPU on this machine: skipped. Run it where a GPU is (or --device cpu --quick).")
        return 0
    device_name = torch.cuda.get_device_name(0) if args.device == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    cases = [c for c in (QUICK_CASES if args.quick else GPU_CASES) if args.only in (None, c.backbone)]

    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for case in cases:
            photos = args.photos or case.photos
            source = make_photos(tmp / f"photos-{case.backbone}", photos, case.size)
            cache = tmp / "cache"
            plain, project, plain_compiled, project_compiled = [], [], [], []
            for _ in range(args.rounds):
                plain.append(plain_loop(case, source, args, cache))
                project.append(project_fit(case, source, args, tmp, cache))
                if compiled:
                    plain_compiled.append(plain_loop(case, source, args, cache, compiled=True))
                    project_compiled.append(project_fit(case, source, args, tmp, cache, compiled=True))
            results.append({**case.__dict__, "photos": photos, "plain": plain, "project": project,
                            "plain_compiled": plain_compiled, "project_compiled": project_compiled,
                            "ratio": max(project) / max(plain),
                            "ratio_compiled": max(project_compiled) / max(plain) if compiled else None})  # fmt: skip

    print(f"\nTraining throughput, {device_name}, torch {torch.__version__}, {args.precision}, "
          f"channels_last={args.device == 'cuda'}, photos on the device, {args.epochs} epochs (first not timed)")  # fmt: skip
    print(f"{'backbone':<20} {'px':>4} {'batch':>5} {'run':<16} {'img/s':>9} {'/ plain eager':>14}")
    for r in results:
        plain = max(r["plain"])
        rows = [("plain eager", plain), ("plain compiled", max(r["plain_compiled"], default=0.0)),
                ("fit", max(r["project"])), ("fit compiled", max(r["project_compiled"], default=0.0))]
        for label, speed in rows:
            if not speed:
                continue
            passed = "PASS" if speed / plain >= TARGET else "FAIL"
            verdict = f"  (target >= {TARGET}: {passed})" if label == "fit" else ""
            print(f"{r['backbone']:<20} {r['size']:>4} {r['batch']:>5} {label:<16} {speed:>9.0f} "
                  f"{speed / plain:>14.3f}{verdict}")
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    summary = {"device": device_name, "torch": torch.__version__, "results": results}
    (out / "gpu_throughput.json").write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
