"""The grid on a real Ray cluster: a head node started here with two CPUs (``ray start --head``), the grid joining
it as a cluster's user would (``--executor ray --ray-address host:port``).

* ``configs/grid_tiny.yaml`` on Ray gives the local executor's results.csv and folds.csv, number for number;
  run again, it trains nothing (a fold that finished anywhere is never retrained).
* A fold whose worker process is killed mid-training is recorded as failed with its log, the grid goes on, and
  the next run retrains that fold alone.

Slow (a Ray head start and real grids: about 2 minutes on a busy 2-core machine); ``make test-cluster``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from cluster_engines import (
    PYTHON,
    RAY_LOOPBACK,
    REPO,
    assert_same_results,
    grid_cli,
    local_tiny_grid,
    ray_head,
    ray_missing,
    wait_until,
)
from conftest import make_photo_folder

pytestmark = [
    pytest.mark.skipif(not os.environ.get("TREERISK_CLUSTER_TESTS"), reason="cluster tests run with `make test-cluster`"),
    pytest.mark.skipif(bool(ray_missing()), reason=ray_missing() or ""),
    pytest.mark.slow,
    pytest.mark.timeout(1800),
]


@pytest.fixture(scope="module")
def ray():
    with ray_head(cpus=2) as head:
        yield head


@pytest.fixture(scope="module")
def driver_env() -> dict[str, str]:
    return {**os.environ, **RAY_LOOPBACK}


def test_tiny_grid_on_ray_gives_the_local_numbers_and_resumes(ray, driver_env, tmp_path_factory) -> None:
    root = tmp_path_factory.mktemp("ray_grids")
    reference = local_tiny_grid(root)
    output = root / "ray"
    result = grid_cli("--output", str(output), "--executor", "ray", "--ray-address", ray.address, env=driver_env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"on Ray at {ray.address} (2 CPUs; each fold asks for 1 CPU: 2 folds at a time)" in result.stdout
    assert_same_results(reference, output)
    # Each fold was taken up by a Ray worker process (run_fold records it), none by the grid's own process.
    workers = [json.loads(p.read_text()).get("worker") for p in output.glob("runs/*/fold_*/version_0/run.json")]
    assert len(workers) == 8 and all(w and w["pid"] and w["host"] for w in workers)
    assert not any(json.loads(p.read_text()).get("worker") for p in reference.glob("runs/*/fold_*/version_0/run.json"))
    progress = json.loads((output / "progress.json").read_text())
    assert (progress["status"], progress["done"], progress["executor"]) == ("finished", 8, "ray")

    before = (output / "results.csv").read_text()
    again = grid_cli("--output", str(output), "--executor", "ray", "--ray-address", ray.address, env=driver_env)
    assert again.returncode == 0 and "8 already finished, 0 to run" in again.stdout, again.stdout[-2000:]
    assert not list(output.glob("runs/*/fold_*/version_1")), "a finished fold was trained again"
    assert (output / "results.csv").read_text() == before


def test_a_fold_killed_on_a_ray_worker_fails_with_its_log_and_the_grid_goes_on(ray, driver_env, tmp_path) -> None:
    photos = make_photo_folder(tmp_path / "photos", photos_per_group=2)
    output = tmp_path / "killed"
    config = tmp_path / "grid.yaml"
    config.write_text(yaml.safe_dump({
        "name": "killed", "output": str(output), "folds": 2,
        "grid": {"scenarios": ["Pr_Im"], "image_sizes": [32]},
        # Enough epochs that a fast machine is still training fold 0 when the test looks (it polls every 0.05 s).
        "training": {"epochs": 40, "batch_size": 8, "threads": 1},
        "data": {"source": str(photos), "group_regex": r"^(tree\d+_[A-Za-z]+)_crop", "cache_dir": str(tmp_path / "cache")},
        # Two CPUs per fold on a two-CPU cluster: one fold at a time, so the kill hits fold 0 alone.
        "executor": {"kind": "ray", "ray_address": ray.address, "cpus_per_fold": 2},
    }))  # fmt: skip
    command = [PYTHON, "-m", "lightning_module", "grid", "--config", str(config)]
    grid = subprocess.Popen(command, cwd=REPO, env=driver_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = output / "runs" / "Pr_Im-32px-grayscale-seed_cnn-scratch" / "fold_0" / "version_0"

    def training_pid() -> int | None:
        record = json.loads((first / "run.json").read_text()) if (first / "run.json").is_file() else {}
        return record.get("pid") if record.get("status") == "running" else None

    deadline = time.monotonic() + 600
    while (pid := training_pid()) is None and grid.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pid is not None, ("fold 0 was never seen training", grid.poll(), grid.communicate(timeout=60)[0][-3000:]
                             if grid.poll() is not None else "")
    assert pid != grid.pid
    os.kill(pid, signal.SIGKILL)  # the worker dies mid-fold, as when the kernel kills it for memory
    out, _ = grid.communicate(timeout=900)
    assert grid.returncode == 1, out[-3000:]
    assert "FAILED (the Ray worker training it died" in out and f"see {first / 'train.log'}" in out
    record = json.loads((first / "run.json").read_text())
    assert record["status"] == "failed" and "train.log" in record["error"]
    assert (first / "train.log").is_file()
    folds = pd.read_csv(output / "folds.csv")
    assert list(folds["status"]) == ["failed", "finished"], "the grid went on with fold 1"

    # The next run retrains the failed fold alone, in a fresh attempt.
    time.sleep(1)
    again = subprocess.run(command, cwd=REPO, env=driver_env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:]
    assert "1 already finished, 1 to run" in again.stdout
    assert json.loads((first.parent / "version_1" / "run.json").read_text())["status"] == "finished"
