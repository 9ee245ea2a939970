"""Load check: N browser sessions assess photos against one dashboard on 127.0.0.1 at the same time.

Each session is its own Playwright browser context (its own Streamlit session, as separate people would be).
It opens the Assess page, uploads a photo no other session uploads, waits for the answer, reads it, and repeats
until the time or count runs out. Every answer is checked against its own input: the photo name in the heading,
the photo size in the caption (every photo has a size of its own, so a mixed-up answer cannot pass), and the
predicted class with its probability, which must equal a direct ``Predictor.predict_proba`` call on the same
photo with the same checkpoint.

    .venv/bin/python bench/load_check.py [--sessions 4] [--seconds 60] [--per-session 20]

The model is the one the Assess page offers first (the bundled checkpoint when present); when there is none, a
tiny model is trained first into a temporary runs folder (about a minute). Prints throughput, latency
percentiles and the number of mismatches; exits 1 on any mismatch or failed answer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, percentile  # noqa: E402

from dashboard.serve import running_dashboard  # noqa: E402
from lightning_module.reliability.fuzz_inputs import base_photo, encode  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
CARD = re.compile(r"Most likely class\s+(.+?)\s+\((\d+)%\)")
CAPTION = re.compile(r"(\d+)×(\d+) px photo")


@dataclass
class Answer:
    session: int
    photo: str
    seconds: float
    ok: bool
    problem: str = ""


@dataclass
class Photo:
    name: str
    path: Path
    size: tuple[int, int]
    predicted: str = ""
    percent: str = ""


@dataclass
class Tally:
    answers: list[Answer] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ set-up
def tiny_model(runs: Path, work: Path) -> None:
    """Train a 2-epoch seed_cnn on generated photos into ``runs`` (only when no checkpoint is on offer)."""
    photos = work / "photos"
    for k, name in enumerate(("Improbable", "Possible", "Probable")):
        (photos / name).mkdir(parents=True, exist_ok=True)
        for i in range(12):
            image = base_photo(160, 120, seed=1000 * k + i)
            image = image.point(lambda v, k=k: min(255, v + 40 * k))  # classes differ in brightness: learnable
            image.save(photos / name / f"tree{i}.jpg", quality=90)
    command = [sys.executable, "-m", "lightning_module", "fit", f"--data.source={photos}", "--data.image_size=64",
               "--data.batch_size=8", "--trainer.max_epochs=2", "--trainer.enable_progress_bar=false",
               f"--trainer.logger.init_args.save_dir={runs}", "--trainer.logger.init_args.name=loadcheck",
               f"--data.cache_dir={work / 'cache'}"]
    print("No checkpoint on offer: training a tiny model for the check…", flush=True)
    subprocess.run(command, check=True, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))


def make_photos(folder: Path, sessions: int, per_session: int) -> list[list[Photo]]:
    """Distinct photos, each with a size no other photo has (so a mixed-up answer shows)."""
    folder.mkdir(parents=True, exist_ok=True)
    plan: list[list[Photo]] = []
    for s in range(sessions):
        mine = []
        for i in range(per_session + 1):  # one spare for the warm-up
            width, height = 360 + 2 * (s * (per_session + 1) + i), 300 + (i % 7) * 11
            name = f"s{s:02d}_tree{i:03d}.jpg"
            path = folder / name
            image = base_photo(width, height, seed=10_000 * s + i)
            image = image.point(lambda v, i=i: min(255, v + (i * 37) % 90))
            path.write_bytes(encode(image, "JPEG", quality=90))
            mine.append(Photo(name, path, (width, height)))
        plan.append(mine)
    return plan


def expected_answers(plan: list[list[Photo]], checkpoint: Path) -> None:
    """What a direct Predictor call says about each photo, in the page's words (class, rounded percent)."""
    from lightning_module.evaluation.predictor import load_predictor

    predictor = load_predictor(checkpoint)
    for mine in plan:
        for photo in mine:
            probabilities = predictor.predict_proba(photo.path.read_bytes())
            top = int(probabilities.argmax())
            photo.predicted, photo.percent = predictor.classes[top], f"{probabilities[top]:.0%}".rstrip("%")


# ------------------------------------------------------------------------------------------------ sessions
async def assess_once(page, photo: Photo, timeout_ms: float) -> tuple[bool, str]:
    """Upload ``photo`` on the Assess page and wait for its answer; (matched, problem)."""
    await page.locator("input[type=file]").first.set_input_files(str(photo.path))
    await page.get_by_role("heading", name=photo.name).wait_for(timeout=timeout_ms)
    card = page.locator(".tr-path").first
    caption = page.get_by_text("px photo").first
    await card.wait_for(timeout=timeout_ms)
    await page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=timeout_ms)
    card_text, caption_text = await card.inner_text(), await caption.inner_text()
    found, size = CARD.search(card_text), CAPTION.search(caption_text)
    if not found or not size:
        return False, f"answer not readable: {card_text!r} / {caption_text!r}"
    shown_size = (int(size.group(1)), int(size.group(2)))
    if shown_size != photo.size:
        return False, f"answer for another photo: size {shown_size}, uploaded {photo.size}"
    if (found.group(1), found.group(2)) != (photo.predicted, photo.percent):
        return False, f"page says {found.group(1)} {found.group(2)}%, Predictor says {photo.predicted} {photo.percent}%"
    return True, ""


