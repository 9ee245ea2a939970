"""No stray temporary files: what a writer killed mid-write leaves is removed when its owner next starts.

Every atomic write goes through a hidden ``.<name>.<random>.tmp`` beside its target (lightning_module/files.py).
Here a real writer process is SIGKILLed in the middle of writing a large file, and the next start of the component
that owns the file (the training run's recorder, the ingest cache, the synthetic generator, the grid runner, the
bundler) must remove that leftover and nothing else: not the finished files, not a user's own files, not the
temporary file of a writer that may still be alive.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from conftest import make_photo, make_photo_folder

from lightning_module.data import ingest as ingest_module
from lightning_module.data.ingest import LEFTOVER_QUIET_SECONDS, ingest
from lightning_module.data.sources import PhotoRecord
from lightning_module.files import atomic_write_bytes, remove_stale_temporaries
from lightning_module.grid.runner import run_grid
from lightning_module.grid.spec import parse_grid_spec
from lightning_module.models.networks import build_network
from lightning_module.synthetic import generate_dataset
from lightning_module.training.bundle import CARD_QUIET_SECONDS, bundle_run
from lightning_module.training.run_files import RUN_JSON_QUIET_SECONDS, now_iso, update_run_json
from lightning_module.training.run_recorder import RunRecorder

REPO = Path(__file__).resolve().parents[1]

# Writes a large file slowly through writing_atomically, saying when it has begun, until it is killed.
SLOW_WRITER = """
import sys, time
from lightning_module.files import writing_atomically
with writing_atomically(sys.argv[1]) as handle:
    handle.write(b"x" * (1 << 20))
    handle.flush()
    print("writing", flush=True)
    while True:
        handle.write(b"x" * (1 << 20))
        handle.flush()
        time.sleep(0.05)
"""


def kill_mid_write(target: Path) -> Path:
    """Start an atomic write of ``target`` in another process, SIGKILL it mid-write; returns the leftover it left."""
    before = target.read_bytes() if target.exists() else None
    writer = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(target)], cwd=REPO, stdout=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert writer.stdout is not None and writer.stdout.readline() == b"writing\n"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        writer.stdout.close()
    leftovers = list(target.parent.glob(f".{target.name}.*.tmp"))
    assert len(leftovers) == 1 and leftovers[0].stat().st_size >= 1 << 20  # killed while writing a large file
    assert (target.read_bytes() if target.exists() else None) == before  # the target itself is untouched
    return leftovers[0]


def age(path: Path, seconds: float) -> Path:
    """Make ``path`` look last written ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_a_killed_atomic_write_leaves_only_its_temporary_file_and_the_old_target(tmp_path: Path) -> None:
    target = tmp_path / "big.bin"
    atomic_write_bytes(target, b"old")
    leftover = kill_mid_write(target)
    assert leftover.name.startswith(".big.bin.") and target.read_bytes() == b"old"
    assert remove_stale_temporaries(tmp_path, "big.bin") == [leftover]
    assert files_under(tmp_path) == {"big.bin"}


def test_removal_of_a_shared_files_leftovers_spares_recent_ones(tmp_path: Path) -> None:
    old = age(kill_mid_write(tmp_path / "entry.npy"), 3600)
    recent = tmp_path / ".entry.npy.livewriter.tmp"  # another process may be writing this one right now
    recent.write_bytes(b"partial")
    assert remove_stale_temporaries(tmp_path, older_than=600) == [old]
    assert recent.exists()


def test_a_fit_starting_in_a_run_directory_clears_a_killed_runs_leftovers_and_nothing_else(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "demo" / "version_0"
    (run / "checkpoints").mkdir(parents=True)
    (run / "confusion").mkdir()
    update_run_json(run, status="stopped", pid=None)
    atomic_write_bytes(run / "checkpoints" / "last.ckpt", b"the last good checkpoint")
    atomic_write_bytes(run / "confusion" / "epoch_0.json", b"{}")
    killed_checkpoint = kill_mid_write(run / "checkpoints" / "last.ckpt")
    killed_confusion = kill_mid_write(run / "confusion" / "epoch_1.json")
    old_run_json = age(kill_mid_write(run / "run.json"), RUN_JSON_QUIET_SECONDS + 60)
    recent_run_json = run / ".run.json.launcher.tmp"  # the launcher may be writing the pid in right now
    recent_run_json.write_text("{")
    (run / "notes.txt").write_text("mine")
    (run / ".notes.txt.abcd.tmp").write_text("not written by training")
    kept = files_under(run) - {p.relative_to(run).as_posix() for p in (killed_checkpoint, killed_confusion, old_run_json)}

    trainer = SimpleNamespace(log_dir=str(run), is_global_zero=True, datamodule=None)
    RunRecorder().setup(trainer, None, "fit")  # what Lightning calls when the fit starts

    assert files_under(run) == kept
    assert (run / "checkpoints" / "last.ckpt").read_bytes() == b"the last good checkpoint"


def test_validating_a_run_does_not_touch_its_directory(tmp_path: Path) -> None:
    run = tmp_path / "version_0"
    run.mkdir()
    leftover = kill_mid_write(run / "data_report.json")
    RunRecorder().setup(SimpleNamespace(log_dir=str(run), is_global_zero=True, datamodule=None), None, "validate")
    assert leftover.exists()  # only a fit makes this process the run directory's writer


def test_ingest_clears_old_leftovers_in_its_cache_and_nothing_else(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    photo = make_photo(tmp_path / "photos" / "tree.jpg", 0, seed=1)
    records = [PhotoRecord(photo, "Improbable", "tree")]
    first = ingest(records, 16, cache_dir=cache)
    entry = next(cache.rglob("*.npy"))
    killed = age(kill_mid_write(entry.parent / "ffff-16-grayscale-v1.npy"), LEFTOVER_QUIET_SECONDS + 60)
    recent = entry.parent / ".eeee-16-grayscale-v1.npy.otherprocess.tmp"  # a live writer in another process
    recent.write_bytes(b"partial")
    (cache / "README").write_text("a user's note")
    kept = files_under(cache) - {killed.relative_to(cache).as_posix()}

    monkeypatch.setattr(ingest_module, "_swept", set())  # the sweep is once per process: this is a later process
    again = ingest(records, 16, cache_dir=cache)
    assert files_under(cache) == kept
    assert again.cache_hits == 1 and np.array_equal(again.images, first.images)


def test_generating_into_a_folder_clears_a_killed_generators_partial_folder(tmp_path: Path) -> None:
    target = tmp_path / "synthetic"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    partial = tmp_path / ".synthetic.partial-dead"
    (partial / "Probable").mkdir(parents=True)
    (partial / ".synth_in_progress").write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename,
                                                             "target": "synthetic"}))
    kill_mid_write(partial / "manifest.csv")
    live = tmp_path / ".synthetic.partial-live"  # a generator still running (this process)
    live.mkdir()
    (live / ".synth_in_progress").write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename,
                                                         "target": "synthetic"}))
    generate_dataset(target, n=3, width=64, height=48)
    assert not partial.exists() and live.exists()


