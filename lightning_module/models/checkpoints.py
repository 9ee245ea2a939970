"""Reading checkpoints safely: tensors and plain values only, never arbitrary pickled objects."""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

REQUIRED_HPARAMS = ("class_names", "backbone", "image_size", "color_mode")
DATA_HPARAMS_KEY = "datamodule_hyper_parameters"  # Lightning's key for the data module's saved settings


class CheckpointError(ValueError):
    """A file that is not a usable TreeRisk checkpoint; the message says why."""


def read_checkpoint(path: Path | str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(state_dict, hyper_parameters)`` of a TreeRisk checkpoint, loaded with ``weights_only=True``.

    A crafted pickle that would run code is refused by PyTorch's restricted unpickler, and reported here.
    """
    content = _load(Path(path).expanduser())
    hparams = dict(content.get("hyper_parameters") or {})
    missing = [key for key in REQUIRED_HPARAMS if key not in hparams]
    if missing:
        raise CheckpointError(f"Not a TreeRisk checkpoint: {Path(path).expanduser()} lacks {', '.join(missing)}")
    return content["state_dict"], hparams


def read_data_description(path: Path | str) -> dict[str, Any]:
    """The data module's settings saved with a checkpoint (``source``, ``seed``, ``synthetic_size``, ...), or {}.

    Lightning stores them under ``DATA_HPARAMS_KEY`` because the data module calls ``save_hyperparameters``;
    ``bundle`` keeps the part that says which data trained the model. Older bundles have none.
    """
    description = _load(Path(path).expanduser()).get(DATA_HPARAMS_KEY)
    return dict(description) if isinstance(description, dict) else {}


def read_checkpoint_content(path: Path | str) -> dict[str, Any]:
    """Everything a checkpoint holds (weights, hyper-parameters and entries such as ``"familiarity"``), loaded
    as safely as :func:`read_checkpoint`; for readers of those entries and for rewriting a bundle with one added."""
    return _load(Path(path).expanduser())


def _load(path: Path) -> dict[str, Any]:
    """The checkpoint's top-level dictionary, loaded safely; raises ``CheckpointError`` with the reason."""
    if not path.is_file():
        raise CheckpointError(f"Checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"Checkpoint is empty (0 bytes): {path}")
    with path.open("rb") as handle:
        head = handle.read(2)
    if not zipfile.is_zipfile(path) and not head.startswith(b"\x80"):
        raise CheckpointError(f"Not a valid checkpoint file: {path} is not a PyTorch file")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        culprit = re.search(r"(?:Unsupported global|GLOBAL) ?:? ?(\S+)", str(error))
        detail = f" ({culprit.group(1).rstrip('.,')})" if culprit else ""
        raise CheckpointError(
            f"Refused to load {path}: it contains Python objects other than tensors and plain values{detail}, "
            "which could run code. Only TreeRisk checkpoints are accepted."
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as error:
        raise CheckpointError(f"Not a valid checkpoint file: {path} ({str(error).splitlines()[0]})") from None
    if not isinstance(content, dict) or "state_dict" not in content:
        raise CheckpointError(f"Not a TreeRisk checkpoint (no model weights inside): {path}")
    return content
