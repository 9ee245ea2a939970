"""Real-browser screenshots of the backprop visualizer for the README.

Starts ``streamlit run dashboard/views/backprop.py`` on a free port (headless, dashboard/serve.py), drives it with
Playwright and Debian's chromium, and writes:

    docs/backprop_backward.png   mid backward pass, a weight selected, its formula with numbers
    docs/backprop_graph.png      computational-graph mode on f = (x + y)·z, stepped backward

Run from the repository root:  .venv/bin/python scripts/screenshot_backprop.py [--out docs]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python scripts/…`: the project's own packages must import
    sys.path.insert(0, str(ROOT))

from dashboard.serve import running_dashboard  # noqa: E402

PAGE = ROOT / "dashboard" / "views" / "backprop.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def wait_idle(page: Page, settle: float = 0.8) -> None:
    """Wait until Streamlit has finished the rerun (no 'running' indicator), then let plots draw."""
    page.wait_for_timeout(300)
    try:
        page.wait_for_selector("[data-testid='stStatusWidget']", state="detached", timeout=20000)
    except Exception:
        pass
    page.wait_for_timeout(int(settle * 1000))


def click(page: Page, label: str, times: int = 1) -> None:
    for _ in range(times):
        page.get_by_role("button", name=label, exact=True).click()
        wait_idle(page, 0.4)


def backward_shot(page: Page, url: str, out: Path) -> None:
    # The XNOR-learning setup: a 2-3-1 tanh network learning XOR, a few steps in, then one step by hand.
    page.goto(url + "/?preset=xor_learn&layers=3&act=tanh&out=sigmoid&cost=cross_entropy&lr=0.5&batch=full"
              "&init=xavier&seed=1&data=xor")
    page.wait_for_selector("text=Backprop, step by step", timeout=60000)
    wait_idle(page, 1.5)
    click(page, "Whole step", 20)
    click(page, "Forward →", 2)
    click(page, "← Backward", 2)  # δ² then δ¹: the backward pass has just reached the first layer
    # Select w^1_{22}: from input 2 to hidden neuron 2, in the layer the backward pass has just reached.
    select(page, "Layer l", "1 (hidden 1)")
    select(page, "To neuron j", "2")
    select(page, "From neuron k", "2")
    wait_idle(page, 1.5)
    scroll_to(page, "[data-testid='stHorizontalBlock']")
    page.screenshot(path=str(out / "backprop_backward.png"), full_page=False)


def scroll_to(page: Page, selector: str) -> None:
    """Scroll so the first match is at the top: the title and captions above it are not the point."""
    page.locator(selector).first.evaluate(
        "e => { e.scrollIntoView({block: 'start'}); let p = e.parentElement;"
        " while (p && p.scrollTop === 0) p = p.parentElement;"
        " if (p) p.scrollTop -= 20; }")  # a little air above
    page.wait_for_timeout(400)


def select(page: Page, label: str, option: str) -> None:
    box = page.get_by_role("combobox", name=label, exact=True)
    choice = page.get_by_role("option", name=option, exact=True)
    for _ in range(3):  # a click that lands during a rerun can close the list again: retry
        box.click()
        try:
            choice.click(timeout=3000)
            break
        except Exception:
            page.keyboard.press("Escape")
            wait_idle(page, 0.5)
    else:
        raise RuntimeError(f"could not choose {option!r} in {label!r}")
    wait_idle(page, 0.5)


def graph_shot(page: Page, url: str, out: Path) -> None:
    page.goto(url + "/?mode=graph&expr=f%20%3D%20(x%20%2B%20y)%20*%20z&vals=x%20%3D%20-2%2C%20y%20%3D%205%2C%20z%20%3D%20-4")
    page.wait_for_selector("text=Backprop, step by step", timeout=60000)
    wait_idle(page, 1.5)
    click(page, "Backward one node", 1)
    wait_idle(page, 1.0)
    scroll_to(page, "[data-testid='stHorizontalBlock']")
    page.screenshot(path=str(out / "backprop_graph.png"), full_page=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with running_dashboard(script=PAGE) as app, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        backward_shot(page, app.url, args.out)
        graph_shot(page, app.url, args.out)
        browser.close()
    print(f"wrote {args.out / 'backprop_backward.png'} and {args.out / 'backprop_graph.png'}")


if __name__ == "__main__":
    main()