def _finished_fold(arguments: list[str], attempt_dir: Path) -> None:
    """Stands in for training a fold: the run.json a finished fold leaves."""
    last = {"epoch": 0, "val/bal_acc": 0.5, "val/acc": 0.6, "val/macro_f1": 0.4, "val/macro_precision": 0.45,
            "val/macro_recall": 0.5, "val/loss": 1.0}
    update_run_json(attempt_dir, status="running", classes=["Improbable", "Probable"], current_epoch=0, last=last,
                    best=last, majority_baseline={"class": "Improbable", "acc": 0.6, "bal_acc": 0.5, "macro_f1": 0.3},
                    collapsed=False, timings={"started": now_iso(), "ended": now_iso(), "epoch_seconds": [0.1]})
    update_run_json(attempt_dir, status="finished")


def test_a_grid_starting_clears_a_killed_grids_leftovers_and_nothing_else(tmp_path: Path) -> None:
    photos = make_photo_folder(tmp_path / "photos")
    output = tmp_path / "grid"
    output.mkdir()
    killed_progress = kill_mid_write(output / "progress.json")
    killed_table = kill_mid_write(output / "results.csv")
    launch = output / ".launch.json.dashboard.tmp"  # the dashboard's file, not the runner's
    launch.write_text("{")
    spec = parse_grid_spec(yaml.safe_load(yaml.safe_dump({
        "name": "leftovers", "output": str(output), "folds": 2,
        "grid": {"scenarios": ["Pr_Im"], "image_sizes": [32]},
        "training": {"epochs": 1, "batch_size": 16, "threads": 1},
        "data": {"source": str(photos), "cache_dir": str(tmp_path / "cache")},
    })))
    run_grid(spec, fit=_finished_fold, estimate=False, log=lambda line: None)
    assert not killed_progress.exists() and not killed_table.exists()
    assert launch.exists()
    assert not [p for p in output.glob(".*.tmp") if p != launch]


def test_bundling_clears_a_killed_bundlings_leftovers_and_nothing_else(tmp_path: Path) -> None:
    run = tmp_path / "run" / "version_0"
    (run / "checkpoints").mkdir(parents=True)
    torch.manual_seed(0)
    network = build_network("seed_cnn", 2, "grayscale", 32)
    torch.save({"state_dict": {f"network.{k}": v for k, v in network.state_dict().items()},
                "hyper_parameters": {"class_names": ["Improbable", "Probable"], "backbone": "seed_cnn",
                                     "image_size": 32, "color_mode": "grayscale", "scenario": "Pr_Im"}},
               run / "checkpoints" / "best.ckpt")
    (run / "run.json").write_text(json.dumps({"status": "finished"}))
    out = tmp_path / "bundle" / "model.ckpt"
    out.parent.mkdir()
    killed_bundle = kill_mid_write(out)
    killed_card = age(kill_mid_write(out.with_suffix(".json")), CARD_QUIET_SECONDS + 60)
    recent_card = out.parent / ".model.json.measuring.tmp"  # a measuring command may be writing the card now
    recent_card.write_text("{")
    (out.parent / "other.ckpt").write_bytes(b"another model")

    bundle_run(run, out)
    assert files_under(out.parent) == {"model.ckpt", "model.json", "other.ckpt", recent_card.name}
    assert not killed_bundle.exists() and not killed_card.exists()


@pytest.mark.parametrize("name", ["epoch=3-step=40.ckpt", "odd[1].ckpt"])
def test_file_names_are_taken_literally(tmp_path: Path, name: str) -> None:
    leftover = tmp_path / f".{name}.abcdefgh.tmp"
    leftover.write_bytes(b"")
    decoy = tmp_path / ".odd1.ckpt.abcdefgh.tmp"  # what "odd[1]" would match as a pattern
    decoy.write_bytes(b"")
    assert remove_stale_temporaries(tmp_path, name) == [leftover]
    assert decoy.exists()
