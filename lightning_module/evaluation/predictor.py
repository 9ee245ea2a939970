"""``load_predictor(path)``: a checkpoint in, something that maps a photo to class probabilities out."""

from __future__ import annotations

import contextlib
import json
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from lightning_module.data.imaging import (
    MAX_PIXELS,
    PhotoSource,
    PreparedPhoto,
    load_square,
    load_views,
    load_views_overlapped,
)
from lightning_module.models.checkpoints import CheckpointError, read_checkpoint
from lightning_module.models.networks import TreeRiskNetwork, build_network, last_conv_layer


@dataclass
class Predictor:
    """A trained network with everything needed to use it: classes, input size, colour mode, provenance."""

    network: TreeRiskNetwork
    classes: list[str]
    image_size: int
    color_mode: str
    backbone: str
    scenario: str
    checkpoint: Path
    info: dict[str, Any] = field(default_factory=dict)  # run.json or model card metrics, when found
    # One network is shared by every dashboard session (st.cache_resource). Explanations hook its layers and
    # switch its activations for a moment, so each use of the network holds this lock: a concurrent session never
    # runs through another's hooks. Per model, so two models still answer at once.
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def prepare(self, source: PhotoSource | PreparedPhoto) -> PreparedPhoto:
        """Decode and crop a photo exactly as training did (raises ``PhotoError`` with a reason)."""
        if isinstance(source, PreparedPhoto):
            return source
        return load_square(source, self.image_size, self.color_mode)  # type: ignore[arg-type]

    def prepare_views(self, source: PhotoSource, display_side: int,
                      max_pixels: int = MAX_PIXELS) -> tuple[PreparedPhoto, Image.Image]:
        """The model's input and an upright display copy at most ``display_side`` pixels, from one decode."""
        return load_views(source, self.image_size, self.color_mode, display_side, max_pixels)  # type: ignore[arg-type]

    def prepare_views_overlapped(self, source: PhotoSource, display_side: int,
                                 max_pixels: int = MAX_PIXELS) -> tuple[PreparedPhoto, Future[Image.Image]]:
        """As :meth:`prepare_views`, with the display copy still being made (``imaging.load_views_overlapped``)."""
        return load_views_overlapped(source, self.image_size, self.color_mode, display_side,  # type: ignore[arg-type]
                                     max_pixels)

    def input_tensor(self, prepared: PreparedPhoto) -> torch.Tensor:
        """The (1, C, H, W) uint8 tensor the network takes."""
        array = prepared.as_array()
        tensor = torch.from_numpy(np.array(array))  # a writable copy
        tensor = tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)
        return tensor.unsqueeze(0)

    @torch.inference_mode()
    def predict_proba(self, source: PhotoSource | PreparedPhoto) -> np.ndarray:
        """Class probabilities, in the order of :attr:`classes`."""
        tensor = self.input_tensor(self.prepare(source))
        with self.lock:
            logits = self.network(tensor)
        return torch.softmax(logits.float(), dim=1)[0].numpy()

    @cached_property
    def explained_layer(self) -> torch.nn.Module:
        """The layer Grad-CAM uses: the network's last convolution."""
        return last_conv_layer(self.network)


def network_lock(predictor: Any) -> Any:
    """The predictor's lock on its shared network (see ``Predictor.lock``), or a no-op for a bare stand-in."""
    return getattr(predictor, "lock", None) or contextlib.nullcontext()


def load_predictor(path: Path | str) -> Predictor:
    """Rebuild the network from a TreeRisk checkpoint alone. Raises ``CheckpointError`` for anything else."""
    path = Path(path).expanduser()
    state, hparams = read_checkpoint(path)
    network = build_network(
        hparams["backbone"], len(hparams["class_names"]), hparams["color_mode"], int(hparams["image_size"]), pretrained=False
    )
    weights = {k.removeprefix("network."): v for k, v in state.items() if k.startswith("network.")}
    try:
        network.load_state_dict(weights)
    except RuntimeError as error:
        raise CheckpointError(f"Checkpoint {path} does not match its own network description: {error}") from None
    # Channels-last (NHWC) lets oneDNN's CPU convolutions run without reordering every activation: on 2 cores the
    # Assess page's SmoothGrad (16 samples, forward and backward) takes 0.6x the time for seed_cnn and 0.7x for
    # EfficientNet-Lite0, and batched prediction 0.6x, for the same outputs to float rounding.
    network.eval().to(memory_format=torch.channels_last)
    return Predictor(
        network=network,
        classes=list(hparams["class_names"]),
        image_size=int(hparams["image_size"]),
        color_mode=str(hparams["color_mode"]),
        backbone=str(hparams["backbone"]),
        scenario=str(hparams.get("scenario", "")),
        checkpoint=path,
        info=_provenance(path),
    )


def _provenance(checkpoint: Path) -> dict[str, Any]:
    """run.json of the run that wrote the checkpoint, or a model card JSON beside a bundled checkpoint."""
    for candidate in (checkpoint.parent.parent / "run.json", checkpoint.with_suffix(".json")):
        if candidate.is_file():
            try:
                return json.loads(candidate.read_text())
            except (OSError, ValueError):
                return {}
    return {}
