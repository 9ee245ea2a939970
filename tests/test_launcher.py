"""Starting, stopping and resuming training as a separate process; bad choices refused before anything starts."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import fixtures_runs as fx  # noqa: E402
from conftest import make_photo_folder  # noqa: E402

from lightning_module.runs import launcher, store  # noqa: E402
from lightning_module.runs.launcher import LaunchError, TrainingRequest  # noqa: E402
from lightning_module.training.run_files import update_run_json  # noqa: E402


def tiny(folder: Path, name: str = "tiny", **changes) -> TrainingRequest:
    settings = dict(run_name=name, data_kind="folder", data_path=str(folder), image_size=32, batch_size=8, max_epochs=2)
    settings.update(changes)
    return TrainingRequest(**settings)


def wait_for(condition, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def ended(run_dir: Path):
    run = store.read_run(run_dir)
    return run if not run.active else None


# ------------------------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"data_path": "/no/such/folder"}, "Data folder not found: /no/such/folder"),
        ({"data_path": ""}, "Give the path of the folder"),
        ({"run_name": "../escape"}, "Run name '../escape' is not allowed"),
        ({"pretrained": "imagenet"}, "seed_cnn has no ImageNet weights"),
        ({"image_size": 16}, "Image size must be between 32 and 1024"),
        ({"backbone": "inception_v3", "image_size": 64}, "between 75 and 1024 pixels for inception_v3"),
        ({"lr": 0.0}, "Learning rate must be above 0"),
        ({"data_kind": "manifest"}, "is not a .csv file"),
    ],
)
def test_bad_choices_are_refused_before_anything_starts(photo_folder: Path, tmp_path: Path, changes, message) -> None:
    runs_root = tmp_path / "runs"
    with pytest.raises(LaunchError) as refused:
        launcher.start_training(tiny(photo_folder, **changes), runs_root)
    assert any(message in p for p in refused.value.problems), refused.value.problems
    assert not runs_root.exists() or not any(runs_root.rglob("run.json"))


def test_folder_without_photos_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    problems = launcher.check_request(tiny(tmp_path / "empty"))
    assert problems == [f"No class folders in {tmp_path / 'empty'}: expected one sub-folder per class, e.g. {tmp_path / 'empty'}/Probable/*.jpg"]
    (tmp_path / "empty" / "Probable").mkdir()
    (tmp_path / "empty" / "Probable" / "notes.txt").write_text("x")
    assert launcher.check_request(tiny(tmp_path / "empty")) == [f"Class folder(s) with no photos in {tmp_path / 'empty'}: Probable"]


def test_class_missing_for_the_scenario_is_named(tmp_path: Path) -> None:
    folder = make_photo_folder(tmp_path / "two", per_class=(4, 0, 4))  # no Possible photos, so no Possible folder
    problems = launcher.check_request(tiny(folder, scenario="Pr_Po_Im"))
    assert problems == ["Scenario 'Pr_Po_Im' needs class 'Possible', but the data has only: Improbable, Probable."]
    assert launcher.check_request(tiny(folder, scenario="Pr_Im")) == []


def test_too_few_photos_in_a_class_is_refused(tmp_path: Path) -> None:
    folder = make_photo_folder(tmp_path / "few", per_class=(5, 2, 4))
    assert launcher.check_request(tiny(folder)) == ["Too few photos to split class(es) Possible (2): each class needs at least 3."]


def test_manifest_with_missing_files_is_refused(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\nnothing.jpg,Probable\n")
    problems = launcher.check_request(tiny(manifest, data_kind="manifest"))
    assert len(problems) == 1 and "names 1 file(s) that do not exist" in problems[0]


def test_more_gpus_than_the_machine_has_are_refused(photo_folder: Path) -> None:
    problems = launcher.check_request(tiny(photo_folder, accelerator="gpu", devices=64))
    assert problems == [f"64 GPU(s) asked for, but this machine has {launcher.gpu_count()}."]


def test_command_carries_every_choice(tmp_path: Path) -> None:
    request = TrainingRequest(run_name="a", data_kind="synthetic", synthetic_size=120, scenario="Pr_Im", lr=0.005, max_epochs=7)
    command = launcher.build_command(request, tmp_path, 3)
    pairs = dict(zip(command[4::2], command[5::2]))
    assert command[1:4] == ["-m", "lightning_module", "fit"]
    assert pairs["--data.source"] == "synthetic" and pairs["--data.synthetic_size"] == "120"
    assert pairs["--data.scenario"] == "Pr_Im" and pairs["--model.lr"] == "0.005"
    assert pairs["--trainer.max_epochs"] == "7" and pairs["--trainer.logger.init_args.version"] == "3"
    assert pairs["--trainer.logger.init_args.save_dir"] == str(tmp_path.resolve())


# ------------------------------------------------------------------------------------------------ real runs
@pytest.mark.slow  # two real trainings: ~10 s on an idle 2-core machine, much more when it is shared
def test_two_starts_with_one_name_train_in_separate_directories(photo_folder: Path, tmp_path: Path) -> None:
    runs_root = tmp_path / "runs"
    first = launcher.start_training(tiny(photo_folder, max_epochs=1), runs_root)
    second = launcher.start_training(tiny(photo_folder, max_epochs=1), runs_root)
    assert (first.run_id, second.run_id) == ("tiny/version_0", "tiny/version_1")
    record = json.loads((first.run_dir / "run.json").read_text())
    assert record["status_history"][0]["status"] == "starting"
    assert record["command"] == first.command and record["pid"] == first.pid
    for started in (first, second):
        run = wait_for(lambda: ended(started.run_dir), what=f"{started.run_id} to end")
        assert run.status == "finished", store.read_log_tail(started.run_dir)
        assert run.epochs_done == 1
        assert list(store.read_metrics(started.run_dir).index) == [0]
        log = (started.run_dir / "train.log").read_text()
        assert log and "litlogger" not in log and "💡 Tip" not in log, "Lightning's advertisement stays out of the log"
        assert (started.run_dir / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.slow  # a kill/resume check: two training processes one after the other
def test_stop_keeps_checkpoints_and_resume_continues(photo_folder: Path, tmp_path: Path) -> None:
    started = launcher.start_training(tiny(photo_folder, name="long", max_epochs=2000), tmp_path / "runs")
    wait_for(lambda: store.read_run(started.run_dir).epochs_done >= 1, what="a first epoch")
    assert launcher.stop_training(started.run_dir) == "stopped"
    stopped = store.read_run(started.run_dir)
    assert stopped.record["pid"] is None and stopped.resumable
    assert (started.run_dir / "checkpoints" / "last.ckpt").is_file()
    with pytest.raises(LaunchError, match="is not running"):
        launcher.stop_training(started.run_dir)

    epochs_before = stopped.epochs_done
    resumed = launcher.resume_training(started.run_dir)
    assert resumed.run_dir == started.run_dir
    with pytest.raises(LaunchError, match="stop it before resuming"):
        launcher.resume_training(started.run_dir)
    wait_for(lambda: store.read_run(started.run_dir).epochs_done > epochs_before, what="an epoch after resuming")
    assert launcher.stop_training(started.run_dir) == "stopped"
    run = store.read_run(started.run_dir)
    assert run.record["attempts"] == 2
    metrics = store.read_metrics(started.run_dir)
    assert list(metrics.index) == list(range(len(metrics)))  # continued, not restarted: no gap and no second epoch 0
    assert "=== resumed" in (started.run_dir / "train.log").read_text()
    assert list((tmp_path / "runs" / "long").iterdir()) == [started.run_dir]


def test_a_late_reaper_of_a_stopped_run_does_not_undo_its_resume(photo_folder: Path, tmp_path: Path, monkeypatch) -> None:
    """The stopped process's reaper thread may run after Resume has begun: it must leave the resumed run alone."""
    monkeypatch.setattr(launcher, "build_command", lambda *a: [sys.executable, "-c", "import time; time.sleep(60)"])
    started = launcher.start_training(tiny(photo_folder), tmp_path / "runs")
    assert launcher.stop_training(started.run_dir, timeout=10) == "stopped"
    # What resume_training writes first, before its new process exists; then the old process's reaper runs late.
    update_run_json(started.run_dir, status="starting", pid=None)
    launcher._record_end(started.run_dir, started.pid, -15)
    assert store.read_run(started.run_dir).record["status"] == "starting", "the resume must not be recorded as stopped"


