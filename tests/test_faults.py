"""A training run killed at any moment (SIGKILL: no handler runs) loses at most the epoch it was in.

After every kill: each ``*.ckpt`` on disk loads completely, ``run.json`` parses and reads as "crashed", the
dashboard's readers cope, and a half-written checkpoint exists only as a hidden ``.<name>.*.tmp`` file that
nothing reads as a checkpoint. Resuming with the saved config and ``--ckpt_path last`` (what the dashboard's
Resume button runs) reaches ``max_epochs`` in the same run directory and clears the leftover temporary file.

The fast tests kill forked writers in this process (no interpreter start-up); the slow ones kill real
``python -m lightning_module fit`` processes at seeded random moments, and inside a checkpoint save stretched to
a second by :class:`~lightning_module.reliability.fault_hooks.SlowCheckpointIO`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from lightning_module.models.checkpoints import read_checkpoint
from lightning_module.reliability.fault_hooks import SlowCheckpointIO
from lightning_module.runs import launcher, store
from lightning_module.training.checkpoint_io import AtomicCheckpointIO
from lightning_module.training.run_files import update_run_json

pytestmark = pytest.mark.timeout(120)


def _wait_for(condition, timeout: float, what: str, poll: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(poll)


def _fork(child) -> int:
    """Run ``child()`` in a forked copy of this process; the child never returns into pytest."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            child()
        finally:
            os._exit(0)
    return pid


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


# ------------------------------------------------------------------------------------------------ fast
def test_kill_in_the_middle_of_a_checkpoint_write_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints" / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.zeros(4)}, "epoch": 1}, path)
    before = path.read_bytes()
    marker = tmp_path / "saving"
    newer = {"state_dict": {"w": torch.ones(200_000)}, "epoch": 2}  # 800 kB: written in 20 pieces over 2 s

    pid = _fork(lambda: SlowCheckpointIO(str(marker), seconds=2.0).save_checkpoint(newer, path))
    partial = lambda: [p for p in path.parent.glob(".last.ckpt.*.tmp") if p.stat().st_size > 0]  # noqa: E731
    _wait_for(lambda: marker.exists() and partial(), 30, "the slow save to start writing")
    time.sleep(0.3)
    _kill(pid)

    leftovers = partial()
    assert leftovers and 0 < leftovers[0].stat().st_size, "the kill happened mid-write"
    assert path.read_bytes() == before, "the checkpoint on disk is the previous, complete one"
    assert torch.load(path, weights_only=True)["epoch"] == 1
    with pytest.raises(Exception):
        torch.load(leftovers[0], weights_only=True)  # the leftover really is half a file ...
    assert sorted(p.name for p in path.parent.glob("*.ckpt")) == ["last.ckpt"]  # ... and is not named like one

    AtomicCheckpointIO().save_checkpoint(newer, path)
    assert torch.load(path, weights_only=True)["epoch"] == 2
    assert not list(path.parent.glob("*.tmp")), "the next good save clears what the killed one left"


