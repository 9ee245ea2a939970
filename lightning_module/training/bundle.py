"""Turn a finished run into a small, self-describing checkpoint plus a model card (what ships in checkpoints/).

    python -m lightning_module bundle --run runs/bundled/version_0 --out checkpoints/seed_cnn_synthetic.ckpt

The bundle keeps the weights and hyper-parameters only (no optimiser state), so it is a fraction of the size,
and writes ``<out>.json`` with the run's metrics beside the majority baseline. An existing bundle is replaced
only with ``--replace``.

The unfamiliar-photo check is calibrated here, on the run's validation photos (listed in its ``predictions/``,
never seen in training), and the calibration goes into the checkpoint under ``"familiarity"`` (tensors and plain
values, so the checkpoint alone rebuilds the check) with a summary in the model card. Bundling the same run again
gives the same calibration: the same photos, in the same order, give the same statistics.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import torch

from lightning_module.evaluation.familiarity import CHECKPOINT_KEY, FamiliarityReference, calibrate, validation_photos
from lightning_module.evaluation.operating_point import (
    OperatingPoint,
    calibrate_operating_point,
    labelled_validation_photos,
)
from lightning_module.evaluation.predictor import load_predictor
from lightning_module.files import atomic_write_json, read_json, remove_stale_temporaries, writing_atomically
from lightning_module.models.checkpoints import DATA_HPARAMS_KEY, read_checkpoint, read_data_description

RETRAIN_COMMAND = "make bundled-checkpoint"
# What the bundle keeps of the data module's settings: enough to tell which data trained the model, so that a test
# set made from the same synthetic seed can be refused (evaluation.independent_set); caches and loaders are local.
KEPT_DATA_SETTINGS = ("source", "seed", "synthetic_size")
# The model card is also written by the measuring and calibrating commands; a temporary file of it that nobody has
# written to for this long was left by a killed one. (The bundle itself has no other writer.)
CARD_QUIET_SECONDS = 60.0


def bundle_run(run_dir: Path, out: Path, replace: bool = False) -> Path:
    """Write the run's best checkpoint, slimmed, to ``out`` and its model card to ``out.with_suffix('.json')``."""
    run_dir, out = Path(run_dir), Path(out)
    record = read_json(run_dir / "run.json")
    if record is None or record.get("status") != "finished":
        raise ValueError(f"{run_dir} is not a finished run (run.json status: {record and record.get('status')})")
    if out.exists() and not replace:
        raise FileExistsError(f"{out} exists; pass --replace to replace it")
    remove_stale_temporaries(out.parent, out.name)  # what a killed bundling left half-written
    remove_stale_temporaries(out.parent, out.with_suffix(".json").name, older_than=CARD_QUIET_SECONDS)
    best = run_dir / "checkpoints" / "best.ckpt"
    state, hparams = read_checkpoint(best)
    operating_point = _operating_point(best)
    if operating_point is not None:
        state["network.decision_bias"] = operating_point[1]
    data_settings = read_data_description(best)
    training_data = {key: data_settings[key] for key in KEPT_DATA_SETTINGS if key in data_settings}
    content = {"state_dict": state, "hyper_parameters": hparams, DATA_HPARAMS_KEY: training_data}
    reference = _familiarity_reference(best, operating_point[1] if operating_point is not None else None)
    if reference is not None:
        content[CHECKPOINT_KEY] = reference.to_checkpoint_entry()
    with writing_atomically(out) as handle:
        torch.save(content, handle)
    data_report = read_json(run_dir / "data_report.json") or {}
    card = {
        "model": hparams["backbone"],
        "classes": hparams["class_names"],
        "scenario": hparams.get("scenario"),
        "image_size": hparams["image_size"],
        "color_mode": hparams["color_mode"],
        "trained_on": data_report.get("source", record.get("data", {}).get("description")),
        "synthetic_data": record.get("data", {}).get("source") == "synthetic",
        "training_data": training_data or None,
        "split_sizes": record.get("split_sizes"),
        "best": record.get("best"),
        "test": record.get("test"),
        "majority_baseline": record.get("majority_baseline"),
        "collapsed": record.get("collapsed"),
        "epochs": (record.get("current_epoch") or 0) + 1,
        "bundled_on": date.today().isoformat(),
        "retrain": RETRAIN_COMMAND,
        "status": "finished",
    }
    if reference is not None:
        card[CHECKPOINT_KEY] = reference.summary()
    if operating_point is not None:
        card["operating_point"] = operating_point[0].to_json()
    atomic_write_json(out.with_suffix(".json"), card)
    return out


def _operating_point(best: Path) -> tuple[OperatingPoint, torch.Tensor] | None:
    """Favour the costly class as far as the run's validation photos justify (see evaluation.operating_point)."""
    rows = labelled_validation_photos(best)
    predictor = load_predictor(best)
    point = calibrate_operating_point(predictor, [path for path, _ in rows], [label for _, label in rows]) if rows else None
    return None if point is None else (point, predictor.network.decision_bias.clone())


def _familiarity_reference(best: Path, decision_bias: torch.Tensor | None = None) -> FamiliarityReference | None:
    """Calibrate the unfamiliar-photo check on the run's validation photos; None when they are not on this machine.

    With the bundle's operating point in place: the check groups photos by the class the model predicts, and the
    bundled model predicts with it.
    """
    photos = validation_photos(best)
    if not photos:
        return None
    predictor = load_predictor(best)
    if decision_bias is not None:
        predictor.network.decision_bias.copy_(decision_bias)
    return calibrate(predictor, photos, source="validation photos")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lightning_module bundle", description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, type=Path, help="a finished run directory (runs/<name>/version_<n>)")
    parser.add_argument("--out", required=True, type=Path, help="where the bundled .ckpt goes")
    parser.add_argument("--replace", action="store_true", help="replace an existing bundle")
    parser.add_argument("--measure", action="store_true",
                        help="also score the bundle on the independent synthetic test set and measure which defects "
                             "it uses, into its model card (a few minutes on a CPU)")
    args = parser.parse_args(argv)
    try:
        path = bundle_run(args.run, args.out, args.replace)
    except (ValueError, FileExistsError) as error:
        parser.exit(2, f"bundle: {error}\n")
    print(f"Bundled {args.run} -> {path} ({path.stat().st_size / 1e6:.1f} MB) and {path.with_suffix('.json')}")
    if args.measure:
        from lightning_module.evaluation.model_card import add_measurements

        add_measurements(path)
        print(f"Measured on the independent set: {path.with_suffix('.json')}")
    if CHECKPOINT_KEY not in (read_json(path.with_suffix(".json")) or {}):
        print("The run's validation photos are not on this machine, so the unfamiliar-photo check is not calibrated: "
              f"python -m lightning_module.evaluation.familiarity {path} VALIDATION_PHOTOS --write")
    return 0
