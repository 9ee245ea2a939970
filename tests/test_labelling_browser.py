"""Two raters rate in a real browser at once (keyboard shortcuts), the dashboard is killed mid-rating, and SQLite
and PostgreSQL hold the same ratings afterwards: every rating the page confirmed, and nothing mixed.

Each backend gets the same key presses. The dashboard is started on SQLite (the data folder) and then on a throwaway
PostgreSQL (``TREERISK_DB``). Ann and Bob sign in in two browser contexts (two sessions) and press class keys. Each
press is confirmed by the page's progress count. Then one more key is pressed, and the dashboard's whole process
group is killed with SIGKILL at once. Before rating, every defect a rater may tick is checked to be on screen (the
pills once sat in one row that scrolled sideways and showed three and a half of ten).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
REPO = TESTS.parent
sys.path[:0] = [str(TESTS), str(REPO)]
from postgres_server import Unavailable, fresh_database, postgres_server  # noqa: E402

from dashboard.serve import running_dashboard  # noqa: E402
from lightning_module.labelling.database import database_url, open_database  # noqa: E402
from lightning_module.labelling.ratings import CLASS_LABELS, photo_sets, ratings_of  # noqa: E402
from lightning_module.synthetic.defects import DEFECT_LABELS  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
KEYS = {"Ann": "1213121", "Bob": "2342312"}  # the class keys each rater presses, in turn

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: run scripts/install_browser.sh (make browser)"),
]


def _progress(page) -> int | None:
    texts = page.locator('[data-testid="stProgress"]').all_inner_texts()
    words = texts[0].split() if texts else []
    return int(words[3]) if len(words) > 3 and words[3].isdigit() else None  # "You have rated <k> of <n> photos"


def _wait_progress(page, count: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _progress(page) == count:
            return
        time.sleep(0.2)
    raise AssertionError(f"the page never said {count} rated (it says {_progress(page)})")


def _sign_in(page, url: str, name: str) -> None:
    page.goto(f"{url}/label")
    page.get_by_label("Your name", exact=True).wait_for(timeout=240_000)  # the first visitor waits for the demo to be seeded
    page.get_by_label("Your name", exact=True).fill(name)
    page.get_by_role("button", name="Start rating").click()
    page.get_by_text(f"Rating as {name}").wait_for(timeout=60_000)
    _wait_progress(page, 0)


# Each defect pill's box against the box of the row that holds them: a pill scrolled or cut out of view is not inside.
PILLS_OUT_OF_VIEW = """labels => {
  const group = [...document.querySelectorAll('[data-testid="stButtonGroup"]')]
    .find(g => labels.every(l => g.innerText.includes(l)));
  if (!group) return ['no group holds every defect'];
  const box = group.getBoundingClientRect();
  return [...group.querySelectorAll('button')].filter(b => {
    const r = b.getBoundingClientRect();
    return r.width === 0 || r.left < box.left - 1 || r.right > box.right + 1;
  }).map(b => b.innerText);
}"""


def _rate_and_kill(env: dict[str, str], log: Path) -> dict[str, list[str]]:
    """Both raters press their keys; returns the labels each page confirmed, in order, after killing the dashboard."""
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(REPO / "scripts"))
    import screenshot_dashboard as driver

    confirmed: dict[str, list[str]] = {name: [] for name in KEYS}
    with running_dashboard(env=env, log=log, timeout=240) as app, sync_playwright() as playwright:
        browser = driver.launch_browser(playwright)
        pages = {name: browser.new_context().new_page() for name in KEYS}
        for name, page in pages.items():
            _sign_in(page, app.url, name)
        assert pages["Ann"].evaluate(PILLS_OUT_OF_VIEW, list(DEFECT_LABELS.values())) == []
        for turn in range(len(KEYS["Ann"])):
            for name, page in pages.items():
                page.locator("h1").first.click()  # focus on the page, not in a field, so the key reaches the button
                page.keyboard.press(KEYS[name][turn])
                _wait_progress(page, turn + 1)
                confirmed[name].append(CLASS_LABELS[int(KEYS[name][turn]) - 1])
        pages["Ann"].keyboard.press("4")  # mid-rating: this one may or may not be saved
        os.killpg(app.pid, signal.SIGKILL)
        browser.close()
    return confirmed


def _stored(url: str) -> dict[str, list[tuple[str, str]]]:
    db = open_database(url)
    found: dict[str, list[tuple[str, str]]] = {}
    for rating in ratings_of(db, next(s for s in photo_sets(db) if s.title.startswith("Built-in"))):
        if not rating.simulated:
            found.setdefault(rating.rater, []).append((rating.photo, rating.label))
    db.close()
    return {name: sorted(items) for name, items in found.items()}


@pytest.mark.timeout(900)
def test_sqlite_and_postgresql_hold_the_same_ratings_after_the_dashboard_is_killed_mid_rating(tmp_path: Path) -> None:
    pytest.importorskip("playwright.sync_api", reason="the playwright Python client is not installed")
    data = tmp_path / "data"
    base = {"TREERISK_DATA_DIR": str(data), "TREERISK_RUNS_DIR": str(tmp_path / "runs"),
            "TREERISK_CACHE": str(tmp_path / "cache")}
    base.pop("TREERISK_DB", None)
    env_db = os.environ.pop("TREERISK_DB", None)
    try:
        confirmed = _rate_and_kill(base, tmp_path / "sqlite.log")
        on_sqlite = _stored(database_url(data))
        try:
            server = postgres_server()
            server_url = server.__enter__()
        except Unavailable as why:
            pytest.skip(f"SQLite held every confirmed rating; PostgreSQL unavailable for the comparison: {why}")
        try:
            pg_url = fresh_database(server_url)
            assert _rate_and_kill({**base, "TREERISK_DB": pg_url}, tmp_path / "postgres.log") == confirmed
            on_postgres = _stored(pg_url)
        finally:
            server.__exit__(None, None, None)
    finally:
        if env_db is not None:
            os.environ["TREERISK_DB"] = env_db
    for stored in (on_sqlite, on_postgres):
        assert sorted(stored) == ["Ann", "Bob"]
        assert sorted(label for _, label in stored["Bob"]) == sorted(confirmed["Bob"])
        ann = sorted(label for _, label in stored["Ann"])
        assert ann in (sorted(confirmed["Ann"]), sorted([*confirmed["Ann"], "Imminent"]))  # the last press, or not
    # The same photos got the same labels on both: each rater's order is fixed by their name, whatever the backend.
    assert on_sqlite["Bob"] == on_postgres["Bob"]
    common = set(on_sqlite["Ann"]) & set(on_postgres["Ann"])
    assert len(common) >= len(confirmed["Ann"])
