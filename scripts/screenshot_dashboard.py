"""Screenshots of the dashboard for the docs: ``python scripts/screenshot_dashboard.py [--out docs]``.

Starts the app on a free port with its own runs folder, trains a few small demo runs on a generated photo
folder (or shows an existing runs folder with ``--runs-dir``), starts one more run from the Train page in a
real browser (Debian's chromium through Playwright) and saves:

    dashboard_overview.png, dashboard_train.png (a run in progress), dashboard_runs.png,
    dashboard_runs_collapsed.png (the collapsed-model banner), dashboard_compare.png

The helpers here (drive the Train page, take screenshots) are shared with tests/test_browser_training.py; the app
itself is started by dashboard/serve.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as `python scripts/…`: the project's own packages must import
    sys.path.insert(0, str(REPO_ROOT))

from dashboard.serve import running_dashboard  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip
WIDTH = 1400


# ------------------------------------------------------------------------------------------------ the browser
def launch_browser(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


# ------------------------------------------------------------------------------------------------ pages
STALE = '[data-testid="stElementContainer"][data-stale="true"]'


def settle(page, pause: float = 0.4, timeout: float = 30.0) -> None:
    """Wait until Streamlit has finished re-running the script after an interaction.

    Its running indicator shows only after a moment, and until a rerun has drawn every element the previous run's
    elements stay on screen marked stale, so both are waited for: a page read too early shows the last answer.
    """
    time.sleep(pause)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.locator('[data-testid="stStatusWidget"]').count() == 0 and page.locator(STALE).count() == 0:
            return
        time.sleep(0.2)


def open_page(page, base_url: str, path: str) -> None:
    page.set_viewport_size({"width": WIDTH, "height": 1000})
    page.goto(f"{base_url}/{path}")
    page.wait_for_selector("h1", timeout=60_000)
    settle(page, pause=1.0)


def start_training_from_page(page, base_url: str, folder: Path, run_name: str, epochs: int = 3, image_size: int = 32, batch_size: int = 8) -> None:
    """Fill in the Train page for ``folder`` and press Start; returns when the page says the run started."""
    open_page(page, base_url, "train")
    page.get_by_text("Folder of class folders", exact=True).click()
    settle(page)
    _fill(page, "Folder", str(folder))
    page.get_by_label("Image size (pixels)").click()
    page.get_by_role("option", name="other…").click()
    settle(page)
    _fill(page, "Other image size", str(image_size))
    _fill(page, "Epochs", str(epochs))
    _fill(page, "Batch size", str(batch_size))
    _fill(page, "Run name", run_name)
    page.get_by_role("button", name="Start training").click()
    page.get_by_text(f"Started {run_name}/version_0", exact=False).wait_for(timeout=60_000)
    settle(page)


def _fill(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    settle(page)


def badge_text(page) -> str:
    """The first status badge on the page ('Starting', 'Running', 'Finished', …), without its icon's name."""
    texts = [t.split()[-1] for t in page.locator(".stMarkdownBadge").all_inner_texts() if t.strip()]
    return texts[0] if texts else ""


def progress_text(page) -> str:
    texts = page.locator('[data-testid="stProgress"]').all_inner_texts()
    return texts[0].strip() if texts else ""


def wait_for_progress(page, text: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not progress_text(page).startswith(text):
        time.sleep(0.5)


def screenshot(page, path: Path) -> Path:
    """The whole page (Streamlit scrolls inside its main block, so the window is made as tall as the content)."""
    height = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=stMain]') || document.body; return m.scrollHeight; }"
    )
    page.set_viewport_size({"width": WIDTH, "height": max(800, min(int(height) + 40, 8000))})
    time.sleep(1.5)  # let plotly redraw at the new size
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": WIDTH, "height": 1000})
    return path


# ------------------------------------------------------------------------------------------------ demo runs
def make_demo_photos(folder: Path, per_class: tuple[int, ...] = (60, 28, 24), seed: int = 0) -> Path:
    """An imbalanced three-class photo folder (like the lab's) that trains in seconds.

    Riskier classes show a larger bright blob, but sizes, positions and noise overlap between classes, so a
    model learns something without reaching 100 % (a realistic picture for the screenshots).
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    width, height = 96, 72
    yy, xx = np.mgrid[:height, :width]
    for class_index, (name, count) in enumerate(zip(("Improbable", "Possible", "Probable"), per_class)):
        for i in range(count):
            pixels = rng.normal(95, 28, (height, width, 3))
            radius = max(4.0, (0.15 + 0.09 * class_index + rng.normal(0, 0.045)) * height)
            cx, cy = width / 2 + rng.normal(0, 12), height / 2 + rng.normal(0, 8)
            pixels[(xx - cx) ** 2 + (yy - cy) ** 2 < radius**2] += rng.normal(55, 18)
            path = folder / name / f"tree{i:03d}_{name}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=90)
    return folder


def train_demo_runs(folder: Path, runs_dir: Path) -> list[Path]:
    """A sensible run and a learning rate far too high (which collapses onto one class), side by side."""
    from lightning_module.runs import launcher, store

    requests = [
        launcher.TrainingRequest(run_name="lab-seed_cnn", data_kind="folder", data_path=str(folder), image_size=64, batch_size=16, max_epochs=12, lr=2e-3),
        launcher.TrainingRequest(run_name="lab-lr-too-high", data_kind="folder", data_path=str(folder), image_size=64, batch_size=16, max_epochs=6, lr=1.0),
    ]
    started = [launcher.start_training(r, runs_dir) for r in requests]
    for run in started:
        while store.read_run(run.run_dir).active:
            time.sleep(0.5)
        print(f"  {run.run_id}: {store.read_run(run.run_dir).status}")
    return [s.run_dir for s in started]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs", help="folder for the PNG files")
    parser.add_argument("--runs-dir", type=Path, help="show these runs instead of training demo runs")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: run scripts/install_browser.sh first", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="treerisk-shots-"))
    data_dir = work / "data"
    folder = make_demo_photos(data_dir / "lab-photos")
    runs_dir = args.runs_dir or work / "runs"
    os.environ.setdefault("TREERISK_CACHE", str(work / "cache"))
    if args.runs_dir is None:
        print("training demo runs…")
        train_demo_runs(folder, runs_dir)
    env = {"TREERISK_RUNS_DIR": str(runs_dir), "TREERISK_DATA_DIR": str(data_dir)}
    with running_dashboard(env=env, log=work / "app.log", timeout=60) as app:
        base = app.url
        with sync_playwright() as playwright:
            browser = launch_browser(playwright)
            page = browser.new_page(viewport={"width": WIDTH, "height": 1000})
            start_training_from_page(page, base, folder, "from-the-browser", epochs=40, image_size=64, batch_size=16)
            wait_for_progress(page, "Epoch 3 of")  # a few epochs in, so the progress bar and log have something to show
            print("saved", screenshot(page, args.out / "dashboard_train.png"))
            page.get_by_role("button", name="Stop").click()  # the Stop button of the run in progress
            settle(page, pause=4)
            for path, name in (
                ("runs?run=lab-seed_cnn/version_0", "dashboard_runs.png"),
                ("runs?run=lab-lr-too-high/version_0", "dashboard_runs_collapsed.png"),
                ("compare", "dashboard_compare.png"),
                ("", "dashboard_overview.png"),
            ):
                open_page(page, base, path)
                time.sleep(2)
                print("saved", screenshot(page, args.out / name))
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
