"""Does labelling the photos a model is least sure of first need fewer labels than labelling in random order?

A simulation with the synthetic data's labels as the oracle (a rater who is always right). A pool of unlabelled
scenes and a separate test set are generated (small images, 128x96, seen by the model at 48 px grayscale). Each
order starts from the same random ``--start`` labels; then, round after round, the lab's seed_cnn is trained from
scratch on the labels so far (class-weighted loss, a fixed number of optimiser steps), its balanced accuracy on the
test set is recorded, and the next ``--step`` photos are "labelled", chosen

* **random**: at random;
* **entropy**: the highest entropy of the current model's class probabilities first;
* **margin**: the smallest gap between its two most likely classes first.

Several seeds (``--seeds``) change the start labels, the weights and the batches. Printed: balanced accuracy per
number of labels (mean and range over seeds), and for each target the fewest labels at which the mean reaches it.
The same numbers go to ``bench/out/active_labelling.json``. Sized for a 2-core CPU (a few minutes):

    .venv/bin/python bench/active_labelling.py [--pool 900] [--test 400] [--start 30] [--step 30] [--rounds 6]
        [--seeds 0 1 2] [--steps 100] [--targets 0.5 0.6 0.7]

The result is reported as measured in docs/BENCHMARKS.md, whichever order wins.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_DIR  # noqa: E402

from lightning_module.data.imaging import load_square  # noqa: E402
from lightning_module.labelling.model_opinion import uncertainty  # noqa: E402
from lightning_module.models.networks import build_network  # noqa: E402
from lightning_module.synthetic import ensure_synthetic_dataset, read_manifest  # noqa: E402
from lightning_module.synthetic.scoring import class_names  # noqa: E402

ORDERS = ("random", "entropy", "margin")
IMAGE_SIZE = 48
WIDTH, HEIGHT = 128, 96  # rendered small, then cropped and scaled to 48 px as training does
CLASSES = class_names()
POOL_SEED, TEST_SEED = 4242, 4343  # away from the seeds training, the demo and the independent set use


def load_set(n: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """(uint8 images (n, 1, 48, 48), class indices) of a small synthetic set, generated on first use."""
    folder = ensure_synthetic_dataset(BENCH_DIR / "data" / f"active-n{n}-seed{seed}-{WIDTH}x{HEIGHT}", n=n, seed=seed,
                                      width=WIDTH, height=HEIGHT, workers=2)
    rows = read_manifest(folder)
    images = np.stack([load_square(folder / row["path"], IMAGE_SIZE, "grayscale").as_array() for row in rows])
    labels = np.array([CLASSES.index(row["label"]) for row in rows])
    return torch.from_numpy(images).unsqueeze(1), labels


def balanced_accuracy(true: np.ndarray, predicted: np.ndarray) -> float:
    recalls = [np.mean(predicted[true == c] == c) for c in range(len(CLASSES)) if np.any(true == c)]
    return float(np.mean(recalls))


def train(images: torch.Tensor, labels: np.ndarray, steps: int, seed: int) -> nn.Module:
    """seed_cnn from scratch on the labelled photos: class-weighted loss, Adam, ``steps`` batches of 32."""
    torch.manual_seed(seed)
    network = build_network("seed_cnn", len(CLASSES), "grayscale", IMAGE_SIZE)
    counts = np.bincount(labels, minlength=len(CLASSES)).astype(float)
    weights = torch.tensor(np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / len(CLASSES), 0.0), dtype=torch.float32)
    loss_of = nn.CrossEntropyLoss(weight=weights)
    optimiser = torch.optim.Adam(network.parameters(), lr=1e-3)
    targets = torch.from_numpy(labels)
    generator = torch.Generator().manual_seed(seed)
    network.train()
    for _ in range(steps):
        batch = torch.randint(0, len(labels), (min(32, len(labels)),), generator=generator)
        optimiser.zero_grad()
        loss_of(network(images[batch]), targets[batch]).backward()
        optimiser.step()
    return network.eval()


@torch.inference_mode()
def probabilities(network: nn.Module, images: torch.Tensor) -> np.ndarray:
    return torch.cat([torch.softmax(network(images[i:i + 256]), dim=1) for i in range(0, len(images), 256)]).numpy()


def run_order(order: str, seed: int, pool: tuple, test: tuple, args: argparse.Namespace) -> list[tuple[int, float]]:
    """(labels, test balanced accuracy) after each round for one order and seed."""
    pool_images, pool_labels = pool
    rng = np.random.default_rng(seed)
    labelled = list(rng.choice(len(pool_labels), args.start, replace=False))
    curve = []
    for round_ in range(args.rounds):
        network = train(pool_images[labelled], pool_labels[labelled], args.steps, seed * 1000 + round_)
        predicted = probabilities(network, test[0]).argmax(axis=1)
        curve.append((len(labelled), balanced_accuracy(test[1], predicted)))
        left = np.setdiff1d(np.arange(len(pool_labels)), labelled)
        if order == "random":
            chosen = rng.choice(left, args.step, replace=False)
        else:
            doubt = uncertainty(probabilities(network, pool_images[left]), order)
            chosen = left[np.argsort(-doubt, kind="stable")[:args.step]]
        labelled += list(chosen)
    return curve


def labels_to_reach(mean_curve: list[tuple[int, float]], target: float) -> int | None:
    return next((n for n, score in mean_curve if score >= target), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=900)
    parser.add_argument("--test", type=int, default=400)
    parser.add_argument("--start", type=int, default=30)
    parser.add_argument("--step", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=100, help="optimiser steps per training")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--orders", nargs="+", default=list(ORDERS), choices=ORDERS)
    parser.add_argument("--targets", type=float, nargs="+", default=[0.5, 0.6, 0.7])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: two threads waiting on each other are far slower on a busy CPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    started = time.perf_counter()
    pool, test = load_set(args.pool, POOL_SEED), load_set(args.test, TEST_SEED)
    print(f"Pool {args.pool} scenes (seed {POOL_SEED}), test {args.test} (seed {TEST_SEED}), {IMAGE_SIZE} px grayscale; "
          f"class counts in the pool {np.bincount(pool[1]).tolist()}. Data ready in {time.perf_counter() - started:.0f} s.",
          flush=True)
    curves: dict[str, list[list[tuple[int, float]]]] = {order: [] for order in args.orders}
    for seed in args.seeds:  # seed by seed, so that a long run shows its results as they come
        for order in args.orders:
            curves[order].append(run_order(order, seed, pool, test, args))
            print(f"  seed {seed}, {order}: " + ", ".join(f"{n}: {score:.3f}" for n, score in curves[order][-1]),
                  flush=True)
    summary: dict[str, dict] = {}
    print(f"\nTest balanced accuracy (mean over seeds {args.seeds}, [min, max]) by number of labels:")
    budgets = [n for n, _ in curves[args.orders[0]][0]]
    print("labels  " + "  ".join(f"{order:>20}" for order in args.orders))
    for i, n in enumerate(budgets):
        cells = []
        for order in args.orders:
            scores = [curve[i][1] for curve in curves[order]]
            cells.append(f"{np.mean(scores):.3f} [{min(scores):.2f}, {max(scores):.2f}]")
        print(f"{n:>6}  " + "  ".join(f"{c:>20}" for c in cells))
    for order in args.orders:
        mean_curve = [(n, float(np.mean([curve[i][1] for curve in curves[order]]))) for i, n in enumerate(budgets)]
        summary[order] = {"mean_curve": mean_curve, "curves": curves[order],
                          "labels_to_reach": {str(t): labels_to_reach(mean_curve, t) for t in args.targets}}
    print("\nFewest labels at which the mean reaches each target (– not reached within the budget):")
    for order in args.orders:
        reached = summary[order]["labels_to_reach"]
        print(f"  {order:>8}: " + ", ".join(f"{t}: {reached[str(t)] or '–'}" for t in args.targets))
    seconds = time.perf_counter() - started
    print(f"\n{len(args.seeds) * len(args.orders) * args.rounds} trainings in {seconds / 60:.1f} min.")
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    out = BENCH_DIR / "active_labelling.json"
    out.write_text(json.dumps({"settings": vars(args), "seconds": seconds, "orders": summary}, indent=2) + "\n")
    print(f"Written to {out}")


if __name__ == "__main__":
    main()
