"""The experiment grid: a real tiny grid end to end, its statistics checked by hand, resuming, failures, the page.

Two kinds of grid are used. A *real* one (2 scenarios × 2 sizes × 2 folds, 1 epoch, 32-36 px photos) trains
through the ordinary ``fit`` and checks the plumbing and the table against each fold's own run.json. A *scripted*
one replaces training with a function that writes chosen scores, so the t-tests and intervals can be compared
with numbers worked out by hand (one epoch of training gives collapsed models with no spread to test).
"""

from __future__ import annotations

import csv
import json
import math
import socket
import statistics
import subprocess
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import make_photo_folder

from lightning_module.files import exclusive_lock
from lightning_module.grid import results, runner
from lightning_module.grid.cli import main as grid_cli
from lightning_module.grid.data_check import GridDataError
from lightning_module.grid.runner import LOCK_FILE, GridBusy, run_grid
from lightning_module.grid.spec import GridSpecError, parse_grid_spec
from lightning_module.grid.stats import holm, summarize, welch_test
from lightning_module.training.run_files import now_iso, update_run_json

# Two-sided 95 % critical values of Student's t, from a printed table.
T_975 = {1: 12.7062, 2: 4.3027, 4: 2.7764}
GROUP_REGEX = r"^(tree\d+_[A-Za-z]+)_crop"


def t_density(x: float, df: float) -> float:
    return math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2)) * (1 + x * x / df) ** (-(df + 1) / 2)


def two_sided_p(t: float, df: float, steps: int = 20_000) -> float:
    """P(|T| >= |t|) by Simpson's rule on the density: independent of scipy."""
    a, b = 0.0, abs(t)
    h = (b - a) / steps
    total = t_density(a, df) + t_density(b, df)
    total += sum((4 if k % 2 else 2) * t_density(a + k * h, df) for k in range(1, steps))
    return 2 * (0.5 - total * h / 3)


def grid_config(source: Path, output: Path, **overrides) -> dict:
    config = {
        "name": "tiny",
        "output": str(output),
        "folds": 2,
        "grid": {"scenarios": ["Pr_Im", "Pr_Po_Im"], "image_sizes": [32, 36]},
        "training": {"epochs": 1, "batch_size": 16, "threads": 1},
        "data": {"source": str(source), "group_regex": GROUP_REGEX, "cache_dir": str(output.parent / "cache")},
    }
    for key, value in overrides.items():
        section, _, name = key.rpartition(".")
        (config[section] if section else config)[name] = value
    return config


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """34 photos, two crops per tree: a fold that splits a tree's crops would be the lab's leak."""
    return make_photo_folder(tmp_path_factory.mktemp("grid_photos"), photos_per_group=2)


