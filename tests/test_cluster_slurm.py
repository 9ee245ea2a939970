"""The grid and multi-process training under a real Slurm: MUNGE, ``slurmctld`` and ``slurmd`` started here for
one node with this machine's CPUs, from a generated ``slurm.conf`` on free ports (tests/cluster_engines.py).

* ``configs/grid_tiny.yaml`` as a Slurm job array (``--executor slurm``) gives the local executor's results.csv
  and folds.csv, number for number, and a second run trains nothing.
* Stopping the grid (SIGTERM, as the page's Stop does) cancels the array; the next run goes on from there.
* ``scripts/train_slurm.sbatch``, submitted as a two-task job, trains one run in two processes whose confusion
  matrix is the one a single process computes from its checkpoint.

Slow (Slurm starts in 2 s; the grids and the training run take about 5 minutes on a busy 2-core machine);
``make test-cluster``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import yaml
from cluster_engines import (
    DDP_FIT_ARGUMENTS,
    PYTHON,
    REPO,
    assert_distributed_run_matches_one_process,
    assert_same_results,
    free_ports,
    grid_cli,
    local_tiny_grid,
    slurm_cluster,
    slurm_missing,
    wait_until,
)
from conftest import make_photo_folder

pytestmark = [
    pytest.mark.skipif(not os.environ.get("TREERISK_CLUSTER_TESTS"), reason="cluster tests run with `make test-cluster`"),
    pytest.mark.skipif(bool(slurm_missing()), reason=slurm_missing() or ""),
    pytest.mark.slow,
    pytest.mark.timeout(1800),
]


@pytest.fixture(scope="module")
def slurm():
    with slurm_cluster() as cluster:
        yield cluster


def test_tiny_grid_as_a_job_array_gives_the_local_numbers_and_resumes(slurm, tmp_path_factory) -> None:
    root = tmp_path_factory.mktemp("slurm_grids")
    reference = local_tiny_grid(root)
    output = root / "slurm"
    result = grid_cli("--output", str(output), "--executor", "slurm", env=slurm.env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "as a Slurm job array on the default partition (each fold: 1 CPU, time limit 01:00:00)" in result.stdout
    assert_same_results(reference, output)
    submission = output / "slurm" / "0"
    job = json.loads((submission / "job.json").read_text())
    assert job["tasks"] == 8 and len(list(submission.glob("result-*.json"))) == 8
    script = (submission / "array.sbatch").read_text()
    assert "#SBATCH --cpus-per-task=1" in script and "#SBATCH --time=01:00:00" in script
    assert not slurm.jobs(), "nothing left in the queue"

    again = grid_cli("--output", str(output), "--executor", "slurm", env=slurm.env)
    assert again.returncode == 0 and "8 already finished, 0 to run" in again.stdout, again.stdout[-2000:]
    assert not (output / "slurm" / "1").exists(), "nothing was submitted"


def test_stop_cancels_the_job_array_and_the_next_run_goes_on(slurm, tmp_path) -> None:
    photos = make_photo_folder(tmp_path / "photos", photos_per_group=2)
    output = tmp_path / "stopped"
    config = tmp_path / "grid.yaml"
    config.write_text(yaml.safe_dump({
        "name": "stopped", "output": str(output), "folds": 2,
        "grid": {"scenarios": ["Pr_Im"], "image_sizes": [32, 36]},
        "training": {"epochs": 15, "batch_size": 8, "threads": 1},
        "data": {"source": str(photos), "group_regex": r"^(tree\d+_[A-Za-z]+)_crop", "cache_dir": str(tmp_path / "cache")},
        "executor": {"kind": "slurm", "time": "20"},
    }))  # fmt: skip
    command = [PYTHON, "-m", "lightning_module", "grid", "--config", str(config)]
    grid = subprocess.Popen(command, cwd=REPO, env=slurm.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_until(lambda: (output / "slurm" / "0" / "job.json").is_file() or grid.poll() is not None, 600, "the array's submission")
    wait_until(lambda: any(" RUNNING" in line for line in slurm.jobs()) or grid.poll() is not None, 600, "a fold running")
    grid.send_signal(signal.SIGTERM)  # what the Grid study page's Stop sends
    out, _ = grid.communicate(timeout=600)
    assert grid.returncode == 130, out[-3000:]
    assert not slurm.jobs(), "scancel left tasks in the queue"
    statuses = [json.loads(p.read_text())["status"] for p in output.glob("runs/*/fold_*/version_0/run.json")]
    assert len(statuses) == 4 and "stopped" in statuses and not {"starting", "running"} & set(statuses), statuses
    assert json.loads((output / "progress.json").read_text())["status"] == "stopped"

    resumed = subprocess.run(command, cwd=REPO, env=slurm.env, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    finished_before = statuses.count("finished")
    assert f"{finished_before} already finished, {4 - finished_before} to run" in resumed.stdout


def test_the_slurm_training_script_trains_as_a_two_task_job(slurm, tmp_path) -> None:
    photos = make_photo_folder(tmp_path / "photos", per_class=(22, 11, 11))
    (port,) = free_ports(1)
    # On a real cluster the node's name resolves and Lightning derives the rendezvous from SLURM's variables;
    # this private node's name does not resolve, so the rendezvous address is given, on 127.0.0.1.
    environment = {**slurm.env, "CONFIG": "configs/default.yaml", "PYTHON": sys.executable,
                   "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}  # fmt: skip
    command = ["sbatch", "--wait", "--nodes=1", "--ntasks-per-node=2", "--gpus-per-node=0", "--cpus-per-task=1",
               "--time=20", f"--output={tmp_path}/slurm-%j.out", "scripts/train_slurm.sbatch",
               "--data.source", str(photos), *DDP_FIT_ARGUMENTS,
               "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"),
               "--trainer.logger.init_args.name", "slurm_ddp"]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=900)
    logs = "".join(p.read_text(errors="replace")[-4000:] for p in tmp_path.glob("slurm-*.out"))
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n{logs}"
    runs = sorted((tmp_path / "runs" / "slurm_ddp").glob("version_*"))
    assert len(runs) == 1, f"both tasks must share one run directory, found {runs}\n{logs}"
    assert_distributed_run_matches_one_process(runs[0])
