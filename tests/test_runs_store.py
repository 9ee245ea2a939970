"""Reading run directories: statuses (crashed recognised), per-epoch metrics, confusion, predictions, tables."""

from __future__ import annotations

import json
import os
import socket
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import fixtures_runs as fx  # noqa: E402

from lightning_module.runs import plots, store  # noqa: E402
from lightning_module.runs.datasets import datasets_on_hand  # noqa: E402


@pytest.fixture()
def runs_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    fx.all_runs(root)
    return root


def test_list_runs_newest_first_with_user_facing_statuses(runs_root: Path) -> None:
    runs = store.list_runs(runs_root)
    statuses = {r.run_id: r.status for r in runs}
    assert statuses == {
        "finished/version_0": "finished",
        "running/version_0": "running",
        "failed/version_0": "failed",
        "collapsed/version_0": "finished",
        "crashed/version_0": "crashed",  # run.json says running, but the pid is dead
        "starting/version_0": "starting",
        "broken/version_0": "unreadable",
    }
    readable = [r.run_id for r in runs if r.started]
    assert readable[:3] == ["starting/version_0", "running/version_0", "collapsed/version_0"]
    crashed = next(r for r in runs if r.status == "crashed")
    assert "no longer running" in crashed.problem and crashed.resumable
    failed = next(r for r in runs if r.status == "failed")
    assert failed.problem == fx.FAILED_ERROR


def test_missing_runs_folder_is_an_empty_list(tmp_path: Path) -> None:
    assert store.list_runs(tmp_path / "nowhere") == []


def test_starting_run_without_pid_becomes_crashed_after_the_grace_period(tmp_path: Path) -> None:
    run_dir = tmp_path / "r" / "version_0"
    run_dir.mkdir(parents=True)
    record = {"status": "starting", "pid": None, "status_history": [{"status": "starting", "time": "2020-01-01T00:00:00+00:00"}]}
    (run_dir / "run.json").write_text(json.dumps(record))
    assert store.read_run(run_dir).status == "crashed"
    record["status_history"][0]["time"] = store.datetime.now(store.timezone.utc).isoformat()
    (run_dir / "run.json").write_text(json.dumps(record))
    assert store.read_run(run_dir).status == "starting"


def _run_json(run_dir: Path, **record) -> store.RunInfo:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.json").write_text(json.dumps(record))
    return store.read_run(run_dir)


def _ago(seconds: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds)).isoformat()


def test_a_run_on_another_machine_is_judged_by_its_heartbeat_not_by_a_pid_here(tmp_path: Path) -> None:
    # pid 1 runs here (init); the run's process is pid 1 on a cluster node, which says nothing about this machine.
    running = dict(status="running", pid=1, host="gpu-node-17")
    assert _run_json(tmp_path / "r" / "version_0", **running, heartbeat=_ago(40)).status == "running"
    silent = _run_json(tmp_path / "r" / "version_0", **running, heartbeat=_ago(20 * 60))
    assert silent.status == "crashed" and silent.resumable is False  # no config.yaml in this bare folder
    assert silent.problem.startswith("no heartbeat from its training process on gpu-node-17 (pid 1) for 20 minutes")
    assert _run_json(tmp_path / "r" / "version_0", **running).status == "crashed"  # never beat at all
    # Its own machine still asks the pid, heartbeat or not: a dead process there is crashed at once.
    here = _run_json(tmp_path / "r" / "version_0", status="running", pid=_dead_pid(), host=socket.gethostname(),
                     heartbeat=_ago(1))
    assert here.status == "crashed" and "is no longer running" in here.problem


def test_a_queued_grid_fold_waits_while_its_grid_runs(tmp_path: Path) -> None:
    grid = tmp_path / "grid"
    grid.mkdir()
    fold = dict(status="starting", pid=None, grid={"output": str(grid), "cell": "c0", "fold": 0},
                status_history=[{"status": "starting", "time": _ago(3600)}])  # an hour in a Slurm queue
    progress = {"status": "running", "pid": os.getpid(), "host": socket.gethostname(), "updated": _ago(5)}
    (grid / store.GRID_PROGRESS_FILE).write_text(json.dumps(progress))
    assert _run_json(tmp_path / "f" / "version_0", **fold).status == "starting"
    # Driven from a login node: its heartbeat is what counts.
    (grid / store.GRID_PROGRESS_FILE).write_text(json.dumps(progress | {"pid": 1, "host": "login-2"}))
    assert _run_json(tmp_path / "f" / "version_0", **fold).status == "starting"
    (grid / store.GRID_PROGRESS_FILE).write_text(json.dumps(progress | {"pid": 1, "host": "login-2", "updated": _ago(3600)}))
    gone = _run_json(tmp_path / "f" / "version_0", **fold)
    assert gone.status == "crashed" and gone.problem == "the grid that queued it is no longer running"
    # A worker on this machine took it and died before the fit began.
    (grid / store.GRID_PROGRESS_FILE).write_text(json.dumps(progress))
    orphan = _run_json(tmp_path / "f" / "version_0", **fold,
                       worker={"host": socket.gethostname(), "pid": _dead_pid(), "started": _ago(60)})
    assert orphan.status == "crashed" and "grid worker" in orphan.problem


