"""The measured part of a bundled model's card: the independent test and which defects the model uses.

``add_measurements(checkpoint)`` runs the independent test protocol (:mod:`.model_quality`) and the defect-reliance
ablation (:mod:`.defect_reliance`) on the bundled checkpoint and writes both into its card
(``<checkpoint>.json``) under ``"independent_test"`` and ``"defect_reliance"``. Both are measured on synthetic
scenes from a seed that no training uses, never on the training generator's seed, so these are the figures the
model card and the README quote. Re-bundling then re-measuring replaces them; nothing else in the card changes.

``render_model_cards()`` turns the measured cards into checkpoints/README.md (template:
``templates/model_card.md.j2``), so the page quotes the measurements and nothing typed by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning_module.evaluation.bundled_models import CHECKPOINTS_DIR, bundled_checkpoints
from lightning_module.evaluation.defect_reliance import DefectRelianceReport, measure_defect_reliance
from lightning_module.evaluation.defect_reliance_card import CARD_KEY as RELIANCE_KEY
from lightning_module.evaluation.defect_reliance_card import markdown_table
from lightning_module.evaluation.model_quality import measure_checkpoint_quality
from lightning_module.evaluation.predictor import load_predictor
from lightning_module.files import atomic_write_json, atomic_write_text, read_json

QUALITY_KEY = "independent_test"


def add_measurements(checkpoint: Path | str, data_root: Path | str = "data", reliance_limit: int | None = None) -> dict[str, Any]:
    """Measure ``checkpoint`` on the independent set and merge the results into its card; returns the card."""
    checkpoint = Path(checkpoint)
    card_path = checkpoint.with_suffix(".json")
    card = read_json(card_path) or {}
    quality = measure_checkpoint_quality(checkpoint, data_root)
    print(quality.format_text(), flush=True)
    reliance = measure_defect_reliance(load_predictor(checkpoint), limit=reliance_limit)
    card[QUALITY_KEY] = quality.to_json()
    card[RELIANCE_KEY] = reliance.to_json()
    atomic_write_json(card_path, card)
    return card


# What the comparison learnt before the full runs (validation split of seed 0, 2-core CPU). Kept here, beside the
# template, because no card measures it: it is the record of the choice, re-measured only by a new study.
EXPLORATION = """\
| candidate | scenes | epochs | validation balanced accuracy | note |
| --- | ---: | ---: | --- | --- |
| seed_cnn, 108 px grayscale, constant learning rate (the old bundle) | 458 | 40 | 0.595 | underfits: training balanced accuracy was as low |
| small ResNet from scratch, 128 px colour (1.2 M parameters) | 5,000 | 2 of 12 | 0.547 | stopped: too slow to converge within the CPU budget |
| EfficientNet-Lite0 from ImageNet, 128 px colour, one-cycle | 5,000 | 4 | 0.896 | the pretrained features learn in a few epochs |
| EfficientNet-Lite0 from ImageNet, 128 px colour, one-cycle (the previous default) | 10,000 | 8 | 0.924 | before the operating point; independent set 0.880 with it: under the target |
| EfficientNet-Lite0 from ImageNet, 128 px colour, one-cycle (the default's recipe) | 20,000 | 8 | 0.935 | before the operating point |
| EfficientNet-Lite0 from ImageNet, 160 px colour, one-cycle | 10,000 | 8 | 0.925 | no better than 128 px, at 1.6 × the training time: not chosen |
"""


def _estimate(value: dict[str, Any] | None) -> str:
    if not value or value.get("value") is None:
        return "–"
    return f"{value['value']:.3f} [{value['low']:.3f}, {value['high']:.3f}]"


def _offsets_text(point: dict[str, Any]) -> str:
    """"+1.35 on the Probable logit, +0.25 on Possible": the non-zero offsets, the costly class first."""
    offsets = point.get("offsets") or {point["costly_class"]: point["bias"]}
    others = [f"{value:+.2f} on {name}" for name, value in offsets.items() if value and name != point["costly_class"]]
    return ", ".join([f"{point['bias']:+.2f} on the {point['costly_class']} logit", *others])


def _model_rows(model: Any, card: dict[str, Any]) -> dict[str, Any]:
    test = card[QUALITY_KEY]
    scores, baseline = test["model"], test["baseline"]
    size_mb = model.path.stat().st_size / 1e6 if model.path.is_file() else 0
    data = card.get("training_data") or {}
    splits = card.get("split_sizes") or {}
    point = card.get("operating_point")
    familiarity = card.get("familiarity") or {}
    reliance = card.get(RELIANCE_KEY)
    config = _read_config(model.config)
    return {
        "title": model.title.split(" · ")[0], "file": model.file_name, "backbone": card["model"],
        "pretrained": config.get("pretrained") == "imagenet",
        "input": f"{card['image_size']} px {card['color_mode']}", "scenes": data.get("synthetic_size", "?"),
        "seed": data.get("seed", "?"), "classes": ", ".join(card["classes"]), "scenario": card.get("scenario"),
        "splits": ", ".join(f"{n} {k}" for k, n in ((k, sum(v.values()) if isinstance(v, dict) else v)
                                                    for k, v in splits.items())),
        "recipe": _recipe(config, card), "config": model.config,
        "operating_point": (f"{_offsets_text(point)}, chosen on {point['photos']} "
                            f"validation photos: {point['costly_class']} recall {point['recall_before']:.3f} → "
                            f"{point['recall_after']:.3f}, balanced accuracy {point['balanced_accuracy_before']:.3f} → "
                            f"{point['balanced_accuracy_after']:.3f}") if point else "none (plain arg-max)",
        "familiarity": _familiarity_text(familiarity),
        "bal": _estimate(scores["balanced_accuracy"]), "f1": _estimate(scores["macro_f1"]),
        "probable": _estimate(scores.get("probable_recall")), "size": f"{size_mb:.1f} MB",
        "metrics": [("balanced accuracy", _estimate(scores["balanced_accuracy"]), _estimate(baseline["balanced_accuracy"])),
                    ("macro F1", _estimate(scores["macro_f1"]), _estimate(baseline["macro_f1"]))]
                   + [(f"recall {name}", _estimate(est), _estimate(baseline["recall"].get(name)))
                      for name, est in scores["recall"].items()],
        "confusion_classes": test["confusion"]["classes"],
        "confusion": [[name, *row] for name, row in zip(test["confusion"]["classes"], test["confusion"]["matrix"])],
        "per_defect": [(r["defect"].replace("_", " "), r["photos"], "–" if r["recall"] is None else f"{r['recall']:.3f}")
                       for r in test["recall_per_defect"]],
        "reliance": markdown_table(DefectRelianceReport.from_json(reliance)) if reliance and "format" in reliance else "",
        "targets": "; ".join(f"{t['name']}: {t['value']:.3f}, {'met' if t['met'] else 'not met'}"
                             for t in test.get("targets", []) if t.get("value") is not None),
    }


def _familiarity_text(summary: dict[str, Any]) -> str:
    if not summary:
        return "not calibrated"
    shown = {k: (f"{v:.3g}" if isinstance(v, float) else v) for k, v in summary.items()
             if isinstance(v, (int, float, str)) and "energy" not in k}
    parts = [f"{k.replace('_', ' ')} {v}" for k, v in shown.items()][:6]
    return "calibrated on validation photos: " + "; ".join(parts)


def _recipe(config: dict[str, Any], card: dict[str, Any]) -> str:
    schedule = "one-cycle learning rate" if config.get("lr_schedule") == "one_cycle" else "constant learning rate"
    cost = ", ".join(f"{k} × {v}" for k, v in (config.get("class_cost") or {}).items())
    parts = [f"{card.get('epochs', '?')} epochs", f"Adam, peak learning rate {config.get('lr', '?')}", schedule,
             "class-weighted loss" + (f" with extra cost {cost}" if cost else ""),
             f"label smoothing {config.get('label_smoothing', 0)}", "augmentation on the training split only"]
    return ", ".join(parts)


def _read_config(config: str) -> dict[str, Any]:
    """The ``model:`` section of a bundled model's config (its recipe), or {} when unreadable."""
    import yaml

    try:
        document = yaml.safe_load((CHECKPOINTS_DIR.parent / config).read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    return document.get("model") or {}


def render_model_cards() -> str:
    """checkpoints/README.md from the measured cards of the bundled models (those present and measured)."""
    from jinja2 import Environment, FileSystemLoader

    rows, first = [], None
    for model, path in bundled_checkpoints():
        card = read_json(path.with_suffix(".json")) or {}
        if QUALITY_KEY not in card:
            raise ValueError(f"{path.with_suffix('.json')} has no independent-test figures: run "
                             f"`python -m lightning_module bundle --measure` or add_measurements first")
        rows.append(_model_rows(model, card))
        first = first or card[QUALITY_KEY]
    if first is None:
        raise ValueError(f"no bundled model in {CHECKPOINTS_DIR}")
    environment = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=False,
                              keep_trailing_newline=True)
    return environment.get_template("model_card.md.j2").render(
        models=rows, photos=first["test_set"]["photos"], seed=first["test_set"]["seed"],
        baseline_class=first["baseline"]["class"], baseline_bal=_estimate(first["baseline"]["balanced_accuracy"]),
        baseline_f1=_estimate(first["baseline"]["macro_f1"]), exploration=EXPLORATION.strip(),
    )


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m lightning_module.evaluation.model_card",
                                     description="Write checkpoints/README.md from the bundled models' measured cards.")
    parser.add_argument("--write", type=Path, help="where to write the page (default: print it)")
    args = parser.parse_args(argv)
    try:
        text = render_model_cards()
    except ValueError as error:
        parser.exit(2, f"model_card: {error}\n")
    if args.write:
        atomic_write_text(args.write, text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
