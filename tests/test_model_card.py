"""checkpoints/README.md quotes the bundled models' measured cards, and nothing typed by hand."""

from __future__ import annotations

from lightning_module.evaluation.bundled_models import BUNDLED_MODELS, CHECKPOINTS_DIR, DEFAULT_MODEL
from lightning_module.evaluation.model_card import render_model_cards
from lightning_module.files import read_json


def test_the_model_card_page_is_what_the_measured_cards_render() -> None:
    page = (CHECKPOINTS_DIR / "README.md").read_text()
    assert page == render_model_cards(), (
        "checkpoints/README.md is out of date: python -m lightning_module.evaluation.model_card "
        "--write checkpoints/README.md")


def test_every_bundled_model_is_shipped_measured_and_named_on_the_page() -> None:
    page = (CHECKPOINTS_DIR / "README.md").read_text()
    for model in BUNDLED_MODELS:
        card = read_json(model.path.with_suffix(".json"))
        assert card is not None and model.path.is_file(), model.file_name
        figure = card["independent_test"]["model"]["balanced_accuracy"]["value"]
        assert f"{figure:.3f}" in page and model.file_name in page
        assert card["independent_test"]["test_set"]["seed"] != card["training_data"]["seed"]  # never its own seed
    assert DEFAULT_MODEL.path.stat().st_size <= 20e6  # the brief's limit for a bundled checkpoint
