"""Backprop visualizer speed: one training step of a 2-8-8-1 network on 200 points, and a page rerun.

Targets (issue): one full training step <= 2 ms; a full page rerun (AppTest) <= 300 ms.
Printed: median and 90th-percentile wall-clock times, the median CPU time of this process (what the
work costs when the machine's cores are shared with other jobs, as they are on the team machine),
and the ratio of the median wall time to each target (below 1.0 = within target).

    .venv/bin/python bench/backprop.py [--steps 2000] [--reruns 15]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, percentile  # noqa: E402

from lightning_module.backprop.config import Config  # noqa: E402
from lightning_module.backprop.stepper import Stepper  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STEP_TARGET_S = 0.002
RERUN_TARGET_S = 0.300


def timed_both(function, repeat: int) -> tuple[list[float], list[float]]:
    """Wall-clock and process CPU seconds of each call (CPU time counts every thread of this process,
    which includes AppTest's script thread)."""
    wall, cpu = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return wall, cpu


def report(name: str, function, repeat: int, target: float) -> None:
    wall, cpu = timed_both(function, repeat)
    med = median(wall)
    print(f"{name:<60} wall median {med * 1e3:8.3f} ms  p90 {percentile(wall, 90) * 1e3:8.3f} ms  "
          f"cpu median {median(cpu) * 1e3:8.3f} ms  target {target * 1e3:5.0f} ms  ratio {med / target:5.2f}")


def bench_steps(n: int) -> None:
    config = Config(hidden_layers=(8, 8), activation="tanh", output="sigmoid", cost="cross_entropy",
                    learning_rate=0.3, dataset="circles", batch="full")
    stepper, _ = Stepper.from_config(config)
    assert stepper.x_train.shape == (2, 200) and stepper.net.sizes == [2, 8, 8, 1]
    net, x, y = stepper.net, stepper.x_train, stepper.y_train
    for _ in range(50):  # warm up BLAS and the allocator
        net.train_step(x, y, 0.3)
    report("engine: Network.train_step (forward+backward+update)", lambda: net.train_step(x, y, 0.3), n,
           STEP_TARGET_S)
    report("page: Stepper.whole_step (+ train/test cost & accuracy)", stepper.whole_step, n, STEP_TARGET_S)
    big, _ = Stepper.from_config(Config(hidden_layers=(16,) * 6, activation="relu", init="he", dataset="spiral"))
    report("largest allowed network, 2-16x6-1, Stepper.whole_step", big.whole_step, max(n // 4, 50), STEP_TARGET_S)


def bench_reruns(n: int) -> None:
    from streamlit.testing.v1 import AppTest

    page = str(ROOT / "dashboard" / "views" / "backprop.py")
    cases = {
        "page rerun, defaults (2-4-4-1 on XOR)": ({}, []),
        "page rerun, 2-8-8-1 on circles, mid-backward, weight picked": (
            {"layers": "8,8", "data": "circles"}, ["bp_forward"] * 3 + ["bp_backward"] * 2),
        "page rerun, 2-16x6-1 on spiral after a step": (
            {"layers": ",".join(["16"] * 6), "data": "spiral", "act": "relu", "init": "he"}, ["bp_step"]),
        "page rerun, graph mode f = (x + y)·z": ({"mode": "graph"}, []),
    }
    for name, (query, clicks) in cases.items():
        at = AppTest.from_file(page, default_timeout=60)
        at.query_params.update(query)
        at.run()
        for key in clicks:
            at.button(key=key).click().run()
        assert not at.exception, at.exception
        at.run()  # warm: figures' first build imports plotly's validators
        report(name, at.run, n, RERUN_TARGET_S)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="timed training steps")
    parser.add_argument("--reruns", type=int, default=15, help="timed page reruns per case")
    args = parser.parse_args()
    print(f"numpy {np.__version__}; wall-clock times are noisy where the CPUs are shared; CPU time is steadier\n")
    bench_steps(args.steps)
    bench_reruns(args.reruns)


if __name__ == "__main__":
    main()