def _dead_pid() -> int:
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_zombie_process_is_not_running() -> None:
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        for _ in range(100):  # it exits at once but stays a zombie until waited for
            if not store.process_running(child.pid):
                break
            import time

            time.sleep(0.05)
        assert not store.process_running(child.pid)
    finally:
        child.wait()
    assert store.process_running(os.getpid())


def test_headline_is_best_balanced_accuracy_beside_baseline(runs_root: Path) -> None:
    run = store.find_run(runs_root, "finished/version_0")
    top = store.headline(run)
    assert top.value == pytest.approx(0.71) and top.epoch == 2
    assert top.baseline == pytest.approx(1 / 3)
    assert top.margin == pytest.approx(0.71 - 1 / 3)
    assert store.headline(store.find_run(runs_root, "starting/version_0")).value is None


def test_find_run_refuses_paths_outside_the_runs_folder(runs_root: Path) -> None:
    assert store.find_run(runs_root, "../etc/version_0") is None
    assert store.find_run(runs_root, "finished/../../x") is None
    assert store.find_run(runs_root, "finished/version_9") is None


def test_metrics_one_row_per_epoch_last_row_wins(tmp_path: Path) -> None:
    run_dir = fx.finished_run(tmp_path)
    with (run_dir / "metrics.csv").open("a") as handle:
        # a resumed attempt repeats epoch 1 with new numbers (fewer columns), then a half-written line
        handle.write("1,99,,,,,,,0.99\n2,")
    metrics = store.read_metrics(run_dir)
    assert list(metrics.index) == [0, 1, 2]
    assert metrics.loc[1, "val/bal_acc"] == pytest.approx(0.99)
    assert metrics.loc[1, "val/loss"] == pytest.approx(0.85)  # the later row lacked it: kept from the earlier
    assert metrics.loc[2, "val/bal_acc"] == pytest.approx(0.71)


def test_missing_or_broken_files_give_empty_results(tmp_path: Path) -> None:
    empty = tmp_path / "x" / "version_0"
    empty.mkdir(parents=True)
    (empty / "metrics.csv").write_text("")
    assert store.read_metrics(empty).empty
    assert store.read_confusion(empty, 0) is None
    assert store.confusion_epochs(empty) == []
    assert store.read_predictions(empty, 0).empty
    assert store.read_data_report(empty) is None
    assert store.hyperparameters(empty) == {}
    assert store.read_log_tail(empty) == ""
    (empty / "confusion").mkdir()
    (empty / "confusion" / "epoch_0.json").write_text('{"classes": ["a", "b"], "matrix": [[1]]}')
    assert store.read_confusion(empty, 0) is None


def test_confusion_counts_and_row_normalised(tmp_path: Path) -> None:
    run_dir = fx.finished_run(tmp_path)
    assert store.confusion_epochs(run_dir) == [0, 1, 2]
    confusion = store.read_confusion(run_dir, 0)
    assert confusion.classes == fx.CLASSES
    assert confusion.matrix.tolist() == [[4, 2, 0], [1, 1, 0], [0, 1, 1]]
    assert np.allclose(confusion.row_normalised(), [[4 / 6, 2 / 6, 0], [0.5, 0.5, 0], [0, 0.5, 0.5]])
    zero_row = store.Confusion(0, ["a", "b"], np.array([[0, 0], [1, 3]]))
    assert zero_row.row_normalised().tolist() == [[0, 0], [0.25, 0.75]]


def test_misclassified_images_most_confident_first(tmp_path: Path) -> None:
    run_dir = fx.finished_run(tmp_path)
    wrong = store.misclassified(store.read_predictions(run_dir, 0))
    assert len(wrong) == 4  # off-diagonal of [[4,2,0],[1,1,0],[0,1,1]]
    assert (wrong["true"] != wrong["pred"]).all()
    assert list(wrong["confidence"]) == sorted(wrong["confidence"], reverse=True)
    assert all(Path(p).is_file() for p in wrong["path"])


def test_per_class_table_reads_the_epoch_and_counts_images(tmp_path: Path) -> None:
    run_dir = fx.finished_run(tmp_path)
    metrics = store.read_metrics(run_dir)
    table = store.per_class_table(metrics, 1, fx.CLASSES, store.read_confusion(run_dir, 1))
    assert list(table["class"]) == fx.CLASSES
    assert table.loc[2, "recall"] == pytest.approx(0.8)
    assert list(table["images"]) == [6, 2, 2]
    assert store.per_class_table(metrics, 7, fx.CLASSES)["f1"].isna().all()


def test_hyperparameters_in_the_users_words(tmp_path: Path) -> None:
    settings = store.hyperparameters(fx.finished_run(tmp_path))
    assert settings["learning rate"] == 0.002 and settings["batch size"] == 16
    assert settings["backbone"] == "seed_cnn" and settings["hardware"] == "cpu × 1"


