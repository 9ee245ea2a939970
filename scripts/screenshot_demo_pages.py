"""Screenshots of the pages that show what ships on a fresh machine: ``python scripts/screenshot_demo_pages.py [--out docs]``.

Starts the app on a free port with a data folder of its own, so the labelling demo (the built-in synthetic photos and
three simulated raters, docs/LABELLING.md) is seeded there and no one's ratings database is touched, and saves:

    dashboard_label.png (the Label photos page), dashboard_agreement.png (the Agreement page),
    dashboard_grid.png (the Grid study page on the grid results shipped in docs/)

The browser helpers are scripts/screenshot_dashboard.py's.
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
from screenshot_dashboard import CHROMIUM, WIDTH, launch_browser, screenshot, settle  # noqa: E402  (scripts/ is on the path)

def smaller(path: Path) -> Path:
    """Re-save a screenshot with a 256-colour palette: a third of the bytes, and the page looks the same."""
    from PIL import Image

    with Image.open(path) as image:
        palette = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    palette.save(path, optimize=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs", help="folder for the PNG files")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: run scripts/install_browser.sh first", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="treerisk-shots-"))
    os.environ.setdefault("TREERISK_CACHE", str(work / "cache"))
    env = {"TREERISK_DATA_DIR": str(work / "data"), "TREERISK_RUNS_DIR": str(work / "runs")}
    with running_dashboard(env=env, log=work / "app.log", timeout=60) as app:
        with sync_playwright() as playwright:
            browser = launch_browser(playwright)
            page = browser.new_page(viewport={"width": WIDTH, "height": 1000})
            page.goto(f"{app.url}/label")
            page.wait_for_selector("h1", timeout=300_000)  # the first page seeds the demo (a minute or two)
            settle(page, pause=2.0, timeout=300.0)
            page.get_by_role("textbox", name="Your name").fill("Sam Arborist")  # signing in shows the rating form; nothing is rated
            page.get_by_role("button", name="Start rating").click()
            settle(page, pause=2.0)
            print("saved", smaller(screenshot(page, args.out / "dashboard_label.png")))
            page.goto(f"{app.url}/agreement")
            page.wait_for_selector("h1", timeout=60_000)
            settle(page, pause=2.0)
            # The model rates every photo of the set once (cached): wait for that, not just for the first draw.
            page.get_by_text("The model is rating every photo").wait_for(state="detached", timeout=300_000)
            settle(page, pause=2.0)
            print("saved", smaller(screenshot(page, args.out / "dashboard_agreement.png")))
            page.goto(f"{app.url}/grid")
            page.wait_for_selector("h1", timeout=60_000)
            settle(page, pause=3.0)
            time.sleep(2)  # the heatmap is a plotly chart: let it draw
            print("saved", smaller(screenshot(page, args.out / "dashboard_grid.png")))
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
