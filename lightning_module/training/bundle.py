"""Turn a finished run into a small, self-describing checkpoint plus a model card (what ships in checkpoints/).

    python -m lightning_module bundle --run runs/bundled/version_0 --out checkpoints/seed_cnn_synthetic.ckpt

The bundle keeps the weights and hyper-parameters only (no optimiser state), so it is a fraction of the size,
and writes ``<out>.json`` with the run's metrics beside the majority baseline. An existing bundle is replaced
only with ``--replace``.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import torch

from lightning_module.files import atomic_write_json, read_json
from lightning_module.models.checkpoints import DATA_HPARAMS_KEY, read_checkpoint, read_data_description

RETRAIN_COMMAND = "make bundled-checkpoint"
# What the bundle keeps of the data module's settings: enough to tell which data trained the model, so that a test
# set made from the same synthetic seed can be refused (evaluation.independent_set); caches and loaders are local.
KEPT_DATA_SETTINGS = ("source", "seed", "synthetic_size")


def bundle_run(run_dir: Path, out: Path, replace: bool = False) -> Path:
    """Write the run's best checkpoint, slimmed, to ``out`` and its model card to ``out.with_suffix('.json')``."""
    run_dir, out = Path(run_dir), Path(out)
    record = read_json(run_dir / "run.json")
    if record is None or record.get("status") != "finished":
        raise ValueError(f"{run_dir} is not a finished run (run.json status: {record and record.get('status')})")
    if out.exists() and not replace:
        raise FileExistsError(f"{out} exists; pass --replace to replace it")
    best = run_dir / "checkpoints" / "best.ckpt"
    state, hparams = read_checkpoint(best)
    data_settings = read_data_description(best)
    training_data = {key: data_settings[key] for key in KEPT_DATA_SETTINGS if key in data_settings}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    torch.save({"state_dict": state, "hyper_parameters": hparams, DATA_HPARAMS_KEY: training_data}, tmp)
    tmp.replace(out)
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
    reference = _familiarity_reference(run_dir, out)
    if reference is not None:
        card["familiarity"] = reference
    atomic_write_json(out.with_suffix(".json"), card)
    return out


def _familiarity_reference(run_dir: Path, checkpoint: Path) -> dict | None:
    """Calibrate the unfamiliar-photo check on the run's validation photos (never seen in training)."""
    import csv

    from lightning_module.evaluation.familiarity import calibrate
    from lightning_module.evaluation.predictor import load_predictor

    listings = sorted((run_dir / "predictions").glob("val_epoch_*.csv"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    if not listings:
        return None
    with listings[-1].open(newline="") as handle:
        paths = [Path(row["path"]) for row in csv.DictReader(handle)]
    reference = calibrate(load_predictor(checkpoint), [p for p in paths if p.is_file()], source="validation photos")
    return reference.as_dict() if reference is not None else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lightning_module bundle", description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, type=Path, help="a finished run directory (runs/<name>/version_<n>)")
    parser.add_argument("--out", required=True, type=Path, help="where the bundled .ckpt goes")
    parser.add_argument("--replace", action="store_true", help="replace an existing bundle")
    args = parser.parse_args(argv)
    try:
        path = bundle_run(args.run, args.out, args.replace)
    except (ValueError, FileExistsError) as error:
        parser.exit(2, f"bundle: {error}\n")
    print(f"Bundled {args.run} -> {path} ({path.stat().st_size / 1e6:.1f} MB) and {path.with_suffix('.json')}")
    return 0