# ---------------------------------------------------------------------------------------------- the real grid
@pytest.fixture(scope="module")
def real_grid(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    root = tmp_path_factory.mktemp("grids")
    spec = parse_grid_spec(grid_config(photos, root / "tiny"))
    lines: list[str] = []
    outcome = run_grid(spec, log=lines.append)
    return spec, outcome, lines


def fold_record(output: Path, cell_id: str, fold: int) -> dict:
    return json.loads((output / "runs" / cell_id / f"fold_{fold}" / "version_0" / "run.json").read_text())


def test_tiny_grid_table_has_one_row_per_cell_and_hand_checked_statistics(real_grid: tuple) -> None:
    spec, outcome, _ = real_grid
    output = Path(spec.output)
    assert outcome.status == "finished" and outcome.ran == 8 and not outcome.failed
    table = pd.read_csv(output / "results.csv")
    assert list(table["cell"]) == [
        "Pr_Im-32px-grayscale-seed_cnn-scratch", "Pr_Im-36px-grayscale-seed_cnn-scratch",
        "Pr_Po_Im-32px-grayscale-seed_cnn-scratch", "Pr_Po_Im-36px-grayscale-seed_cnn-scratch",
    ]  # fmt: skip
    assert (table["folds_done"] == 2).all() and (table["folds_planned"] == 2).all()
    assert list(table["classes"]) == [2, 2, 3, 3]
    for _, row in table.iterrows():
        records = [fold_record(output, row["cell"], k) for k in range(2)]
        assert all(r["status"] == "finished" and r["max_epochs"] == 1 for r in records)
        for metric in ("acc", "bal_acc", "macro_precision", "macro_recall", "macro_f1"):
            a, b = (r["last"][f"val/{metric}"] for r in records)
            mean, sd = (a + b) / 2, abs(a - b) / math.sqrt(2)  # the sample SD of two values
            half = T_975[1] * sd / math.sqrt(2)
            assert row[f"{metric}_mean"] == pytest.approx(mean, abs=1e-5), metric
            assert row[f"{metric}_sd"] == pytest.approx(sd, abs=1e-5), metric
            assert row[f"{metric}_ci_low"] == pytest.approx(mean - half, abs=1e-3), metric
            assert row[f"{metric}_ci_high"] == pytest.approx(mean + half, abs=1e-3), metric
        assert row["baseline_bal_acc"] == pytest.approx(1 / row["classes"], abs=1e-6)
        assert row["baseline_acc_mean"] == pytest.approx(statistics.mean(r["majority_baseline"]["acc"] for r in records), abs=1e-6)
        assert row["collapsed_folds"] == sum(bool(r["collapsed"]) for r in records)
        low = row["bal_acc_ci_low"]
        assert bool(row["no_better_than_baseline"]) == (low <= row["baseline_bal_acc"] + 1e-9)


def test_tiny_grid_markdown_tests_and_best_cells(real_grid: tuple) -> None:
    spec, outcome, _ = real_grid
    output = Path(spec.output)
    report = (output / "results.md").read_text()
    assert report.count("| Pr_Im | 32 px |") == 1 and report.count("| Pr_Po_Im | 36 px |") == 1
    assert "### Between scenarios" in report and "### Between image sizes" in report
    tests = pd.read_csv(output / "comparisons.csv")
    # Resolution: one pair per scenario; scenario: one pair per resolution.
    assert sorted(tests["axis"]) == ["image_size", "image_size", "scenario", "scenario"]
    best = outcome.tables.best
    assert list(best["scenario"]) == ["Pr_Im", "Pr_Po_Im"]
    for _, row in best.iterrows():
        same = outcome.tables.cells[outcome.tables.cells["scenario"] == row["scenario"]]
        assert row["bal_acc_mean"] == same["bal_acc_mean"].max()
    folds = pd.read_csv(output / "folds.csv")
    assert len(folds) == 8 and set(folds["status"]) == {"finished"}


def test_tiny_grid_never_splits_a_tree_across_folds(real_grid: tuple, photos: Path) -> None:
    spec, _, _ = real_grid
    cell = "Pr_Po_Im-32px-grayscale-seed_cnn-scratch"
    seen: dict[str, int] = {}
    for fold in range(2):
        predictions = Path(spec.output) / "runs" / cell / f"fold_{fold}" / "version_0" / "predictions" / "val_epoch_0.csv"
        for row in csv.DictReader(predictions.open()):
            tree = Path(row["path"]).name.rsplit("_crop", 1)[0]
            assert seen.setdefault(tree, fold) == fold, f"{tree} is validated in two folds"
    assert len(seen) == 17, "every tree is validated in exactly one fold"


def test_grid_resumes_without_rerunning_finished_folds(real_grid: tuple) -> None:
    spec, _, _ = real_grid
    before = (Path(spec.output) / "results.csv").read_text()
    calls: list[list[str]] = []
    outcome = run_grid(spec, fit=lambda arguments, attempt_dir: calls.append(arguments), estimate=False)
    assert calls == [] and outcome.ran == 0 and outcome.skipped == 8 and outcome.status == "finished"
    assert (Path(spec.output) / "results.csv").read_text() == before
    assert not list(Path(spec.output).glob("runs/*/fold_*/version_1")), "no new attempt was made"


def test_progress_and_time_left_are_reported(real_grid: tuple) -> None:
    spec, _, lines = real_grid
    assert lines[0].startswith("Grid 'tiny': 4 cells × 2 folds = 8 folds; 0 already finished, 8 to run")
    assert lines[1].startswith("Estimated time:")
    folds = [line for line in lines if line.startswith("[")]
    assert len(folds) == 8 and folds[0].startswith("[1/8] Pr_Im, 32 px") and "left" in folds[0]
    assert folds[-1].startswith("[8/8]") and "left" not in folds[-1]
    progress = results.read_progress(spec.output)
    assert (progress.status, progress.done, progress.total) == ("finished", 8, 8)


def test_page_shows_the_real_grid(real_grid: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    spec, _, _ = real_grid
    monkeypatch.setenv(results.GRIDS_DIR_ENV, str(Path(spec.output).parent))
    app = AppTest.from_file(str(Path(__file__).parents[1] / "dashboard" / "views" / "grid.py"), default_timeout=60)
    app.run()
    assert not app.exception
    table = app.dataframe[0].value
    assert len(table) == 4 and list(table["Scenario"]) == ["Pr_Im", "Pr_Im", "Pr_Po_Im", "Pr_Po_Im"]
    assert app.selectbox(key="grid_cell").options[0] == "Pr_Im-32px-grayscale-seed_cnn-scratch"
    curves = json.loads(app.get("plotly_chart")[-1].proto.spec)
    assert {t["name"] for t in curves["data"]} >= {"fold 0", "fold 1", "mean of folds"}


# ---------------------------------------------------------------------------------------------- statistics by hand
def test_summary_matches_hand_computation() -> None:
    two = summarize([0.6, 0.8])
    assert (two.n, two.mean, two.sd) == (2, pytest.approx(0.7), pytest.approx(0.1414214, abs=1e-6))
    assert (two.ci_low, two.ci_high) == (pytest.approx(0.7 - 1.27062, abs=1e-4), pytest.approx(0.7 + 1.27062, abs=1e-4))
    five = summarize([0.50, 0.55, 0.60, 0.65, 0.70])
    # sd = sqrt(0.025 / 4) = 0.0790569; half width = 2.7764 * 0.0790569 / sqrt(5) = 0.098163
    assert five.sd == pytest.approx(0.0790569, abs=1e-6)
    assert (five.ci_low, five.ci_high) == (pytest.approx(0.501837, abs=1e-4), pytest.approx(0.698163, abs=1e-4))
    one = summarize([0.4, float("nan")])
    assert one.n == 1 and one.mean == 0.4 and math.isnan(one.sd) and math.isnan(one.ci_low)
    assert summarize([]).n == 0


def test_welch_matches_hand_computation() -> None:
    # a: mean 0.7, var 0.02; b: mean 0.5, var 0.01. se^2 = 0.02/2 + 0.01/3 = 1/75, t = 0.2 * sqrt(75) = sqrt(3);
    # df = (1/75)^2 / ((0.01)^2 / 1 + (1/300)^2 / 2) = 32/19.
    result = welch_test([0.6, 0.8], [0.4, 0.5, 0.6])
    assert result.t == pytest.approx(math.sqrt(3), abs=1e-9)
    assert result.df == pytest.approx(32 / 19, abs=1e-9)
    assert result.difference == pytest.approx(0.2)
    assert result.p == pytest.approx(two_sided_p(math.sqrt(3), 32 / 19), abs=1e-6)
    assert 0.2 < result.p < 0.3
    assert math.isnan(welch_test([0.5, 0.5], [0.5, 0.5]).p), "no spread: nothing to test"
    assert math.isnan(welch_test([0.5], [0.4, 0.6]).t), "one value has no variance"


@pytest.mark.filterwarnings("error")  # scipy's "catastrophic cancellation" warning must never reach the user
def test_identical_fold_scores_have_no_spread_and_raise_no_warning() -> None:
    same = [0.7, 0.7, 0.7]  # 0.7 is not exact in binary: their mean differs from 0.7 by rounding noise
    summary = summarize(same)
    assert summary.n == 3 and summary.mean == pytest.approx(0.7) and summary.sd == 0.0
    assert summary.ci_low == summary.ci_high == summary.mean, "no spread: an interval of zero width"
    both = welch_test(same, [0.5, 0.5, 0.5])
    assert math.isnan(both.t) and math.isnan(both.df) and math.isnan(both.p), "no spread in either: nothing to test"
    assert both.difference == pytest.approx(0.2)
    # One fixed cell: Welch's test is the one-sample t-test of the other against it. b = [.5,.6,.55]: mean .55,
    # sd .05; t = 0.15 / (0.05 / sqrt(3)) = 3 * sqrt(3), df = 3 - 1.
    one = welch_test(same, [0.5, 0.6, 0.55])
    assert one.t == pytest.approx(3 * math.sqrt(3), abs=1e-9) and one.df == pytest.approx(2)
    assert one.p == pytest.approx(two_sided_p(3 * math.sqrt(3), 2), abs=1e-6)
    assert welch_test([0.5, 0.6, 0.55], same).t == pytest.approx(-3 * math.sqrt(3), abs=1e-9)


def test_holm_adjustment_by_hand() -> None:
    # sorted 0.01, 0.03, 0.04 -> 3 * 0.01 = 0.03, 2 * 0.03 = 0.06, max(0.06, 1 * 0.04) = 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    adjusted = holm([0.2, float("nan"), 0.9])
    assert adjusted[0] == pytest.approx(0.4) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.9)


# ---------------------------------------------------------------------------------------------- scripted grids
# bal_acc per fold, chosen so that each cell's verdict and each t-test can be worked out by hand.
SCRIPT = {
    ("Pr_Im", 32): [0.60, 0.70, 0.80],  # mean 0.70, sd 0.10: CI low 0.70 - 4.3027 * 0.1 / sqrt(3) = 0.4516 <= 0.5
    ("Pr_Im", 36): [0.80, 0.85, 0.90],  # mean 0.85, sd 0.05: CI low 0.7258 > 0.5
    ("Pr_Po_Im", 32): [0.30, 0.35, 0.40],  # below chance (1/3) on average
    ("Pr_Po_Im", 36): [0.50, 0.60, 0.55],  # mean 0.55, CI low 0.4258 > 1/3
}


def scripted_fit(arguments: list[str], attempt_dir: Path) -> None:
    """Stands in for training: writes the run.json and metrics.csv a finished fold would, with SCRIPT's score."""
    options = dict(zip(arguments[::2], arguments[1::2]))
    scenario, size, fold = options["--data.scenario"], int(options["--data.image_size"]), int(options["--data.fold"])
    score = SCRIPT[(scenario, size)][fold]
    classes = ["Improbable", "Probable"] if scenario == "Pr_Im" else ["Improbable", "Possible", "Probable"]
    last = {"epoch": 1, "val/bal_acc": score, "val/acc": score + 0.1, "val/macro_f1": score - 0.1,
            "val/macro_precision": score - 0.05, "val/macro_recall": score, "val/loss": 1.0}  # fmt: skip
    update_run_json(attempt_dir, status="running", classes=classes, current_epoch=1, last=last, best=last,
                    majority_baseline={"class": "Improbable", "acc": 0.6, "bal_acc": 1 / len(classes), "macro_f1": 0.3},
                    collapsed=fold == 0, timings={"started": now_iso(), "ended": now_iso(), "epoch_seconds": [0.1, 0.1]})  # fmt: skip
    rows = [{"epoch": e, "step": e, "val/bal_acc": score * (e + 1) / 2, "val/acc": score} for e in range(2)]
    pd.DataFrame(rows).to_csv(attempt_dir / "metrics.csv", index=False)
    update_run_json(attempt_dir, status="finished")


def scripted_spec(photos: Path, output: Path, **overrides):
    return parse_grid_spec(grid_config(photos, output, folds=3, **overrides))


def test_scripted_grid_statistics_verdicts_and_tests_by_hand(photos: Path, tmp_path: Path) -> None:
    spec = scripted_spec(photos, tmp_path / "scripted")
    outcome = run_grid(spec, fit=scripted_fit, estimate=False, log=lambda line: None)
    cells = outcome.tables.cells.set_index("cell")
    pr_im_32 = cells.loc["Pr_Im-32px-grayscale-seed_cnn-scratch"]
    assert pr_im_32["bal_acc_mean"] == pytest.approx(0.70) and pr_im_32["bal_acc_sd"] == pytest.approx(0.10)
    assert pr_im_32["bal_acc_ci_low"] == pytest.approx(0.70 - T_975[2] * 0.1 / math.sqrt(3), abs=1e-4)
    assert pr_im_32["acc_mean"] == pytest.approx(0.80) and pr_im_32["collapsed_folds"] == 1
    verdicts = {cell: bool(v) for cell, v in cells["no_better_than_baseline"].items()}
    assert verdicts == {
        "Pr_Im-32px-grayscale-seed_cnn-scratch": True,  # a mean of 0.70 is not enough with this spread
        "Pr_Im-36px-grayscale-seed_cnn-scratch": False,
        "Pr_Po_Im-32px-grayscale-seed_cnn-scratch": True,
        "Pr_Po_Im-36px-grayscale-seed_cnn-scratch": False,
    }
    tests = outcome.tables.tests
    resolution = tests[(tests["axis"] == "image_size") & (tests["held_fixed"] == "Pr_Im")].iloc[0]
    # a = [.6,.7,.8], b = [.8,.85,.9]: se^2 = .01/3 + .0025/3 = 1/240; t = -0.15 * sqrt(240); df = 50/17
    assert resolution["t"] == pytest.approx(-0.15 * math.sqrt(240), abs=1e-9)
    assert resolution["df"] == pytest.approx(50 / 17, abs=1e-9)
    assert resolution["p"] == pytest.approx(two_sided_p(0.15 * math.sqrt(240), 50 / 17), abs=1e-6)
    family = tests[tests["axis"] == "image_size"]
    assert list(family["p_holm"]) == pytest.approx(holm(list(family["p"])))
    best = outcome.tables.best.set_index("scenario")["cell"].to_dict()
    assert best == {"Pr_Im": "Pr_Im-36px-grayscale-seed_cnn-scratch", "Pr_Po_Im": "Pr_Po_Im-36px-grayscale-seed_cnn-scratch"}
    report = (Path(spec.output) / "results.md").read_text()
    assert "| Pr_Im | 32 px | 3/3 | 0.700 ± 0.100 | [0.452, 0.948] |" in report
    assert report.count("**no better than baseline**") == 2


def test_a_failed_fold_is_recorded_the_grid_goes_on_and_the_next_run_retries_it(photos: Path, tmp_path: Path) -> None:
    spec = scripted_spec(photos, tmp_path / "failing")

    def failing_fit(arguments: list[str], attempt_dir: Path) -> None:
        options = dict(zip(arguments[::2], arguments[1::2]))
        if options["--data.scenario"] == "Pr_Im" and options["--data.image_size"] == "36" and options["--data.fold"] == "1":
            raise RuntimeError("out of memory")
        scripted_fit(arguments, attempt_dir)

    first = run_grid(spec, fit=failing_fit, estimate=False, log=lambda line: None)
    assert first.status == "incomplete" and first.ran == 12
    assert first.failed == ["Pr_Im-36px-grayscale-seed_cnn-scratch fold 1: RuntimeError: out of memory"]
    row = first.tables.cells.set_index("cell").loc["Pr_Im-36px-grayscale-seed_cnn-scratch"]
    assert (row["folds_done"], row["folds_failed"]) == (2, 1)
    failed_dir = Path(spec.output) / "runs" / "Pr_Im-36px-grayscale-seed_cnn-scratch" / "fold_1" / "version_0"
    assert json.loads((failed_dir / "run.json").read_text())["error"] == "RuntimeError: out of memory"

    retried: list[str] = []
    second = run_grid(spec, fit=lambda a, d: (retried.append(str(d)), scripted_fit(a, d)), estimate=False, log=lambda line: None)
    assert retried == [str(failed_dir.parent / "version_1")], "only the failed fold runs again, in a new attempt"
    assert second.status == "finished" and second.skipped == 11
    assert json.loads((failed_dir / "run.json").read_text())["status"] == "failed", "the failed attempt is kept"
    assert second.tables.cells.set_index("cell").loc["Pr_Im-36px-grayscale-seed_cnn-scratch", "folds_done"] == 3


@pytest.mark.parametrize(
    "trainer, adopted",
    [("live process here", True), ("cluster node, fresh heartbeat", True),
     ("cluster node, heartbeat an hour old", False), ("dead process here", False)],
)
def test_a_fold_an_earlier_grid_left_training_is_waited_for_not_trained_twice(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trainer: str, adopted: bool
) -> None:
    """A grid died (its driver killed, a node rebooted) while one of its folds went on training; the grid is run
    again. That fold must not train a second time beside the first while its process lives: the grid waits for it
    and counts its result. A fold whose process is gone is trained again, as any crashed fold."""
    monkeypatch.setattr(runner, "ADOPTED_POLL_SECONDS", 0.05)
    spec = scripted_spec(photos, tmp_path / "adopt", **{"grid.scenarios": ["Pr_Im"], "grid.image_sizes": [32]})
    target = ("--data.fold", "2")

    def all_but_one(arguments: list[str], attempt_dir: Path) -> None:
        if tuple(arguments[arguments.index("--data.fold"):][:2]) == target:
            raise RuntimeError("node lost")
        scripted_fit(arguments, attempt_dir)

    run_grid(spec, fit=all_but_one, estimate=False, log=lambda line: None)
    fold_dir = Path(spec.output) / "runs" / "Pr_Im-32px-grayscale-seed_cnn-scratch" / "fold_2"
    attempt = fold_dir / "version_1"  # what the earlier grid's second try left behind, still training
    attempt.mkdir()
    sleeper = subprocess.Popen(["sleep", "60"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    now = datetime.now(timezone.utc)
    where = {
        "live process here": {"pid": sleeper.pid, "host": socket.gethostname()},
        "cluster node, fresh heartbeat": {"pid": 4242, "host": "gpu-node-17", "heartbeat": now.isoformat()},
        "cluster node, heartbeat an hour old": {"pid": 4242, "host": "gpu-node-17",
                                                "heartbeat": (now - timedelta(hours=1)).isoformat()},
        "dead process here": {"pid": dead.pid, "host": socket.gethostname()},
    }[trainer]
    update_run_json(attempt, status="running", name="fold_2", **where)
    arguments = ["--data.scenario", "Pr_Im", "--data.image_size", "32", *target]
    finisher = threading.Timer(0.5, scripted_fit, (arguments, attempt))  # the other process ends its fold
    finisher.start()
    trained, lines = [], []
    try:
        outcome = run_grid(spec, fit=lambda a, d: (trained.append(Path(d).name), scripted_fit(a, d)),
                           estimate=False, log=lines.append)
    finally:
        finisher.join()
        sleeper.kill()
        sleeper.wait()
    assert outcome.status == "finished"
    assert outcome.tables.cells.set_index("cell").loc["Pr_Im-32px-grayscale-seed_cnn-scratch", "folds_done"] == 3
    if adopted:
        assert trained == [], "the fold was trained a second time beside the process still training it"
        assert any("still training in version_1" in line and "waiting for it" in line for line in lines)
        assert json.loads((attempt / "run.json").read_text())["status"] == "finished"
    else:
        assert trained == ["version_2"], "a fold whose process is gone is trained again, in a new attempt"


def test_a_grid_with_other_training_settings_is_refused_and_nothing_changes(photos: Path, tmp_path: Path) -> None:
    spec = scripted_spec(photos, tmp_path / "kept")
    run_grid(spec, fit=scripted_fit, estimate=False, log=lambda line: None)
    saved = (Path(spec.output) / "grid.yaml").read_text()
    changed = scripted_spec(photos, tmp_path / "kept", **{"training.epochs": 5})
    with pytest.raises(GridSpecError, match=r"epochs: 1 there, 5 here.*--output"):
        run_grid(changed, fit=scripted_fit, estimate=False, log=lambda line: None)
    assert (Path(spec.output) / "grid.yaml").read_text() == saved
    # Adding a size is fine: only the new cells train, the old grid.yaml is kept beside the new one.
    wider = scripted_spec(photos, tmp_path / "kept", **{"grid.image_sizes": [32, 36]}, **{"grid.scenarios": ["Pr_Im"]})
    calls: list[str] = []
    run_grid(wider, fit=lambda a, d: calls.append(a), estimate=False, log=lambda line: None)
    assert calls == [] and (Path(spec.output) / "grid.before-1.yaml").read_text() == saved


def test_a_second_grid_into_the_same_folder_is_refused(photos: Path, tmp_path: Path) -> None:
    spec = scripted_spec(photos, tmp_path / "busy")
    Path(spec.output).mkdir(parents=True)
    with exclusive_lock(Path(spec.output) / LOCK_FILE):  # held as another grid process would hold it
        with pytest.raises(GridBusy, match="already running"):
            run_grid(spec, fit=scripted_fit, estimate=False, log=lambda line: None)


def test_too_many_folds_for_the_data_is_refused_before_training(photos: Path, tmp_path: Path) -> None:
    # One group per class: as if every photo of a class were a crop of one tree.
    spec = parse_grid_spec(grid_config(photos, tmp_path / "many", folds=5, **{"data.group_regex": r"_(\w+?)_crop"}))
    with pytest.raises(GridDataError, match=r"Pr_Im: 5 folds need at least 5 groups \(source photos\); the data has 2"):
        run_grid(spec, fit=scripted_fit, estimate=False, log=lambda line: None)
    assert not (tmp_path / "many" / "runs").exists()


def test_page_marks_cells_no_better_than_baseline(photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    spec = scripted_spec(photos, tmp_path / "grids" / "scripted")
    run_grid(spec, fit=scripted_fit, estimate=False, log=lambda line: None)
    monkeypatch.setenv(results.GRIDS_DIR_ENV, str(tmp_path / "grids"))
    app = AppTest.from_file(str(Path(__file__).parents[1] / "dashboard" / "views" / "grid.py"), default_timeout=60)
    app.run()
    assert not app.exception
    table = app.dataframe[0].value
    assert list(table["Verdict"]) == ["✗ no better than baseline", "✓ beats baseline"] * 2
    heatmap = json.loads(app.get("plotly_chart")[0].proto.spec)["data"][0]
    assert heatmap["y"] == ["Pr_Im", "Pr_Po_Im"] and heatmap["x"] == ["32 px", "36 px"]
    assert "no better than baseline" in heatmap["text"][0][0] and "no better" not in heatmap["text"][0][1]
    assert "baseline 0.500" in heatmap["text"][0][1] and "baseline 0.333" in heatmap["text"][1][0]


# ---------------------------------------------------------------------------------------------- the grid file
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"grid.image_size": [64]}, r"unknown key 'grid.image_size' \(did you mean 'grid.image_sizes'\?"),
        ({"grid.scenarios": ["Pr_Im", "Pr_Po_lm"]}, r"grid.scenarios\[1\]: unknown value 'Pr_Po_lm' \(did you mean 'Pr_Po_Im'\?"),
        ({"grid.image_sizes": [64, 16]}, r"grid.image_sizes\[1\]: must be between 32 and 1024 px, got 16"),
        ({"grid.image_sizes": [64, 64]}, r"grid.image_sizes: lists 64 twice"),
        ({"folds": 1}, r"folds: must be between 2 and 50, got 1"),
        ({"training.lr": "fast"}, r"training.lr: must be a number, got 'fast'"),
        ({"training.epochs": 0}, r"training.epochs: must be between 1 and 10000, got 0"),
        ({"data.source": "/nowhere/photos"}, r"data.source: /nowhere/photos does not exist"),
        ({"data.group_regex": "tree("}, r"data.group_regex: is not a valid regular expression"),
        ({"epochs": 3}, r"unknown key 'epochs' \(it belongs elsewhere: 'training.epochs'"),
    ],
)
def test_grid_file_mistakes_name_the_key(photos: Path, tmp_path: Path, change: dict, message: str) -> None:
    config = grid_config(photos, tmp_path / "out")
    for key, value in change.items():
        section, _, name = key.rpartition(".")
        (config[section] if section else config)[name] = value
    with pytest.raises(GridSpecError, match=message):
        parse_grid_spec(config, origin="grid.yaml")


