"""``--model.compile``: the network runs through torch.compile, trains, and its checkpoint is the plain network's.

Slow: compiling even the small seed_cnn takes minutes of a 2-core CPU. Skipped where torch.compile cannot work
(no C++ compiler for its CPU code generator, or a platform it does not support).
"""

from __future__ import annotations

import pytorch_lightning as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_module.models.classifier import LikelihoodOfFailureClassifier

pytestmark = pytest.mark.slow
CLASSES = ["Improbable", "Possible", "Probable"]


def _compile_works() -> str | None:
    """None when torch.compile runs here, else why not."""
    try:
        torch.compile(lambda x: x * 2 + 1)(torch.ones(2))
    except Exception as error:  # noqa: BLE001 - any failure means: not on this machine
        return f"torch.compile does not work on this machine: {type(error).__name__}: {error}"
    return None


def test_a_compiled_model_trains_a_step_and_saves_the_plain_networks_parameters(tmp_path) -> None:
    reason = _compile_works()
    if reason:
        pytest.skip(reason)
    torch.manual_seed(0)
    model = LikelihoodOfFailureClassifier(CLASSES, image_size=32, color_mode="grayscale", compile=True)
    plain_keys = list(model.state_dict())
    before = {k: v.clone() for k, v in model.network.state_dict().items()}
    images = torch.randint(0, 256, (8, 1, 32, 32), dtype=torch.uint8)
    data = DataLoader(TensorDataset(images, torch.arange(8) % 3, torch.arange(8)), batch_size=8)
    trainer = pl.Trainer(max_steps=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                         default_root_dir=tmp_path)
    trainer.fit(model, train_dataloaders=data)

    assert model._network_compiled and model.hparams.compile
    assert list(model.state_dict()) == plain_keys  # compiled in place: no "_orig_mod." in a checkpoint
    changed = [k for k, v in model.network.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert changed, "one optimiser step should change the weights"
    probabilities = model(images[:2])
    assert probabilities.shape == (2, 3) and torch.allclose(probabilities.sum(1), torch.ones(2))