def test_run_json_is_never_half_written(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    rng = np.random.default_rng(0)

    def keep_writing() -> None:
        for epoch in range(100_000):
            update_run_json(run_dir, status="running", current_epoch=epoch, history=list(range(epoch % 500)))

    for _ in range(8):
        pid = _fork(keep_writing)
        _wait_for(lambda: (run_dir / "run.json").exists(), 30, "run.json")
        time.sleep(float(rng.uniform(0.01, 0.3)))
        _kill(pid)
        record = json.loads((run_dir / "run.json").read_text())  # raises if it were half written
        assert record["status"] == "running" and isinstance(record["current_epoch"], int)
    info = store.read_run(run_dir)
    assert info.status in ("running", "crashed") and info.problem is None or "no longer running" in info.problem


# ------------------------------------------------------------------------------------------------ slow: real runs
MAX_EPOCHS = 5
RANDOM_KILL_EPOCHS = 25


def _config(tmp_path: Path, photo_folder: Path, plugin: dict | None = None, max_epochs: int = MAX_EPOCHS) -> Path:
    config = {
        "seed_everything": 0,
        "data": {"source": str(photo_folder), "image_size": 32, "batch_size": 4, "cache_dir": str(tmp_path / "cache")},
        "trainer": {
            "max_epochs": max_epochs,
            "accelerator": "cpu",
            "enable_progress_bar": False,
            "logger": {"class_path": "lightning_module.training.run_logger.RunLogger",
                       "init_args": {"save_dir": str(tmp_path / "runs"), "name": "killed"}},
        },
    }
    if plugin:
        config["trainer"]["plugins"] = [plugin]
    path = tmp_path / "fit.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _start(command: list[str], log: Path) -> subprocess.Popen:
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    return subprocess.Popen(command, stdout=log.open("a"), stderr=subprocess.STDOUT, env=env, cwd=log.parent)


def _run_dir(tmp_path: Path) -> Path:
    dirs = sorted((tmp_path / "runs" / "killed").glob("version_*"))
    assert len(dirs) == 1, dirs
    return dirs[0]


def _running(tmp_path: Path) -> bool:
    runs = list((tmp_path / "runs" / "killed").glob("version_*/run.json"))
    return bool(runs) and json.loads(runs[0].read_text()).get("status") == "running"


def _check_after_kill(run_dir: Path) -> dict:
    """Everything a user or the dashboard reads is whole; returns what the kill left."""
    record = json.loads((run_dir / "run.json").read_text())
    info = store.read_run(run_dir)
    assert info.status == "crashed" and "no longer running" in (info.problem or ""), (info.status, info.problem)
    checkpoints = sorted((run_dir / "checkpoints").glob("*.ckpt")) if (run_dir / "checkpoints").is_dir() else []
    for checkpoint in checkpoints:
        state, hparams = read_checkpoint(checkpoint)  # TreeRisk's safe reader: a partial file would be refused
        assert state and hparams["image_size"] == 32
        full = torch.load(checkpoint, map_location="cpu", weights_only=True)
        assert {"epoch", "optimizer_states", "loops"} <= set(full), "a resumable Lightning checkpoint"
    temporary = sorted(p.name for p in run_dir.rglob("*.tmp"))
    assert all(name.startswith(".") for name in temporary), temporary
    store.read_metrics(run_dir)  # a torn last line is skipped, never an error
    assert [r.run_id for r in store.list_runs(run_dir.parent.parent)] == [f"killed/{run_dir.name}"]
    return {"record": record, "checkpoints": [c.name for c in checkpoints], "temporary": temporary}


def _resume_and_finish(run_dir: Path, log: Path, max_epochs: int = MAX_EPOCHS) -> None:
    command = launcher.resume_command(store.read_run(run_dir))  # what the dashboard's Resume button runs
    process = _start(command, log)
    assert process.wait(timeout=300) == 0, log.read_text()[-3000:]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "finished" and record["current_epoch"] == max_epochs - 1
    assert record["attempts"] == 2
    assert list(store.read_metrics(run_dir).index) == list(range(max_epochs)), "every epoch is on record"
    for checkpoint in (run_dir / "checkpoints").glob("*.ckpt"):
        read_checkpoint(checkpoint)
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == max_epochs - 1
    assert not list((run_dir / "checkpoints").glob("*.tmp")), "the resumed run's saves cleared what the kill left"
    # A kill can also strand a hidden temporary copy of a small JSON/CSV record (files.atomic_write_text does
    # not clear those yet); it is never read: the dashboard's readers match exact file names.
    for leftover in run_dir.rglob("*.tmp"):
        assert leftover.name.startswith(".") and leftover.stat().st_size < 1_000_000, leftover
    assert store.confusion_epochs(run_dir) == list(range(max_epochs))
    assert store.prediction_epochs(run_dir) == list(range(max_epochs))


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigkill_at_a_random_moment_then_resume(seed: int, photo_folder: Path, tmp_path: Path) -> None:
    # Every checkpoint save is stretched to 0.1 s (two saves an epoch), so even a fast machine is still training
    # when the random moment comes: 25 epochs take at least 5 s, the moment is at most 2.5 s after the start.
    slow_saves = {"class_path": "lightning_module.reliability.fault_hooks.SlowCheckpointIO",
                  "init_args": {"seconds": 0.1, "pieces": 2}}
    config = _config(tmp_path, photo_folder, slow_saves, max_epochs=RANDOM_KILL_EPOCHS)
    log = tmp_path / "train.log"
    process = _start([sys.executable, "-m", "lightning_module", "fit", f"--config={config}"], log)
    _wait_for(lambda: _running(tmp_path) or process.poll() is not None, 300, "training to start", poll=0.05)
    assert process.poll() is None, log.read_text()[-3000:]
    time.sleep(float(np.random.default_rng(seed).uniform(0.0, 2.5)))  # somewhere in the first epochs
    assert process.poll() is None, "the run ended before the kill: the test no longer kills a running fit"
    process.send_signal(signal.SIGKILL)
    process.wait()
    run_dir = _run_dir(tmp_path)
    left = _check_after_kill(run_dir)
    print(f"seed {seed}: killed after epoch {left['record'].get('current_epoch')}, checkpoints {left['checkpoints']}, "
          f"temporary {left['temporary']}")
    _resume_and_finish(run_dir, log, RANDOM_KILL_EPOCHS)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("saves_before_kill", [0, 1, 3], ids=["first best.ckpt", "first last.ckpt", "a later save"])
def test_sigkill_during_a_checkpoint_save_then_resume(saves_before_kill: int, photo_folder: Path, tmp_path: Path) -> None:
    marker = tmp_path / "saving"
    plugin = {"class_path": "lightning_module.reliability.fault_hooks.SlowCheckpointIO",
              "init_args": {"marker": str(marker), "seconds": 1.0}}
    config = _config(tmp_path, photo_folder, plugin)
    log = tmp_path / "train.log"
    process = _start([sys.executable, "-m", "lightning_module", "fit", f"--config={config}"], log)
    rng = np.random.default_rng(100 + saves_before_kill)
    seen: list[str] = []
    while True:
        _wait_for(lambda: marker.exists() or process.poll() is not None, 300, "a checkpoint save", poll=0.002)
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            saving = marker.read_text()
        except FileNotFoundError:
            continue
        if len(seen) == saves_before_kill:
            break
        seen.append(saving)
        _wait_for(lambda: not marker.exists() or process.poll() is not None, 60, "the save to finish", poll=0.002)
    time.sleep(float(rng.uniform(0.2, 0.8)))  # part-way through the one-second save
    process.send_signal(signal.SIGKILL)
    process.wait()

    run_dir = _run_dir(tmp_path)
    left = _check_after_kill(run_dir)
    target = Path(saving).name
    assert any(name.startswith(f".{target}.") for name in left["temporary"]), (saving, left)
    print(f"killed while writing {target} after {len(seen)} complete saves (epoch {left['record'].get('current_epoch')} "
          f"recorded); on disk: {left['checkpoints']} + {left['temporary']}")
    _resume_and_finish(run_dir, log)


# ------------------------------------------------------------------------------------------------ the dashboard
# The pages, headless (AppTest), through app.py as a user reaches them. A read-only disk is simulated: this suite
# runs as root in CI containers, where file permissions do not stop writes, so every attempt to create or open a
# file for writing under the runs folder fails with EROFS, as it would on a read-only mount.
REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


@pytest.fixture()
def app_entry(tmp_path: Path) -> str:
    """dashboard/app.py started through a wrapper outside the repository (see tests/test_dashboard_pages.py)."""
    script = tmp_path / "entry.py"
    script.write_text(f"import runpy\nrunpy.run_path({str(REPO / 'dashboard' / 'app.py')!r}, run_name='__main__')\n")
    return str(script)


def _page(entry: str, page: str, **query: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(entry, default_timeout=60)
    at.run()
    at.switch_page(str(REPO / "dashboard" / "views" / f"{page}.py"))
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    return at


def _read_only(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    import errno

    root = str(root.resolve())

    def inside(path) -> bool:
        try:
            return str(Path(os.fsdecode(path)).resolve()).startswith(root)
        except (TypeError, ValueError):
            return False

    def refuse(path) -> None:
        raise OSError(errno.EROFS, "Read-only file system", os.fsdecode(path))

    real_mkdir, real_open, real_replace, real_io_open = os.mkdir, os.open, os.replace, __import__("io").open

    def mkdir(path, *args, **kwargs):
        if inside(path):
            refuse(path)
        return real_mkdir(path, *args, **kwargs)

    def open_(path, flags, *args, **kwargs):
        if inside(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            refuse(path)
        return real_open(path, flags, *args, **kwargs)

    def replace(source, target, *args, **kwargs):
        if inside(target):
            refuse(target)
        return real_replace(source, target, *args, **kwargs)

    def io_open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)) and inside(file) and any(c in mode for c in "wax+"):
            refuse(file)
        return real_io_open(file, mode, *args, **kwargs)

    import builtins
    import io as io_module
    import pathlib

    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(builtins, "open", io_open)
    monkeypatch.setattr(io_module, "open", io_open)
    monkeypatch.setattr(pathlib, "io", type("io", (), {"open": staticmethod(io_open), "text_encoding": io_module.text_encoding}))


@pytest.fixture()
def read_only_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    sys.path[:0] = [str(TESTS), str(REPO)]
    import fixtures_runs as fx

    root = tmp_path / "runs"
    fx.finished_run(root)
    fx.crashed_run(root)
    fx.failed_run(root)
    monkeypatch.setenv("TREERISK_RUNS_DIR", str(root))
    monkeypatch.setenv("TREERISK_DATA_DIR", str(tmp_path / "data"))
    _read_only(monkeypatch, root)
    with pytest.raises(OSError, match="Read-only"):
        (root / "probe").mkdir()
    return root


def _all_text(at) -> str:
    return "\n".join(str(e.value) for kind in ("error", "warning", "info", "markdown", "caption") for e in getattr(at, kind))


def test_pages_keep_serving_from_a_read_only_runs_folder(app_entry: str, read_only_runs: Path) -> None:
    for page, query in (("overview", {}), ("runs", {"run": "finished/version_0"}), ("runs", {"run": "crashed/version_0"}),
                        ("compare", {}), ("train", {})):
        at = _page(app_entry, page, **query)
        assert not at.exception, (page, [e.value for e in at.exception])
    crashed = _page(app_entry, "runs", run="crashed/version_0")
    crashed.button(key="resume").click().run()
    assert not crashed.exception, [e.value for e in crashed.exception]
    assert "Read-only file system" in _all_text(crashed), "Resume says why it cannot start"


def test_start_training_on_a_read_only_runs_folder_says_why(app_entry: str, read_only_runs: Path) -> None:
    at = _page(app_entry, "train")
    at.button(key="start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Training not started" in _all_text(at) and "Read-only file system" in _all_text(at)


def test_runs_page_keeps_serving_while_its_run_crashes(app_entry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path[:0] = [str(TESTS), str(REPO)]
    import fixtures_runs as fx

    root = tmp_path / "runs"
    trainer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # stands in for a training process
    try:
        fx.build_run(root, "live", status="running", bal_accs=[0.5], max_epochs=4, pid=trainer.pid, started_minutes_ago=2)
        monkeypatch.setenv("TREERISK_RUNS_DIR", str(root))
        at = _page(app_entry, "runs", run="live/version_0")
        assert not at.exception and [b.label for b in at.button] == ["Stop"]
        trainer.send_signal(signal.SIGKILL)
        trainer.wait()
        at.run()
    finally:
        trainer.kill()
    assert not at.exception, [e.value for e in at.exception]
    assert "This run crashed" in _all_text(at) and [b.label for b in at.button] == ["Resume"]


# ------------------------------------------------------------------------------------------------ two browsers
def _model_run(root: Path, image_size: int = 32) -> Path:
    """A finished run with an untrained seed_cnn checkpoint, dated in the future so the Assess page offers it first."""
    from lightning_module.models.networks import build_network

    torch.manual_seed(0)
    network = build_network("seed_cnn", 3, "grayscale", image_size)
    run = root / "model" / "version_0"
    (run / "checkpoints").mkdir(parents=True)
    checkpoint = run / "checkpoints" / "best.ckpt"
    torch.save({"state_dict": {f"network.{k}": v for k, v in network.state_dict().items()},
                "hyper_parameters": {"class_names": ["Improbable", "Possible", "Probable"], "backbone": "seed_cnn",
                                     "image_size": image_size, "color_mode": "grayscale", "scenario": "Pr_Po_Im"}},
               checkpoint)
    (run / "run.json").write_text('{"status": "finished", "backbone": "seed_cnn"}')
    future = time.time() + 86_400
    os.utime(checkpoint, (future, future))
    return checkpoint


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(600)
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="/usr/bin/chromium is missing (make browser)")
def test_two_browser_sessions_train_and_assess_at_once_and_survive_a_crash(photo_folder: Path, tmp_path: Path) -> None:
    """Two people: each starts a run and assesses photos while both runs train; one run is killed mid-way.

    Each sees only its own run and its own answers; the app keeps answering through the crash.
    """
    pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(REPO / "scripts"))
    sys.path.insert(0, str(REPO / "bench"))
    import screenshot_dashboard as driver
    from load_check import CAPTION, CARD

    from dashboard.serve import running_dashboard
    from lightning_module.evaluation.bundled_models import DEFAULT_MODEL
    from lightning_module.evaluation.predictor import load_predictor
    from lightning_module.reliability.fuzz_inputs import base_photo, encode

    runs = tmp_path / "runs"
    checkpoint = _model_run(runs)
    # The Assess page answers with the bundled model when the copy has one, else with the finished run's.
    bundled = DEFAULT_MODEL.path
    predictor = load_predictor(bundled if bundled.is_file() else checkpoint)
    photos = {}
    for person in ("alpha", "beta"):
        for i in range(3):
            size = (300 + 40 * i + (7 if person == "beta" else 0), 240 + 10 * i)
            path = tmp_path / f"{person}_{i}.jpg"
            path.write_bytes(encode(base_photo(*size, seed=(0 if person == "alpha" else 100) + i), "JPEG"))
            probabilities = predictor.predict_proba(path.read_bytes())
            top = int(probabilities.argmax())
            photos[path] = (size, predictor.classes[top], f"{probabilities[top]:.0%}".rstrip("%"))

    env = {"TREERISK_RUNS_DIR": str(runs), "TREERISK_DATA_DIR": str(tmp_path / "data"), "TREERISK_CACHE": str(tmp_path / "cache")}
    with running_dashboard(env=env, log=tmp_path / "app.log", timeout=60) as app:
        base = app.url
        with sync_playwright() as playwright:
            browser = driver.launch_browser(playwright)
            pages = {person: browser.new_context().new_page() for person in ("alpha", "beta")}
            # alpha's run is killed during the first answers: long enough to be still training then on any machine
            # (30 epochs once finished first on a fast one).
            for person, epochs in (("alpha", 1000), ("beta", 4)):
                driver.start_training_from_page(pages[person], base, photo_folder, person, epochs=epochs, image_size=32,
                                                batch_size=8)
            for person, page in pages.items():  # each Train page names its own run, not the other's
                assert page.get_by_text(f"Started {person}/version_0").count() == 1
                other = "beta" if person == "alpha" else "alpha"
                assert page.get_by_text(f"Started {other}/version_0").count() == 0
            for person, page in pages.items():
                driver.open_page(page, base, "assess")

            def assess(person: str, path: Path) -> None:
                page = pages[person]
                page.locator("input[type=file]").first.set_input_files(str(path))
                page.get_by_role("heading", name=path.name).wait_for(timeout=120_000)
                driver.settle(page)
                card = CARD.search(page.locator(".tr-path").first.inner_text())
                size = CAPTION.search(page.get_by_text("px photo").first.inner_text())
                expected_size, expected_class, expected_percent = photos[path]
                assert card and size, f"{person}: no answer for {path.name}"
                assert (int(size.group(1)), int(size.group(2))) == expected_size, f"{person} got another photo's answer"
                assert (card.group(1), card.group(2)) == (expected_class, expected_percent), path.name

            alpha_run = runs / "alpha" / "version_0"
            for i in range(3):
                assess("alpha", tmp_path / f"alpha_{i}.jpg")
                assess("beta", tmp_path / f"beta_{i}.jpg")
                if i == 0:  # alpha's training dies hard while both people keep working
                    pid = json.loads((alpha_run / "run.json").read_text()).get("pid")
                    assert pid, "alpha is training"
                    os.killpg(os.getpgid(int(pid)), signal.SIGKILL)

            driver.open_page(pages["alpha"], base, "runs?run=alpha/version_0")
            _wait_for(lambda: driver.badge_text(pages["alpha"]) in ("Failed", "Crashed"), 60, "alpha to show as ended")
            assert pages["alpha"].locator('[data-testid="stException"]').count() == 0
            beta = runs / "beta" / "version_0"
            _wait_for(lambda: json.loads((beta / "run.json").read_text()).get("status") == "finished", 300, "beta to finish",
                      poll=0.5)
            browser.close()
    beta_record = json.loads((runs / "beta" / "version_0" / "run.json").read_text())
    alpha_record = json.loads((runs / "alpha" / "version_0" / "run.json").read_text())
    assert beta_record["max_epochs"] == 4 and alpha_record["max_epochs"] == 1000, "each run kept its own choices"
    assert alpha_record["status"] == "failed" and "killed by signal 9" in alpha_record["error"]
