"""The Assess page in a real browser (Playwright + Debian's chromium): an example tree's answer, and each of its
pictures enlarged to the window on a click (or Space) and closed by another, as ``st.image``'s full-screen view did
before the pictures became one HTML element (dashboard.parts.assess.style.pictures_html)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from dashboard.serve import running_dashboard  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1400, "height": 900}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: run scripts/install_browser.sh (make browser)"),
]


@pytest.mark.timeout(180)
def test_each_picture_of_an_answer_enlarges_to_the_window_and_closes_again(tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python client is not installed")
    sys.path.insert(0, str(REPO / "scripts"))
    import screenshot_dashboard as driver

    env = {"TREERISK_RUNS_DIR": str(tmp_path / "runs"), "TREERISK_DATA_DIR": str(tmp_path / "data")}
    with running_dashboard(env=env, log=tmp_path / "app.log", timeout=60) as app, \
            playwright_api.sync_playwright() as playwright:
        browser = driver.launch_browser(playwright)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"{app.url}/assess")
        page.get_by_role("button", name="Example 3 · labelled Probable").click(timeout=60_000)
        pictures = page.locator(".tr-pictures .tr-zoom img")
        pictures.nth(2).wait_for(timeout=60_000)
        assert pictures.count() == 3  # the photo, what the model sees, where it looked
        for number in range(3):
            picture = pictures.nth(number)
            small = picture.bounding_box()
            picture.click()
            large = picture.bounding_box()
            # The picture's box fills the window (the image is fitted inside it), above everything else.
            assert (large["width"], large["height"]) == (VIEWPORT["width"] - 80, VIEWPORT["height"] - 80), large
            centre = (VIEWPORT["width"] / 2, VIEWPORT["height"] / 2)
            on_top = page.evaluate("([x, y]) => document.elementFromPoint(x, y).closest('.tr-zoom') !== null", centre)
            assert on_top, "something covers the enlarged picture"
            picture.click()
            closed = picture.bounding_box()  # where it was (the page may have scrolled to it) and as large
            assert (closed["width"], closed["height"]) == (small["width"], small["height"])
        # From the keyboard: the toggle takes the focus and Space opens and closes it.
        page.locator(".tr-zoom-toggle").nth(2).focus()
        page.keyboard.press("Space")
        assert pictures.nth(2).bounding_box()["width"] == VIEWPORT["width"] - 80
        page.keyboard.press("Space")
        assert pictures.nth(2).bounding_box()["width"] < VIEWPORT["width"] / 2
        assert page.locator('[data-testid="stException"]').count() == 0
        browser.close()