def test_a_process_that_dies_without_recording_is_marked_failed(photo_folder: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(launcher, "build_command", lambda *a: [sys.executable, "-c", "import sys; print('ImportError: no torch'); sys.exit(3)"])
    started = launcher.start_training(tiny(photo_folder), tmp_path / "runs")
    # Between the process's end and the launcher's reaper writing run.json, the store shows it as crashed.
    run = wait_for(lambda: (r := store.read_run(started.run_dir)).status == "failed" and r, what="the failure to be recorded")
    assert run.problem == "training exited with code 3 without recording why; last log line: ImportError: no torch"


def test_stopping_a_run_that_has_not_reached_lightning_records_stopped(photo_folder: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(launcher, "build_command", lambda *a: [sys.executable, "-c", "import time; time.sleep(60)"])
    started = launcher.start_training(tiny(photo_folder), tmp_path / "runs")
    assert launcher.stop_training(started.run_dir, timeout=10) == "stopped"
    assert store.read_run(started.run_dir).status == "stopped"


def test_stop_signals_only_the_run_when_it_is_not_its_own_process_group(tmp_path: Path) -> None:
    import subprocess

    # A run started from a shell shares the shell's process group; stopping it must not signal the group.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # our group, not its own
    try:
        run_dir = fx.build_run(tmp_path, "cli", status="running", bal_accs=[0.5], max_epochs=5, pid=child.pid)
        assert launcher.stop_training(run_dir, timeout=10) == "stopped"
        assert child.wait(timeout=10) == -15  # SIGTERM reached it, and this test process is still here
    finally:
        child.kill()
        child.wait()


def test_a_run_on_another_machine_is_not_signalled_here(tmp_path: Path) -> None:
    import subprocess

    from lightning_module.training.run_files import now_iso, update_run_json

    # Its pid names a process on the cluster node; here that number is some other process, which must live on.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run_dir = fx.build_run(tmp_path, "node", status="running", bal_accs=[0.5], max_epochs=5, pid=bystander.pid)
        update_run_json(run_dir, host="gpu-node-17", heartbeat=now_iso())
        with pytest.raises(LaunchError, match=r"trains on gpu-node-17 \(pid \d+\), not on this machine: stop it there"):
            launcher.stop_training(run_dir, timeout=1)
        assert bystander.poll() is None
        with pytest.raises(LaunchError, match="still running"):
            launcher.resume_training(run_dir)
    finally:
        bystander.kill()
        bystander.wait()


def test_resume_is_refused_for_live_finished_and_configless_runs(tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match="still running"):
        launcher.resume_training(fx.running_run(tmp_path))
    with pytest.raises(LaunchError, match="has finished all its epochs"):
        launcher.resume_training(fx.finished_run(tmp_path))
    crashed = fx.crashed_run(tmp_path)
    (crashed / "config.yaml").unlink()
    with pytest.raises(LaunchError, match="before saving its config.yaml"):
        launcher.resume_training(crashed)
    with pytest.raises(LaunchError, match="run.json cannot be read"):
        launcher.resume_training(fx.unreadable_run(tmp_path))


def test_a_resume_already_under_way_elsewhere_is_refused_at_once(tmp_path: Path) -> None:
    from lightning_module.files import exclusive_lock

    crashed = fx.crashed_run(tmp_path)
    before = (crashed / "run.json").read_text()
    with exclusive_lock(crashed / launcher.LAUNCH_LOCK_NAME):  # as a second browser tab's Resume would hold it
        started = time.monotonic()
        with pytest.raises(LaunchError, match="being started by someone else"):
            launcher.resume_training(crashed)
        assert time.monotonic() - started < 5, "a held lock is reported, not waited for"
    assert (crashed / "run.json").read_text() == before, "nothing was changed or started"
