"""Built-in synthetic roadside-tree scenes, labelled with a likelihood-of-failure class.

Real tree-risk photo sets are private, so TreeRisk ships a procedural generator: trees beside a road (often by a
utility pole and wires) with arborists' defects of known severity and location, scored into Improbable /
Possible / Probable (optionally Imminent) by a documented rule (:mod:`.scoring`). The scenes are synthetic: what
a model scores on them says nothing about real photos (docs/SYNTHETIC_MODEL_CARD.md).

    from lightning_module.synthetic import generate_dataset, ensure_synthetic_dataset
    ensure_synthetic_dataset(Path("data/synthetic"), n=458, seed=0)   # makes it on first use
"""

from .defects import DEFECT_DESCRIPTIONS, DEFECT_LABELS, DEFECTS
from .generate import (
    MANIFEST_COLUMNS,
    ensure_synthetic_dataset,
    generate_dataset,
    inspect_dataset,
    read_config,
    read_manifest,
)
from .options import GENERATOR_VERSION, SynthOptions
from .scoring import CLASS_THRESHOLDS, DEFECT_WEIGHTS, class_counts, class_names, classify, risk_score

__all__ = [
    "CLASS_THRESHOLDS",
    "DEFECTS",
    "DEFECT_DESCRIPTIONS",
    "DEFECT_LABELS",
    "DEFECT_WEIGHTS",
    "GENERATOR_VERSION",
    "MANIFEST_COLUMNS",
    "SynthOptions",
    "class_counts",
    "class_names",
    "classify",
    "ensure_synthetic_dataset",
    "generate_dataset",
    "inspect_dataset",
    "read_config",
    "read_manifest",
    "risk_score",
]
