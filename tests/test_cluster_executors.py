"""The executor choice without a cluster: the grid file's ``executor`` section, the command line and the page's
choice, the Slurm job script made from the file, a grid watched and stopped from another machine, and the words
a user gets when an engine is missing. Fast; part of ``make test``. The engines themselves are exercised by
tests/test_cluster_ray.py and tests/test_cluster_slurm.py (``make test-cluster``).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from conftest import make_photo_folder

from lightning_module.grid import launch, results
from lightning_module.grid.cli import main as grid_cli
from lightning_module.grid.executors import ExecutorError, LocalExecutor, make_executor
from lightning_module.grid.executors.slurm import SlurmExecutor
from lightning_module.grid.runner import GridRunner, run_grid
from lightning_module.grid.spec import GridSpecError, parse_grid_spec
from lightning_module.training.run_files import now_iso, update_run_json

GROUP_REGEX = r"^(tree\d+_[A-Za-z]+)_crop"


def config(output: Path, source: Path, **executor) -> dict:
    return {
        "name": "tiny", "output": str(output), "folds": 2,
        "grid": {"scenarios": ["Pr_Im"], "image_sizes": [32, 36]},
        "training": {"epochs": 1, "threads": 1},
        "data": {"source": str(source), "group_regex": GROUP_REGEX},
        "executor": executor,
    }  # fmt: skip


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_photo_folder(tmp_path_factory.mktemp("executor_photos"), photos_per_group=2)


def finished_fit(arguments: list[str], attempt_dir: Path) -> None:
    """Stands in for training: a finished fold with a fixed score."""
    last = {"epoch": 0, "val/bal_acc": 0.5, "val/acc": 0.6, "val/macro_f1": 0.4, "val/macro_precision": 0.4,
            "val/macro_recall": 0.5, "val/loss": 1.0}  # fmt: skip
    update_run_json(attempt_dir, status="running", classes=["Improbable", "Probable"], last=last, best=last,
                    majority_baseline={"class": "Improbable", "acc": 0.6, "bal_acc": 0.5, "macro_f1": 0.3},
                    timings={"started": now_iso(), "ended": now_iso(), "epoch_seconds": [0.1]})  # fmt: skip
    update_run_json(attempt_dir, status="finished")


# ---------------------------------------------------------------------------------------------- the grid file
def test_the_executor_section_is_read_checked_and_written_back(photos: Path, tmp_path: Path) -> None:
    raw = config(tmp_path / "out", photos, kind="slurm", partition="gpu", time="02:00:00", cpus_per_fold=4,
                 gpus_per_fold=1, mem="16G", max_parallel=8, sbatch_options=["--account=lab"])  # fmt: skip
    spec = parse_grid_spec(raw)
    assert spec.executor.kind == "slurm" and spec.executor.sbatch_options == ("--account=lab",)
    assert (spec.cpus_per_fold, spec.gpus_per_fold, spec.fold_resources) == (4, 1, "4 CPUs + 1 GPU")
    assert parse_grid_spec(spec.to_config()) == spec
    assert "executor" not in spec.training_settings(), "where folds run must not make a grid incompatible"
    plain = parse_grid_spec(config(tmp_path / "out", photos))
    assert (plain.executor.kind, plain.cpus_per_fold, plain.gpus_per_fold) == ("local", 1, 0)
    assert plain.with_executor("ray", "auto").executor.ray_address == "auto"
    with pytest.raises(GridSpecError, match="unknown executor 'dask'"):
        plain.with_executor("dask")


@pytest.mark.parametrize(
    ("executor", "message"),
    [
        ({"kind": "kubernetes"}, r"executor.kind: must be one of local, ray, slurm, got 'kubernetes'"),
        ({"time": 7200}, r"executor.time: must be quoted, such as '02:00:00'"),
        ({"time": "two hours"}, r"executor.time: must be a Slurm time limit"),
        ({"cpus_per_fold": 0}, r"executor.cpus_per_fold: must be 'auto' or a whole number from 1"),
        ({"sbatch_options": [3]}, r"executor.sbatch_options\[0\]: must be a text"),
        ({"partition_name": "gpu"}, r"unknown key 'executor.partition_name' \(did you mean 'executor.partition'\?"),
    ],
)
def test_executor_mistakes_name_the_key(photos: Path, tmp_path: Path, executor: dict, message: str) -> None:
    with pytest.raises(GridSpecError, match=message):
        parse_grid_spec(config(tmp_path / "out", photos, **executor), origin="grid.yaml")


def test_a_grid_with_nothing_left_to_train_needs_no_cluster(photos: Path, tmp_path: Path) -> None:
    spec = parse_grid_spec(config(tmp_path / "out", photos, kind="slurm"))
    assert isinstance(make_executor(spec, tmp_path, folds=0), LocalExecutor)


# ---------------------------------------------------------------------------------------------- Slurm's job script
def test_the_slurm_job_script_takes_its_resources_from_the_grid_file(photos: Path, tmp_path: Path, monkeypatch) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for name in ("sbatch", "squeue", "scancel"):  # present, never run: the script is only written
        (fake_bin / name).write_text("#!/bin/sh\nexit 1\n")
        (fake_bin / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    spec = parse_grid_spec(config(tmp_path / "out", photos, kind="slurm", partition="gpu", time="0-04:00:00",
                                  gpus_per_fold=1, mem="8G", sbatch_options=["--account=lab"]))  # fmt: skip
    executor = SlurmExecutor(spec, tmp_path / "out", poll_seconds=0.1)
    try:
        script = executor.job_script(tmp_path / "out" / "slurm" / "0", tasks=4)
    finally:
        executor.close()
    for line in ("#SBATCH --cpus-per-task=1", "#SBATCH --time=0-04:00:00", "#SBATCH --gres=gpu:1",
                 "#SBATCH --partition=gpu", "#SBATCH --mem=8G", "#SBATCH --account=lab",
                 f"#SBATCH --output={tmp_path}/out/slurm/0/task-%a.out", f"#SBATCH --chdir={Path.cwd()}"):  # fmt: skip
        assert line in script, line
    assert 'lightning_module.grid.executors.slurm_worker' in script and '"$SLURM_ARRAY_TASK_ID"' in script


def test_a_missing_engine_is_one_error_line_with_exit_status_2(photos: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(config(tmp_path / "out", photos)))
    assert grid_cli(["--config", str(path), "--executor", "slurm"]) == 2
    assert "error: sbatch not found: run the grid where Slurm's commands work (a login node)" in capsys.readouterr().err


def test_the_dry_run_says_where_the_folds_will_train(photos: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(config(tmp_path / "out", photos, kind="slurm", partition="gpu")))
    assert grid_cli(["--config", str(path), "--dry-run"]) == 0
    assert "as a Slurm job array on partition gpu (1 CPU per fold, time limit 01:00:00)" in capsys.readouterr().out
    assert grid_cli(["--config", str(path), "--dry-run", "--executor", "ray", "--ray-address", "ray://head:10001"]) == 0
    assert "on Ray at ray://head:10001 (1 CPU per fold)" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------- watching from elsewhere
def test_a_grid_on_another_machine_is_running_while_its_heartbeat_is_fresh(tmp_path: Path) -> None:
    def progress(updated: datetime) -> results.GridProgress:
        record = {"status": "running", "pid": 1, "host": "login-node-7", "updated": updated.isoformat(), "total": 4}
        (tmp_path / results.PROGRESS_FILE).write_text(json.dumps(record))
        return results.read_progress(tmp_path)

    now = datetime.now(timezone.utc)
    assert progress(now - timedelta(seconds=20)).status == "running", "pid 1 here says nothing about login-node-7"
    assert progress(now - timedelta(seconds=results.HEARTBEAT_STALE_SECONDS + 5)).status == "stopped"


def test_a_stop_request_file_stops_the_grid_after_the_fold_in_progress(photos: Path, tmp_path: Path) -> None:
    spec = parse_grid_spec(config(tmp_path / "out", photos))
    calls: list[str] = []

    def fit_then_request_stop(arguments: list[str], attempt_dir: Path) -> None:
        calls.append(str(attempt_dir))
        finished_fit(arguments, attempt_dir)
        if len(calls) == 1:
            (tmp_path / "out" / results.STOP_FILE).write_text("stop")  # what the page writes for a remote grid

    outcome = run_grid(spec, fit=fit_then_request_stop, estimate=False, log=lambda line: None)
    assert outcome.status == "stopped" and len(calls) == 1
    assert not (tmp_path / "out" / results.STOP_FILE).exists(), "the request is used up"
    resumed = run_grid(spec, fit=finished_fit, estimate=False, log=lambda line: None)
    assert resumed.status == "finished" and resumed.skipped == 1 and resumed.ran == 3


def test_stop_grid_asks_a_grid_of_another_machine_through_the_output_folder(tmp_path: Path) -> None:
    record = {"status": "running", "pid": os.getpid(), "host": "login-node-7", "updated": now_iso(), "total": 4}
    (tmp_path / results.PROGRESS_FILE).write_text(json.dumps(record))
    assert launch.stop_grid(tmp_path)
    assert (tmp_path / results.STOP_FILE).is_file(), "the remote grid reads this file"
    # pid is this test's own process: had stop_grid signalled it, the test would have ended here.


def test_the_runner_reports_the_executor_in_its_progress(photos: Path, tmp_path: Path) -> None:
    spec = parse_grid_spec(config(tmp_path / "out", photos))
    lines: list[str] = []
    GridRunner(spec, fit=finished_fit, estimate=False, log=lines.append).run()
    progress = json.loads((tmp_path / "out" / results.PROGRESS_FILE).read_text())
    assert progress["executor"] == "local" and progress["host"] and progress["status"] == "finished"
    assert lines[0] == f"Grid 'tiny': 2 cells × 2 folds = 4 folds; 0 already finished, 4 to run -> {tmp_path / 'out'}"


# ---------------------------------------------------------------------------------------------- planning cluster time
def test_makespan_is_how_a_queue_drains_folds_on_n_slots() -> None:
    from lightning_module.grid.estimate import makespan

    assert makespan([5, 5, 5, 5], 1) == 20 and makespan([5, 5, 5, 5], 2) == 10 and makespan([5, 5, 5, 5], 8) == 5
    assert makespan([10, 1, 1, 1], 2) == 10, "the longest fold first: the short ones fill the other slot"
    assert makespan([], 4) == 0


def test_the_dry_run_plans_n_folds_at_a_time_from_the_folds_measured(photos: Path, tmp_path: Path, capsys) -> None:
    from lightning_module.grid.runner import estimate_grid

    spec = parse_grid_spec(config(tmp_path / "out", photos))
    one_fold = parse_grid_spec({**config(tmp_path / "out", photos), "grid": {"scenarios": ["Pr_Im"], "image_sizes": [32]}})

    def slow_fit(arguments: list[str], attempt_dir: Path) -> None:
        finished_fit(arguments, attempt_dir)  # then says it took 100 s on its worker
        record = json.loads((attempt_dir / "run.json").read_text())
        ended = datetime.fromisoformat(record["timings"]["ended"])
        update_run_json(attempt_dir, worker={"started": (ended - timedelta(seconds=100)).isoformat()})

    run_grid(one_fold, fit=slow_fit, estimate=False, log=lambda line: None)  # both folds of one cell, "100 s" each
    estimate = estimate_grid(spec, parallel=2)
    # Timed steps alone predict a few seconds for a 1-epoch fold of 26 photos; the measured 100 s scale them up.
    assert len(estimate.todo) == 2 and 50 <= estimate.seconds <= 2000, estimate.seconds
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(config(tmp_path / "out", photos)))
    assert grid_cli(["--config", str(path), "--dry-run", "--parallel", "2"]) == 0
    assert "2 folds to run; estimated time at 2 folds at a time: about" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------- the page
def test_the_grid_page_starts_a_grid_on_the_executor_chosen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    started: list[tuple] = []

    def fake_start(config, output=None, executor=None, ray_address=None):  # records instead of training
        started.append((Path(config).name, executor, ray_address))
        return launch.StartedGrid(tmp_path / "started", 1, [])

    monkeypatch.setattr(launch, "start_grid", fake_start)
    monkeypatch.setenv(results.GRIDS_DIR_ENV, str(tmp_path / "no_grids"))
    app = AppTest.from_file(str(Path(__file__).parents[1] / "dashboard" / "views" / "grid.py"), default_timeout=60)
    app.run()
    assert not app.exception
    choice = app.radio(key="grid_executor_grid.yaml")
    assert choice.value == "local" and list(choice.options) == ["This machine", "A Ray cluster", "A Slurm job array"]
    choice.set_value("ray").run()
    app.text_input(key="grid_ray_grid.yaml").input("ray://head:10001").run()
    assert any("Each fold is one Ray task asking for 1 CPU." in c.value for c in app.caption)
    next(b for b in app.button if b.label == "Start").click().run()
    assert started == [("grid.yaml", "ray", "ray://head:10001")]