@dataclass
class Clock:
    deadline: float = float("inf")


async def session(browser, url: str, number: int, photos: list[Photo], clock: Clock, tally: Tally,
                  warmed: asyncio.Barrier, go: asyncio.Event, timeout_ms: float, screenshot: Path | None) -> None:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    try:
        try:
            await page.goto(url, wait_until="domcontentloaded")
            await page.locator("input[type=file]").first.wait_for(state="attached", timeout=timeout_ms)
            await assess_once(page, photos[0], timeout_ms)  # warm-up: this session's first render
        finally:
            await warmed.wait()  # even a failed warm-up must not hold the others back
        await go.wait()
        for photo in photos[1:]:
            if time.monotonic() > clock.deadline:
                break
            began = time.perf_counter()
            try:
                ok, problem = await assess_once(page, photo, timeout_ms)
            except Exception as error:  # a timeout is a failed answer, not the end of the check
                ok, problem = False, f"{type(error).__name__}: {str(error).splitlines()[0]}"
            tally.answers.append(Answer(number, photo.name, time.perf_counter() - began, ok, problem))
        if screenshot is not None and number == 0:
            await page.screenshot(path=str(screenshot), full_page=False)
    finally:
        await context.close()


async def run_sessions(url: str, plan: list[list[Photo]], seconds: float, timeout_ms: float,
                       screenshot: Path | None = None) -> tuple[Tally, float]:
    """Run every session at once; the clock starts when all have had their warm-up answer."""
    from playwright.async_api import async_playwright

    tally, clock = Tally(), Clock()
    warmed, go = asyncio.Barrier(len(plan) + 1), asyncio.Event()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tasks = [asyncio.create_task(session(browser, url, s, photos, clock, tally, warmed, go, timeout_ms, screenshot))
                 for s, photos in enumerate(plan)]
        await warmed.wait()
        began = time.monotonic()
        clock.deadline = began + seconds
        go.set()
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - began
        await browser.close()
    return tally, elapsed


# ------------------------------------------------------------------------------------------------ report
def report(tally: Tally, elapsed: float, sessions: int, checkpoint: Path) -> int:
    answers = tally.answers
    good = [a for a in answers if a.ok]
    bad = [a for a in answers if not a.ok]
    latencies = [a.seconds for a in answers]
    print(f"model: {checkpoint}")
    print(f"sessions: {sessions}   answers: {len(answers)} in {elapsed:.1f} s   "
          f"throughput: {len(answers) / elapsed:.2f} answers/s")
    if latencies:
        print(f"latency: p50 {median(latencies):.2f} s   p95 {percentile(latencies, 95):.2f} s   "
              f"max {max(latencies):.2f} s")
    print(f"answers matching their own photo (name, size, class, probability): {len(good)}/{len(answers)}")
    for answer in bad[:20]:
        print(f"  MISMATCH session {answer.session} {answer.photo}: {answer.problem}")
    return 1 if bad or not answers else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=4, help="concurrent browser sessions")
    parser.add_argument("--seconds", type=float, default=60, help="how long the timed phase may last")
    parser.add_argument("--per-session", type=int, default=20, help="most photos each session assesses")
    parser.add_argument("--timeout", type=float, default=120, help="seconds one answer may take before it counts as failed")
    parser.add_argument("--screenshot", type=Path, default=None, help="save session 0's last answer as a PNG here")
    args = parser.parse_args(argv)

    from dashboard.parts.assess.models import available_checkpoints

    with tempfile.TemporaryDirectory(prefix="treerisk-load-") as tmp:
        work = Path(tmp)
        env = dict(os.environ, CUDA_VISIBLE_DEVICES=os.environ.get("CUDA_VISIBLE_DEVICES", ""))
        if not available_checkpoints():
            runs = work / "runs"
            tiny_model(runs, work)
            os.environ["TREERISK_RUNS_DIR"] = env["TREERISK_RUNS_DIR"] = str(runs)
        checkpoint = available_checkpoints()[0].path  # what the Assess page selects by default
        plan = make_photos(work / "upload", args.sessions, args.per_session)
        expected_answers(plan, checkpoint)
        with running_dashboard(env=env, address="127.0.0.1", log=work / "server.log") as app:
            tally, elapsed = asyncio.run(run_sessions(f"{app.url}/assess", plan, args.seconds, args.timeout * 1000,
                                                      args.screenshot))
        return report(tally, elapsed, args.sessions, checkpoint)


if __name__ == "__main__":
    sys.exit(main())