def test_impossible_combinations_are_skipped_with_a_reason(photos: Path, tmp_path: Path) -> None:
    config = grid_config(photos, tmp_path / "out")
    config["grid"].update(backbones=["seed_cnn", "resnet18"], pretrained=["none", "imagenet"])
    spec = parse_grid_spec(config)
    assert len(spec.cells) == 2 * 2 * 3
    reason = "seed_cnn has no ImageNet weights: choose pretrained 'none', or another backbone."
    assert {s.reason for s in spec.skipped_cells} == {reason}
    config["grid"].update(backbones=["seed_cnn"], pretrained=["imagenet"])
    with pytest.raises(GridSpecError, match="no cell of this grid can be trained"):
        parse_grid_spec(config)


def test_the_shipped_grid_files_are_valid() -> None:
    from lightning_module.grid.spec import load_grid_spec

    configs = Path(__file__).parents[1] / "configs"
    default = load_grid_spec(configs / "grid.yaml")
    assert default.scenarios == ("Pr_Im", "PrPo_Im", "Pr_PoIm", "Pr_Po_Im") and default.image_sizes == (64, 108, 128)
    assert default.folds == 5 and default.source == "synthetic" and default.backbones == ("seed_cnn",)
    tiny = load_grid_spec(configs / "grid_tiny.yaml")
    assert len(tiny.cells) == 4 and tiny.folds == 2 and tiny.epochs == 1


