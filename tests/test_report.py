"""The one-page HTML report: self-contained, escaped, and showing the rating path the user chose."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch

from assess_samples import gps_jpeg
from lightning_module.assessment.photo_assessment import assess_photo
from lightning_module.assessment.report import LIMITATIONS, build_report, matrices_html, model_summary
from lightning_module.assessment.risk import rating_path
from lightning_module.evaluation.predictor import Predictor
from lightning_module.models.networks import build_network


class _Collector(HTMLParser):
    """Highlighted matrix cells, resources the page would fetch, and tags that could run code."""

    def __init__(self) -> None:
        super().__init__()
        self.highlighted: list[str] = []
        self.fetches: list[str] = []
        self.tags: set[str] = set()
        self._in_on = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = dict(attrs)
        self._in_on = tag in ("td", "th") and "on" in (values.get("class") or "").split()
        for attribute in ("src", "href"):
            link = values.get(attribute)
            if link and not link.startswith("data:"):
                self.fetches.append(link)

    def handle_data(self, data: str) -> None:
        if self._in_on and data.strip():
            self.highlighted.append(data.strip())
            self._in_on = False


def _predictor(classes: list[str], info: dict | None = None) -> Predictor:
    torch.manual_seed(0)
    network = build_network("seed_cnn", len(classes), "grayscale", 40).eval()
    return Predictor(network, classes, 40, "grayscale", "seed_cnn", "Pr_Po_Im", Path("/x/best.ckpt"), info or {})


INFO = {"best": {"val/bal_acc": 0.612, "val/acc": 0.74, "epoch": 3}, "data": {"description": "synthetic trees"},
        "majority_baseline": {"acc": 0.7, "bal_acc": 0.3333, "macro_f1": 0.2745, "class": "Improbable"}}


@pytest.fixture(scope="module")
def report_html() -> str:
    predictor = _predictor(["Improbable", "Possible", "Probable"], INFO)
    result = assess_photo(predictor, gps_jpeg(42.44, -76.5), "<script>alert(1)</script>.jpg")
    summary = model_summary(predictor, "Run demo/version_0")
    return build_report(result, summary, "High", "Severe", 0.6, datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc))


def test_report_is_self_contained(report_html: str) -> None:
    parsed = _Collector()
    parsed.feed(report_html)
    assert parsed.fetches == []  # every image is inline
    assert not parsed.tags & {"script", "link", "iframe", "object", "embed"}
    assert "url(" not in report_html and "@import" not in report_html
    assert len(re.findall(r'src="data:image/jpeg;base64,', report_html)) == 3  # photo, model input, heatmap


def test_report_escapes_what_came_from_the_user(report_html: str) -> None:
    assert "<script>alert(1)</script>" not in report_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.jpg" in report_html


def test_report_has_everything_the_issue_asks_for(report_html: str) -> None:
    for expected in ("24 November 2026", "Run demo/version_0", "best.ckpt", "the run&#39;s validation split",
                     "balanced accuracy</td><td>0.612", "(baseline 0.333)",
                     "always predicting the commonest class (Improbable)",
                     "synthetic trees", "Class probabilities", "Probability of each risk rating",
                     "Likelihood of impacting a target", "<b>High</b>", "<b>Severe</b>", "42.440000, -76.500000",
                     "screening aid, not a qualified arborist"):
        assert expected in report_html, expected
    for limitation in LIMITATIONS:
        assert limitation.replace("'", "&#39;") in report_html  # escaped as Jinja2 (markupsafe) writes it
    assert "@page{size:A4" in report_html  # printable on one page


def test_a_bundled_model_is_quoted_on_scenes_it_never_saw_beside_its_baseline() -> None:
    card = {
        "test": {"test/bal_acc": 0.99, "test/acc": 0.99},  # the training seed's own test split: not a result
        "majority_baseline": {"acc": 0.7, "bal_acc": 0.3333, "macro_f1": 0.2752},
        "independent_test": {
            "training_data": {"seed": 0}, "test_set": {"seed": 9001, "photos": 1000}, "bootstrap": {"confidence": 0.95},
            "model": {"balanced_accuracy": {"value": 0.934, "low": 0.91, "high": 0.95}, "macro_f1": {"value": 0.918},
                      "recall": {"Improbable": {"value": 0.97}, "Probable": {"value": 0.975}}},
            "baseline": {"balanced_accuracy": {"value": 1 / 3}, "macro_f1": {"value": 0.275},
                         "recall": {"Improbable": {"value": 1.0}, "Probable": {"value": 0.0}}},
        },
    }
    summary = model_summary(_predictor(["Improbable", "Possible", "Probable"], card), "Bundled")
    assert summary.metrics == {"balanced accuracy": 0.934, "macro F1": 0.918, "recall of Improbable": 0.97,
                               "recall of Probable": 0.975}
    assert summary.baseline == {"balanced accuracy": 1 / 3, "macro F1": 0.275, "recall of Improbable": 1.0,
                                "recall of Probable": 0.0}
    assert summary.measured_on.startswith("1000 synthetic scenes of seed 9001, a seed other than training's (0)")
    assert summary.intervals == {"balanced accuracy": (0.91, 0.95)}  # where the card has one
    assert summary.measured_on.endswith("; in brackets, 95% bootstrap intervals")
    page = build_report(assess_photo(_predictor(["Improbable", "Possible", "Probable"], card), gps_jpeg(1.0, 1.0), "t.jpg"),
                        summary, "Low", "Minor")
    assert "0.934 [0.910, 0.950] <span class=\"note\">(baseline 0.333)</span>" in page
    # A run of the user's own: its held-out test split, with the run's majority baseline.
    run = model_summary(_predictor(["Improbable", "Possible", "Probable"], {k: card[k] for k in ("test", "majority_baseline")}), "Run")
    assert run.metrics == {"balanced accuracy": 0.99, "accuracy": 0.99}
    assert run.baseline == {"balanced accuracy": 0.3333, "accuracy": 0.7}
    assert run.measured_on == "the run's held-out test split"
    assert model_summary(_predictor(["Improbable", "Possible"], {}), "Bare").metrics == {}


def test_report_highlights_the_path_of_the_most_likely_class() -> None:
    predictor = _predictor(["Improbable", "Possible", "Probable"])
    result = assess_photo(predictor, gps_jpeg(1.0, 1.0), "t.jpg")
    rated = result.rating("High", "Severe")
    parsed = _Collector()
    parsed.feed(build_report(result, model_summary(predictor, "m"), "High", "Severe"))
    path = rated.path
    # Matrix 1: column, row, cell; matrix 2: column, row, cell.
    assert parsed.highlighted == ["High", path.likelihood_of_failure, path.failure_and_impact,
                                  "Severe", path.failure_and_impact, path.rating]
    assert f"{rated.rating} risk" in build_report(result, model_summary(predictor, "m"), "High", "Severe")


def test_matrices_html_marks_one_cell_per_matrix() -> None:
    parsed = _Collector()
    parsed.feed(matrices_html(rating_path("Imminent", "Medium", "Minor")))
    assert parsed.highlighted == ["Medium", "Imminent", "Likely", "Minor", "Likely", "Moderate"]


def test_a_model_without_isa_classes_reports_why_there_is_no_rating() -> None:
    predictor = _predictor(["healthy", "sick"])
    result = assess_photo(predictor, gps_jpeg(1.0, 1.0), "t.jpg")
    page = build_report(result, model_summary(predictor, "m"), "Low", "Minor")
    assert "No ISA rating" in page and "not an ISA likelihood-of-failure" not in page  # two classes: plural wording
    assert "are not ISA likelihood-of-failure categories" in page
    assert "No metrics recorded" in page


@pytest.mark.browser
def test_report_prints_on_one_a4_page(report_html: str, tmp_path: Path) -> None:
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("Debian's chromium is not installed (make browser)")
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "report.html"
    page_file.write_text(report_html, encoding="utf-8")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(page_file.as_uri())
        pdf = page.pdf(format="A4")
        browser.close()
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
