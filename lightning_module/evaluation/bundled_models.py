"""The models that ship in ``checkpoints/``: which files, what each is, and how each is rebuilt.

Two models ship, so that stakeholders see the lab's network and ours side by side on the same independent test:

* the **default**, the model the dashboard opens with and the benches measure unless told otherwise;
* the **lab reference**, the lab's own network (seed_cnn, 108 px grayscale) trained on the same scenes.

Both are rebuilt by ``make bundled-checkpoint`` from the config named here. The list lives in one place so that
the dashboard, the benches, the Makefile's comments and the tests cannot disagree about which file is which.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The package is used from a checkout (editable install): checkpoints/ sits beside it.
CHECKPOINTS_DIR = Path(__file__).resolve().parents[2] / "checkpoints"


@dataclass(frozen=True)
class BundledModel:
    """One shipped checkpoint (``file_name`` in ``checkpoints/``) and the config that trains it."""

    file_name: str
    title: str
    config: str

    @property
    def path(self) -> Path:
        return CHECKPOINTS_DIR / self.file_name


DEFAULT_MODEL = BundledModel(
    "efficientnet_lite0_synthetic.ckpt",
    "TreeRisk default · EfficientNet-Lite0, colour, 128 px, trained on synthetic trees",
    "configs/bundled.yaml",
)
LAB_REFERENCE_MODEL = BundledModel(
    "seed_cnn_synthetic.ckpt",
    "Lab reference · seed_cnn, grayscale, 108 px, trained on the same synthetic trees",
    "configs/bundled_seed_cnn.yaml",
)
BUNDLED_MODELS: tuple[BundledModel, ...] = (DEFAULT_MODEL, LAB_REFERENCE_MODEL)


def bundled_checkpoints(folder: Path = CHECKPOINTS_DIR) -> list[tuple[BundledModel, Path]]:
    """The shipped models present in ``folder``, default first."""
    return [(model, folder / model.file_name) for model in BUNDLED_MODELS if (folder / model.file_name).is_file()]
