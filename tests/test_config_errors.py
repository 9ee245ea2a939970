"""A wrong setting on the command line or in a config file is refused with one line that names the setting.

Most cases run the CLI in this process (``lightning_module.__main__.main``, exactly what ``python -m
lightning_module`` runs) because each interpreter start costs seconds; two cases run the real command in a
subprocess to pin down what a user sees in a terminal: one ``error:`` line, exit status 2, no traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lightning_module.__main__ import configuration_error
from lightning_module.__main__ import main as cli

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore:LightningCLI's args parameter"),
]


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """(exit status, stderr) of ``python -m lightning_module <args>``, run in this process."""
    try:
        status = cli(args)
    except SystemExit as exit_:  # jsonargparse exits for options it cannot parse
        status = exit_.code if isinstance(exit_.code, int) else 1
    return status, capsys.readouterr().err


def _fit(runs: Path, *args: str) -> list[str]:
    """A one-epoch ``fit`` into ``runs``; ``args`` come last, so they win."""
    return ["fit", "--trainer.max_epochs=1", "--trainer.enable_progress_bar=false",
            f"--trainer.logger.init_args.save_dir={runs}", "--trainer.logger.init_args.name=cfg", *args]


def _last_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


CASES = [
    # (id, arguments, the setting that must be named, a phrase of the reason)
    ("unknown key", ["--data.imag_size=64"], "data.imag_size", "unrecognized"),
    ("unknown top-level key", ["--bogus=1"], "bogus", "unrecognized"),
    ("wrong type", ["--data.batch_size=abc"], "data.batch_size", "int"),
    ("wrong type float", ["--model.lr=fast"], "model.lr", "float"),
    ("bad colour mode", ["--data.color_mode=sepia"], "data.color_mode", "sepia"),
    ("negative image size", ["--data.image_size=-5"], "data.image_size", "-5"),
    ("zero image size", ["--data.image_size=0"], "data.image_size", "got 0"),
    ("huge image size", ["--data.image_size=100000"], "data.image_size", "1024"),
    ("negative batch size", ["--data.batch_size=-1"], "data.batch_size", "at least 1"),
    ("zero batch size", ["--data.batch_size=0"], "data.batch_size", "at least 1"),
    ("negative learning rate", ["--model.lr=-1"], "model.lr", "positive"),
    ("negative epochs", ["--trainer.max_epochs=-3"], "max_epochs", "-3"),
    ("bad scenario", ["--data.scenario=Pr_Xx"], "data.scenario", "Pr_Xx"),
    ("bad backbone", ["--model.backbone=vgg99"], "model.backbone", "vgg99"),
    ("bad balance", ["--data.balance=magic"], "data.balance", "magic"),
    ("fold out of range", ["--data.fold=7", "--data.n_folds=5"], "data.fold", "7"),
    ("run name escaping the runs folder", ["--trainer.logger.init_args.name=../outside"], "name", "not allowed"),
]


@pytest.mark.parametrize(("args", "setting", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_setting_is_refused_naming_it(args: list[str], setting: str, reason: str, photo_folder: Path,
                                          tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, stderr = _run_cli(_fit(tmp_path / "runs", f"--data.source={photo_folder}", *args), capsys)
    assert status == 2, stderr
    assert "Traceback" not in stderr
    message = stderr[stderr.rfind("error:"):]
    assert setting in message and reason in message, message
    assert not list((tmp_path / "runs").glob("*/version_*")), "a refused start leaves no run directory behind"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("missing-folder", "Data folder not found"),
        ("missing.csv", "Manifest not found"),
        ("a-file.txt", "Not a folder"),
    ],
)
def test_missing_data_is_refused_naming_the_path(source: str, reason: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a-file.txt").write_text("not data")
    path = tmp_path / source
    status, stderr = _run_cli(_fit(tmp_path / "runs", f"--data.source={path}"), capsys)
    assert status == 2
    assert _last_line(stderr).startswith(f"error: {reason}") and str(path) in _last_line(stderr), stderr
    assert "Traceback" not in stderr


def test_config_file_with_unknown_key_and_wrong_type(tmp_path: Path, photo_folder: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(f"data:\n  source: {photo_folder}\n  imag_size: 64\n")
    status, stderr = _run_cli(_fit(tmp_path / "runs", f"--config={unknown}"), capsys)
    assert status == 2 and "data.imag_size" in _last_line(stderr)

    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(f"data:\n  source: {photo_folder}\n  image_size: big\n")
    status, stderr = _run_cli(_fit(tmp_path / "runs", f"--config={wrong}"), capsys)
    assert status == 2 and 'data.image_size' in stderr and "big" in stderr

    status, stderr = _run_cli(_fit(tmp_path / "runs", f"--config={tmp_path / 'missing.yaml'}"), capsys)
    assert status == 2 and "missing.yaml" in _last_line(stderr) and "does not exist" in _last_line(stderr)


def test_missing_checkpoint_to_resume_is_named(tmp_path: Path, photo_folder: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.ckpt"
    status, stderr = _run_cli(_fit(tmp_path / "runs", f"--data.source={photo_folder}", "--data.image_size=32",
                                   f"--ckpt_path={missing}"), capsys)
    assert status == 2
    assert _last_line(stderr) == f"error: ckpt_path: Checkpoint file not found: {missing}"


def test_a_bug_still_shows_its_traceback() -> None:
    """Only the user's mistakes are shortened: an error that names no setting is not hidden."""
    assert configuration_error(ValueError("cannot reshape array of size 3")) is None
    assert configuration_error(KeyError("data.image_size")) is None
    wrapped = ValueError("Does not validate against any of the Union subtypes")
    wrapped.__cause__ = ValueError("data.image_size must be between 8 and 1024 pixels, got 3")
    assert configuration_error(wrapped) == "data.image_size must be between 8 and 1024 pixels, got 3"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--data.image_size=-5"], "error: data.image_size must be between 8 and 1024 pixels, got -5"),
        pytest.param(["--data.imag_size=64"], "error: unrecognized arguments: --data.imag_size=64",
                     marks=pytest.mark.slow),
    ],
    ids=["checked by TreeRisk", "checked by the parser"],
)
def test_terminal_shows_one_error_line_and_exit_status_2(args: list[str], expected: str, tmp_path: Path,
                                                         photo_folder: Path) -> None:
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    done = subprocess.run(
        [sys.executable, "-m", "lightning_module", *_fit(tmp_path / "runs", f"--data.source={photo_folder}", *args)],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert _last_line(done.stderr) == expected
    assert "Traceback" not in done.stderr
