"""A real browser (Playwright + Debian's chromium) starts a tiny training from the Train page and watches the
Runs page follow it live, saving screenshots on the way (to $TREERISK_SCREENSHOT_DIR, else a temp folder)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from dashboard.serve import running_dashboard  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
# Plotly draws its text (the baseline lines' labels among it) as SVG after the chart's container is on the page.
BASELINE_LABELS_DRAWN = ("[...document.querySelectorAll('.js-plotly-plot text')]"
                         ".filter(t => t.textContent.includes('majority baseline (')).length >= 3")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: run scripts/install_browser.sh (make browser)"),
]


@pytest.fixture()
def driver():
    pytest.importorskip("playwright.sync_api", reason="the playwright Python client is not installed")
    sys.path.insert(0, str(REPO / "scripts"))
    import screenshot_dashboard

    return screenshot_dashboard


@pytest.mark.timeout(180)
def test_train_from_the_browser_and_watch_the_runs_page_update(driver, photo_folder: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("TREERISK_SCREENSHOT_DIR") or tmp_path / "screenshots")
    runs = tmp_path / "runs"
    env = {"TREERISK_RUNS_DIR": str(runs), "TREERISK_DATA_DIR": str(tmp_path / "data"), "TREERISK_CACHE": str(tmp_path / "cache")}
    with running_dashboard(env=env, log=tmp_path / "app.log", timeout=60) as app:
        base = app.url
        with sync_playwright() as playwright:
            browser = driver.launch_browser(playwright)
            page = browser.new_page()
            # The Train page is the first page this server shows: app.py must frame it all the same.
            driver.start_training_from_page(page, base, photo_folder, "browser", epochs=3, image_size=32, batch_size=8)
            assert page.get_by_text("Training now").count() == 1
            driver.screenshot(page, shots / "train_started.png")

            record = json.loads((runs / "browser" / "version_0" / "run.json").read_text())
            command = record["command"]
            chosen = dict(zip(command[4::2], command[5::2]))
            assert chosen["--data.source"] == str(photo_folder.resolve())
            assert (chosen["--data.image_size"], chosen["--trainer.max_epochs"], chosen["--data.batch_size"]) == ("32", "3", "8")

            driver.open_page(page, base, "runs?run=browser/version_0")
            seen: list[tuple[str, str]] = []
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                state = (driver.badge_text(page), driver.progress_text(page))
                if not seen or seen[-1] != state:
                    seen.append(state)
                    if state[0] == "Running" and len(seen) <= 3:
                        driver.screenshot(page, shots / "runs_live.png")
                if state[0] in ("Finished", "Failed", "Crashed"):
                    break
                time.sleep(0.5)
            statuses = [status for status, _ in seen]
            assert statuses[-1] == "Finished", (seen, (tmp_path / "app.log").read_text()[-2000:])
            # It changed on screen without a reload: the page showed the run unfinished first.
            assert statuses[0] in ("Starting", "Running"), seen
            page.get_by_text("3 of 3 epochs").wait_for(timeout=20_000)
            # Four curves and the confusion matrix. The page redraws itself once the run ends, so the charts may
            # still be arriving when the caption already reads "3 of 3": wait for them rather than count once.
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 5", timeout=30_000)
            # The baseline lines' labels are drawn in the balanced accuracy, F1 and accuracy curves. Plotly adds
            # its container before it draws the annotations (and the rerun at the end may redraw a chart), so
            # poll for them: counting once failed in one local run of many.
            page.wait_for_function(BASELINE_LABELS_DRAWN, timeout=20_000)
            assert page.get_by_text("majority baseline (").count() >= 3
            assert page.locator('[data-testid="stException"]').count() == 0
            driver.screenshot(page, shots / "runs_finished.png")
            browser.close()
    assert (shots / "runs_finished.png").is_file()
