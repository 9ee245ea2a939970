"""Real-browser screenshots of the Assess page: docs/assess_single.png and docs/assess_batch.png.

    .venv/bin/python scripts/screenshot_assess.py [--out docs] [--runs-dir DIR]

Starts the dashboard headless on a free port (dashboard/app.py when it exists, else a two-line wrapper that does
what app.py does for this page: wide layout and st.navigation), opens it in Debian's chromium through Playwright,
assesses an example tree, then screens a small batch with a bad file in it, and saves full-height screenshots.
Uses the bundled model when present, else the newest finished run (``--runs-dir`` sets TREERISK_RUNS_DIR).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python scripts/…`: the project's own packages must import
    sys.path.insert(0, str(ROOT))

from dashboard.serve import running_dashboard  # noqa: E402

PAGE = ROOT / "dashboard" / "views" / "assess.py"
APP = ROOT / "dashboard" / "app.py"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
WIDTH = 1440


def entry_point(folder: Path) -> tuple[Path, str]:
    """The script to run and the URL path of the Assess page in it."""
    if APP.is_file():
        return APP, "assess"
    wrapper = folder / "assess_app.py"
    wrapper.write_text(
        "import streamlit as st\n"
        "st.set_page_config(page_title='TreeRisk', page_icon='🌳', layout='wide')\n"
        f"st.navigation([st.Page({str(PAGE)!r}, title='Assess', url_path='assess')]).run()\n"
    )
    return wrapper, "assess"


def survey_photos(folder: Path) -> list[Path]:
    """A few fresh synthetic roadside trees (with GPS in their EXIF), else the shipped examples."""
    try:
        from lightning_module.synthetic import generate_dataset

        data = generate_dataset(folder / "survey", n=9, seed=7)
        return sorted(data.glob("*/*.jpg"))
    except Exception as error:  # the generator is optional here: the examples still make a batch
        print(f"synthetic generator unavailable ({error}); using docs/examples")
        return sorted((ROOT / "docs" / "examples").glob("*.jpg"))


def batch_files(folder: Path) -> list[dict]:
    """Loose photos, a zip holding more of them, and a text file named like a photo."""
    photos = survey_photos(folder)
    loose, zipped = photos[: len(photos) // 2 + 1], photos[len(photos) // 2 + 1:]
    files = [{"name": p.name, "mimeType": "image/jpeg", "buffer": p.read_bytes()} for p in loose]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for p in zipped:
            archive.writestr(f"elm_street/{p.name}", p.read_bytes())
    files.append({"name": "elm_street.zip", "mimeType": "application/zip", "buffer": buffer.getvalue()})
    files.append({"name": "notes_not_a_photo.jpg", "mimeType": "image/jpeg", "buffer": b"Shopping list: apples\n"})
    return files


def settle(page, extra_ms: int = 1500) -> None:
    """Wait until Streamlit has finished running the script and drawing."""
    page.wait_for_timeout(500)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=180_000,
    )
    page.wait_for_timeout(extra_ms)


def full_height_shot(page, path: Path) -> None:
    # Streamlit scrolls inside its main container, not the document: grow the viewport to the content's height.
    height = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]') || document.body;"
        " return Math.max(m.scrollHeight, document.body.scrollHeight); }")
    page.set_viewport_size({"width": WIDTH, "height": min(int(height) + 40, 6000)})
    page.wait_for_timeout(1200)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": WIDTH, "height": 1000})
    shrink(path)


def shrink(path: Path) -> None:
    """256-colour PNG: a third of the size, no visible loss for a dashboard (keeps the repository small)."""
    from PIL import Image

    with Image.open(path) as shot:
        small = shot.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs"))
    parser.add_argument("--runs-dir", default=None)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {"TREERISK_RUNS_DIR": str(Path(args.runs_dir).resolve())} if args.runs_dir else {}
    with tempfile.TemporaryDirectory() as folder:
        script, url_path = entry_point(Path(folder))
        with running_dashboard(env=env, script=script, options=["--theme.base", "light"]) as app:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": WIDTH, "height": 1000}, device_scale_factor=1)
                page.goto(f"{app.url}/{url_path}", wait_until="networkidle", timeout=180_000)
                # The page's own title (the sidebar's link has the same words), then its example buttons.
                page.get_by_role("heading", name="Assess a tree").first.wait_for(timeout=180_000)
                example = page.get_by_role("button", name="Example 3")
                example.wait_for(timeout=180_000)
                settle(page)
                example.click()
                page.get_by_text("Where the model looked").first.wait_for(timeout=180_000)
                page.get_by_text("Probability of each risk rating").first.wait_for(timeout=180_000)
                settle(page, 2500)
                full_height_shot(page, out / "assess_single.png")
                print(f"wrote {out / 'assess_single.png'}")

                page.get_by_role("tab", name="Many trees").click()
                settle(page)
                uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="Photos of many trees")
                uploader.locator('input[type="file"]').set_input_files(batch_files(Path(folder)))
                page.get_by_text("Photos rated").first.wait_for(timeout=180_000)
                page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=180_000)
                settle(page, 3000)
                full_height_shot(page, out / "assess_batch.png")
                print(f"wrote {out / 'assess_batch.png'}")
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
