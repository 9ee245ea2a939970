"""The independent test set: synthetic scenes from a seed no training uses, and the check that it is independent.

A figure measured on the scenes a model was trained on, or on other scenes drawn from the same generator seed,
says how well the model remembers, not how well it rates trees. So model quality is measured on one fixed set,
``data/independent-n1000-seed9001``, made on first use by the ordinary generator, and a checkpoint whose training
data came from that seed is refused. Which data trained a checkpoint is read from, in order:

1. the checkpoint: Lightning saves the data module's settings (``source``, ``seed``, ``synthetic_size``) under
   ``datamodule_hyper_parameters``, and ``bundle`` keeps them in a bundled checkpoint;
2. the model card or run.json beside it (``training_data``; older cards only name the data folder, as in
   ``synthetic (data/synthetic-n458-seed0)``, whose name the data module builds from the size and seed).

When none of these says, the result carries a warning instead of a refusal: the check cannot prove either way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning_module.models.checkpoints import read_data_description
from lightning_module.synthetic import ensure_synthetic_dataset, read_config

# The built-in training data (configs/*.yaml, the data module's default) and the grid use seed 0, and
# the first pointing-game bench held out seed 1: a seed far from the small numbers people pick keeps this set unseen.
INDEPENDENT_SEED = 9001
# In the generator's default class shares (the lab's 322 : 80 : 56), 1000 scenes give 703 Improbable, 175 Possible
# and 122 Probable photos: enough Probable trees for a recall interval a few points wide.
INDEPENDENT_SIZE = 1000
# The generator's default photo size (a phone photo scaled to 640x480); the folder name says when it differs.
DEFAULT_WIDTH, DEFAULT_HEIGHT = 640, 480
SYNTHETIC = "synthetic"  # the data module's name for the built-in generator as a source
# The data module names its synthetic folder ``synthetic-n<size>-seed<seed>``; older model cards only keep that name.
_SYNTHETIC_FOLDER = re.compile(r"synthetic-n(\d+)-seed(\d+)")


class IndependentSetError(ValueError):
    """The independent set cannot score this checkpoint honestly; the message says why and what to do."""


def independent_set_dir(
    root: Path | str = "data", n: int = INDEPENDENT_SIZE, width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT
) -> Path:
    """Where the independent set of ``n`` scenes lives under ``root``."""
    size = "" if (width, height) == (DEFAULT_WIDTH, DEFAULT_HEIGHT) else f"-{width}x{height}"
    return Path(root) / f"independent-n{n}-seed{INDEPENDENT_SEED}{size}"


def ensure_independent_set(
    root: Path | str = "data", *, n: int = INDEPENDENT_SIZE, width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT
) -> Path:
    """The independent set's folder under ``root``, generated on first use (about 10 s for 1000 scenes).

    ``n``, ``width`` and ``height`` exist for tests and quick looks; figures worth quoting use the defaults.
    """
    return ensure_synthetic_dataset(independent_set_dir(root, n, width, height), n=n, seed=INDEPENDENT_SEED,
                                    width=width, height=height)


@dataclass(frozen=True)
class TrainingData:
    """What is known about the data that trained a checkpoint."""

    source: str | None  # "synthetic", a folder or manifest path; None when unknown
    seed: int | None  # the synthetic generator's seed; None for real photos or when unknown
    synthetic_size: int | None
    found_in: str  # where it was read, in words; "" when unknown
    folder_missing: bool = False  # a folder source that is not on this machine, so its seed could not be read

    @property
    def known(self) -> bool:
        return self.source is not None

    def describe(self) -> str:
        if not self.known:
            return "unknown training data"
        if self.seed is None and self.source == SYNTHETIC:
            return "trained on synthetic data of an unrecorded seed"
        if self.seed is None:
            return f"trained on {self.source} (not generated synthetic data)"
        size = f", {self.synthetic_size} scenes" if self.synthetic_size else ""
        return f"trained on synthetic seed {self.seed}{size} (from the {self.found_in})"

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "seed": self.seed, "synthetic_size": self.synthetic_size,
                "found_in": self.found_in or None}


UNKNOWN = TrainingData(source=None, seed=None, synthetic_size=None, found_in="")


def training_data_of(checkpoint: Path | str, info: Mapping[str, Any] | None = None) -> TrainingData:
    """Which data trained ``checkpoint``: from the checkpoint itself, else ``info`` (its model card or run.json)."""
    settings = read_data_description(checkpoint)
    if settings.get("source") is not None:
        return _from_settings(settings, "checkpoint")
    info = info if isinstance(info, Mapping) else {}
    card_settings = info.get("training_data")
    if isinstance(card_settings, Mapping) and card_settings.get("source") is not None:
        return _from_settings(card_settings, "model card")
    data = info.get("data") if isinstance(info.get("data"), Mapping) else {}
    for text in (info.get("trained_on"), data.get("description")):
        match = _SYNTHETIC_FOLDER.search(str(text or ""))
        if match:
            size, seed = int(match.group(1)), int(match.group(2))
            return TrainingData(SYNTHETIC, seed, size, "data folder's name in the model card")
    return UNKNOWN


def _from_settings(settings: Mapping[str, Any], found_in: str) -> TrainingData:
    source = str(settings["source"])
    size = settings.get("synthetic_size")
    size = int(size) if isinstance(size, int) else None
    if source == SYNTHETIC:
        seed = settings.get("seed")
        return TrainingData(source, int(seed) if isinstance(seed, int) else None, size, found_in)
    # A folder or manifest: it may itself be a generated set (``synth --out``), which says its seed.
    folder = Path(source).expanduser()
    folder = folder.parent if folder.suffix.lower() == ".csv" else folder
    config = read_config(folder) or {}
    seed = (config.get("options") or {}).get("seed") if isinstance(config.get("options"), Mapping) else None
    if isinstance(seed, int):
        size = config["options"].get("n")
        return TrainingData(source, seed, size if isinstance(size, int) else None,
                            f"{found_in}, via {folder}/synth_config.json")
    if not folder.exists():
        return TrainingData(source, None, None, found_in, folder_missing=True)
    return TrainingData(source, None, None, found_in)


def check_independence(training: TrainingData, seed: int = INDEPENDENT_SEED) -> str | None:
    """Refuse a checkpoint trained on synthetic ``seed``; return a warning when that cannot be told, else None."""
    if training.seed == seed:
        raise IndependentSetError(
            f"This checkpoint was trained on synthetic scenes from seed {seed} ({training.found_in}), the seed of the "
            f"independent test set, so its figures would not be independent. Train on another seed (data.seed) "
            f"or measure it on data it has not seen."
        )
    if not training.known:
        return (f"Could not tell which data trained this checkpoint (no data settings in it or in its model card): "
                f"the figures are independent only if it was not trained on synthetic seed {seed}.")
    if training.seed is None and training.source == SYNTHETIC:
        return (f"The checkpoint was trained on synthetic data but does not record its seed: the figures are "
                f"independent only if that seed was not {seed}.")
    if training.folder_missing:
        return (f"Trained on {training.source}, which is not here to check: the figures are independent only if "
                f"that folder was not generated with seed {seed}.")
    return None