def test_log_tail_collapses_progress_bar_redraws(tmp_path: Path) -> None:
    run_dir = tmp_path / "r" / "version_0"
    run_dir.mkdir(parents=True)
    (run_dir / "train.log").write_text(
        "start\nEpoch 0:  10%\rEpoch 0:  50%\rEpoch 0: 100%\n"
        "Validation DataLoader 0:  50%|##  | 1/2 [00:00<00:00]\n\x1b[Aend\n"
    )
    assert store.read_log_tail(run_dir) == "start\nEpoch 0: 100%\nend"  # validation bars dropped, as a terminal would
    assert store.read_log_tail(run_dir, max_lines=1) == "end"


def test_progress_of_running_starting_and_finished_runs(runs_root: Path) -> None:
    running = store.find_run(runs_root, "running/version_0")
    progress = store.training_progress(running)
    # 2 of 10 epochs done; the log's last bar is of an older epoch, so it adds nothing
    assert progress.fraction == pytest.approx(0.2)
    assert progress.text.startswith("Epoch 3 of 10") and "left" in progress.text
    (running.path / "train.log").write_text("Epoch 2:  50%|##  | 1/3")
    assert store.training_progress(running).fraction == pytest.approx(0.25)
    assert "Preparing" in store.training_progress(store.find_run(runs_root, "starting/version_0")).text
    assert store.training_progress(store.find_run(runs_root, "finished/version_0")).fraction == 1.0
    crashed = store.training_progress(store.find_run(runs_root, "crashed/version_0"))
    assert crashed.text == "Crashed after 1 of 8 epochs"


def test_comparison_table_settings_and_best_metrics(runs_root: Path) -> None:
    runs = [store.find_run(runs_root, i) for i in ("finished/version_0", "collapsed/version_0")]
    table = store.comparison_table(runs)
    assert list(table["run"]) == ["finished/version_0", "collapsed/version_0"]
    assert table.loc[0, "best bal. acc"] == pytest.approx(0.71)
    assert table.loc[0, "best epoch"] == 2
    assert table.loc[0, "learning rate"] == 0.002
    assert table.loc[1, "collapsed"]
    assert table.loc[1, "baseline bal. acc"] == pytest.approx(1 / 3)


def test_summary_row_of_an_unreadable_run_does_not_crash(runs_root: Path) -> None:
    row = store.run_summary_row(store.find_run(runs_root, "broken/version_0"))
    assert row["status"] == "unreadable" and row["best bal. acc"] is None


def test_curve_draws_train_validation_and_the_baseline(tmp_path: Path) -> None:
    run_dir = fx.finished_run(tmp_path)
    figure = plots.metric_curve(store.read_metrics(run_dir), "bal_acc", 1 / 3)
    names = [t.name for t in figure.data]
    assert names == ["training", "validation", "majority baseline (0.33)"]
    assert list(figure.data[1].y) == pytest.approx(fx.FINISHED_BAL_ACC)
    assert list(figure.data[1].x) == [1, 2, 3]  # epochs counted from 1
    assert figure.layout.xaxis.range == (0.5, 3.5)
    assert list(figure.data[2].y) == pytest.approx([1 / 3, 1 / 3])
    empty = plots.metric_curve(store.read_metrics(tmp_path), "loss", None)
    assert len(empty.data) == 0 and empty.layout.annotations[0].text == "no finished epoch yet"


def test_confusion_heatmap_shows_counts_or_shares(tmp_path: Path) -> None:
    confusion = store.read_confusion(fx.finished_run(tmp_path), 0)
    counts = plots.confusion_heatmap(confusion)
    assert list(counts.data[0].text[0]) == ["4", "2", "0"]
    shares = plots.confusion_heatmap(confusion, normalised=True)
    assert list(shares.data[0].text[0]) == ["67%", "33%", "0%"]


def test_datasets_on_hand_counts_per_class(tmp_path: Path) -> None:
    from conftest import make_photo_folder

    make_photo_folder(tmp_path / "lab", per_class=(4, 3, 3))
    synth = tmp_path / "synthetic-n20-seed0"
    synth.mkdir()
    (synth / "manifest.csv").write_text("path,label\na.png,Improbable\nb.png,probable\nc.png,Probable\n")
    (tmp_path / "notes.txt").write_text("x")
    found = {d.name: d for d in datasets_on_hand(tmp_path)}
    assert set(found) == {"lab", "synthetic-n20-seed0"}
    assert found["lab"].per_class == {"Improbable": 4, "Possible": 3, "Probable": 3} and found["lab"].kind == "folder"
    assert found["synthetic-n20-seed0"].per_class == {"Improbable": 1, "Probable": 2}
    assert found["synthetic-n20-seed0"].kind == "synthetic" and found["synthetic-n20-seed0"].photos == 3
    assert datasets_on_hand(tmp_path / "missing") == []