def test_cli_dry_run_lists_cells_and_estimates_without_training(photos: Path, tmp_path: Path, capsys) -> None:
    config = write_config(tmp_path / "grid.yaml", grid_config(photos, tmp_path / "out"))
    assert grid_cli(["--config", str(config), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "4 cells × 2 folds" in printed and "Pr_Po_Im-36px-grayscale-seed_cnn-scratch" in printed
    assert "Pr_Im: 26 photos (Improbable 18, Probable 8) in 13 groups" in printed
    assert "8 folds to run; estimated time on this machine: about" in printed
    assert not (tmp_path / "out" / "runs").exists()


def test_cli_reports_a_bad_grid_file_with_exit_code_2(tmp_path: Path, capsys) -> None:
    config = tmp_path / "grid.yaml"
    config.write_text("grid:\n  scenarios: [Pr_Im]\n  image_sizes: [64]\ntraining:\n  epoch: 3\n")
    assert grid_cli(["--config", str(config)]) == 2
    assert "unknown key 'training.epoch' (did you mean 'training.epochs'?" in capsys.readouterr().err
    assert grid_cli(["--config", str(tmp_path / "missing.yaml")]) == 2


@pytest.mark.slow  # two spawned workers each import torch and Lightning
def test_two_workers_train_two_folds_at_a_time_with_the_same_results(photos: Path, tmp_path: Path) -> None:
    serial = scripted_spec(photos, tmp_path / "serial")
    parallel = scripted_spec(photos, tmp_path / "parallel", **{"training.workers": 2})
    lines: list[str] = []
    one = run_grid(serial, fit=scripted_fit, estimate=False, log=lambda line: None)
    two = run_grid(parallel, fit=scripted_fit, estimate=False, log=lines.append)
    assert two.status == "finished" and two.ran == 12 and "(2 folds at a time)" in lines[0]
    numbers = [c for c in one.tables.cells.columns if c.endswith(("_mean", "_sd", "_ci_low", "_ci_high"))]
    pd.testing.assert_frame_equal(one.tables.cells[numbers], two.tables.cells[numbers])


@pytest.mark.timeout(120)
def test_sigterm_stops_the_grid_after_the_fold_in_progress_and_the_next_run_goes_on(photos: Path, tmp_path: Path) -> None:
    import os
    import signal

    spec = scripted_spec(photos, tmp_path / "stopping")
    calls: list[str] = []

    def fit_then_stop(arguments: list[str], attempt_dir: Path) -> None:
        calls.append(str(attempt_dir))
        scripted_fit(arguments, attempt_dir)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # what the page's Stop button sends

    stopped = run_grid(spec, fit=fit_then_stop, estimate=False, log=lambda line: None)
    assert stopped.status == "stopped" and stopped.ran == 2 and len(calls) == 2
    assert results.read_progress(spec.output).status == "stopped"
    assert grid_cli(["--config", str(write_config(tmp_path / "g.yaml", grid_config(photos, tmp_path / "stopping", folds=3))),
                     "--dry-run"]) == 0  # fmt: skip
    resumed = run_grid(spec, fit=scripted_fit, estimate=False, log=lambda line: None)
    assert resumed.status == "finished" and resumed.skipped == 2 and resumed.ran == 10


@pytest.mark.slow  # a real background grid: a fresh Python imports torch and trains two folds
def test_dashboard_start_runs_the_grid_in_the_background(photos: Path, tmp_path: Path) -> None:
    import time

    from lightning_module.grid import launch

    config = grid_config(photos, tmp_path / "background", **{"grid.scenarios": ["Pr_Im"], "grid.image_sizes": [32]})
    started = launch.start_grid(write_config(tmp_path / "grid.yaml", config))
    assert started.output == tmp_path / "background" and launch.is_busy(started.output)
    with pytest.raises(GridSpecError, match="already running"):
        launch.start_grid(tmp_path / "grid.yaml")
    deadline = time.monotonic() + 400
    while launch.grid_running(started.output) and time.monotonic() < deadline:
        time.sleep(1)
    log = (started.output / "grid.log").read_text()
    assert results.read_progress(started.output).status == "finished", log
    assert "Ran 2 folds" in log and len(pd.read_csv(started.output / "results.csv")) == 1
    assert not launch.stop_grid(started.output), "nothing left to stop"
