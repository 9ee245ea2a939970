"""Which defects does the model use? How its rating moves when one defect is taken away from a scene.

For every tree of the independent set (synthetic seed 9001, :mod:`.independent_set`) that has a given defect, the
same photo is drawn again with that defect alone removed (:func:`lightning_module.synthetic.redraw.redraw`: same
street, light, framing, tree and other defects) and both photos are rated. Two drops are measured on each tree:

* **true-class drop**: ``P(true class | photo) - P(true class | photo without it)``; does the defect help the model
  to the right answer? The true class is the tree's own (the class the generator scored it into).
* **risk drop**: the same difference of the model's *predicted risk*, its expected class position scaled to
  [0, 1] (``sum_k k * p_k / (K - 1)`` over classes in order of rising likelihood of failure: 0 = surely the least
  risky class, 1 = surely the riskiest); does the model read the defect as a sign of risk?

The verdict rests on the risk drop, because the true-class drop changes sign with the class: taking a cavity out of
a Probable tree should lower P(Probable), but taking a slight one out of an Improbable tree *raises* P(Improbable)
in a model that reads cavities as risk. Averaged over all trees the two cancel (the seed_cnn bundled in 2026: +0.50
on Probable trees, -0.22 on Improbable ones, mean 0.00) though the model plainly uses the cavity. The risk drop of
a model that uses a defect is positive on trees of every class. Both are reported, with the true-class drop per
class; ``label_changes`` counts the trees the generator itself would put in a lower class without the defect.

Per defect and measure: the mean over the trees that have the defect, a 95 % percentile-bootstrap interval over
trees (:data:`RESAMPLES` resamples, fixed seed, so a rerun gives the same interval) and the count. A defect is
**ignored** when the risk drop's interval includes 0 or its mean is smaller than :data:`IGNORE_BELOW` either way
(a negative one means the model reads the defect as a sign of soundness); with fewer than :data:`MIN_TREES` trees
it is **too few to tell**.

The photos are drawn afresh from the seed rather than read from ``data/independent-n1000-seed9001``: the originals
are byte-identical to those files (tested), and nothing needs to be on disk. A checkpoint trained on the scanned
seed is refused (:func:`.independent_set.check_independence`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lightning_module.data.categories import ISA_CATEGORIES, canonical_class_name, isa_category_of
from lightning_module.evaluation.independent_set import (
    INDEPENDENT_SEED,
    INDEPENDENT_SIZE,
    UNKNOWN,
    check_independence,
    training_data_of,
)
from lightning_module.evaluation.predictor import Predictor
from lightning_module.files import atomic_write_json, read_json
from lightning_module.models.checkpoints import CheckpointError
from lightning_module.synthetic import DEFECTS, SynthOptions
from lightning_module.synthetic.redraw import Scene, present_defects, redraw, scenes, tree_spec

# A mean drop smaller than one percentage point of probability either way is too small to call use, however
# tight its interval (a 1000-tree set makes tiny effects "significant").
IGNORE_BELOW = 0.01
CONFIDENCE = 0.95
RESAMPLES = 2000
BOOTSTRAP_SEED = 0
# Under this many trees with a defect, an interval means little: the defect is reported as too few to tell.
MIN_TREES = 5
# Photos rated per forward pass: small enough for any backbone on a CPU, large enough to amortise the call.
BATCH = 32
FORMAT = "treerisk.defect_reliance/1"
MEASURE = ("per tree, when one defect alone is removed: the drop in P(true class) (mean_drop) and in the predicted "
           "risk, the expected class position in [0, 1] (risk_drop); the verdict rests on risk_drop")

USES, IGNORES, TOO_FEW = "uses", "ignores", "too few to tell"


@dataclass(frozen=True)
class ClassDrop:
    """The mean drops over the trees of one true class."""

    trees: int
    mean_drop: float  # true-class drop
    risk_drop: float


@dataclass(frozen=True)
class DefectReliance:
    """How much the model relies on one defect, over the trees that have it (means are None when none has it)."""

    defect: str
    trees: int
    mean_drop: float | None  # true-class drop, with its bootstrap interval's ends
    low: float | None
    high: float | None
    risk_drop: float | None  # predicted-risk drop, with its interval: the verdict's measure
    risk_low: float | None
    risk_high: float | None
    verdict: str  # USES, IGNORES or TOO_FEW
    label_changes: int  # trees the generator would put in a lower class without this defect
    by_class: dict[str, ClassDrop] = field(default_factory=dict)


@dataclass(frozen=True)
class DefectRelianceReport:
    """The reliance of one checkpoint on every defect, and how it was measured."""

    checkpoint: str
    backbone: str
    classes: list[str]
    seed: int  # the generator seed of the scanned scenes
    dataset_size: int  # trees in that dataset
    trees_scanned: int  # the first this many were scanned (``limit``)
    trees_with_defects: int
    photos_rated: int
    defects: tuple[DefectReliance, ...]
    checkpoint_stamp: str  # size and modification time: a cached report of a rewritten checkpoint is stale
    warning: str | None = None  # e.g. the training data could not be told
    seconds: float = 0.0
    measured_on: str = ""
    confidence: float = CONFIDENCE
    resamples: int = RESAMPLES
    ignore_below: float = IGNORE_BELOW

    def named(self, verdict: str) -> list[str]:
        """The defects with ``verdict`` (:data:`USES`, :data:`IGNORES`, :data:`TOO_FEW`), in the generator's order."""
        return [d.defect for d in self.defects if d.verdict == verdict]

    @property
    def ignored(self) -> list[str]:
        return self.named(IGNORES)

    @property
    def used(self) -> list[str]:
        return self.named(USES)

    def to_json(self) -> dict[str, Any]:
        """The JSON-able record (docs/BENCHMARKS.md shows its shape)."""
        record = asdict(self)
        record["defects"] = [asdict(d) for d in self.defects]
        return {"format": FORMAT, "measure": MEASURE, **record,
                "uses": self.used, "ignores": self.ignored, "too_few": self.named(TOO_FEW)}

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> DefectRelianceReport:
        """Rebuild a report from :meth:`to_json`'s record; raises ``ValueError`` for anything else."""
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise ValueError("not a defect-reliance record")
        try:
            defects = tuple(
                DefectReliance(**{**d, "by_class": {k: ClassDrop(**v) for k, v in (d.get("by_class") or {}).items()}})
                for d in record["defects"])
            fields = {k: record[k] for k in cls.__dataclass_fields__ if k in record and k != "defects"}
            return cls(defects=defects, **fields)
        except (KeyError, TypeError) as error:
            raise ValueError(f"damaged defect-reliance record ({error})") from None


def checkpoint_stamp(path: Path | str) -> str:
    """``<bytes>-<mtime ns>`` of a checkpoint, or "" when it cannot be read."""
    try:
        status = Path(path).stat()
    except OSError:
        return ""
    return f"{status.st_size}-{status.st_mtime_ns}"


def class_index(label: str, classes: Sequence[str]) -> int | None:
    """The model class a generator label belongs to, merged classes (``Probable+Possible``) included."""
    label = canonical_class_name(label)
    for index, name in enumerate(classes):
        if label in (canonical_class_name(part) for part in name.split("+")):
            return index
    return None


def bootstrap_interval(values: Sequence[float], confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                       seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of ``values`` (the same values give the same interval)."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        raise ValueError("no values to bootstrap")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def verdict(trees: int, mean: float | None, low: float | None, high: float | None,
            ignore_below: float = IGNORE_BELOW) -> str:
    """USES when the (risk drop's) interval excludes 0 and its mean is at least ``ignore_below`` either way."""
    if trees < MIN_TREES or mean is None or low is None or high is None:
        return TOO_FEW
    if low <= 0.0 <= high or abs(mean) < ignore_below:
        return IGNORES
    return USES


def independence_warning(predictor: Predictor, seeds: Sequence[int]) -> str | None:
    """None, or a warning when the training data cannot be told; raises ``IndependentSetError`` if it was one of
    the scanned ``seeds``."""
    try:
        training = training_data_of(predictor.checkpoint, predictor.info)
    except CheckpointError:  # the file went away after loading: nothing can be told
        training = UNKNOWN
    warnings = [check_independence(training, seed) for seed in sorted(set(seeds))]
    return next((w for w in warnings if w), None)


def predicted_risk(probabilities: np.ndarray, classes: Sequence[str] | None = None) -> np.ndarray:
    """The expected class position scaled to [0, 1], per row of class probabilities.

    Positions follow the ISA order of each class's most severe category (a merged ``Probable+Possible`` counts as
    Probable), so a model whose classes are listed in another order is scored the same; classes that are not ISA
    categories keep their own order, after the ISA ones. Without ``classes`` the columns are taken as rising.
    """
    count = probabilities.shape[-1]
    if classes is None:
        positions = np.arange(count)
    else:
        rank = [(ISA_CATEGORIES.index(c) if (c := isa_category_of(name)) else len(ISA_CATEGORIES), i)
                for i, name in enumerate(classes)]
        positions = np.empty(count)
        positions[[i for _, i in sorted(rank)]] = np.arange(count)
    return probabilities @ positions / max(1, count - 1)


def rate_photos(predictor: Predictor, photos: Sequence[bytes]) -> np.ndarray:
    """Class probabilities of JPEG ``photos`` (rows in order), prepared exactly as training did."""
    rows = []
    with torch.inference_mode():
        for start in range(0, len(photos), BATCH):
            batch = torch.cat([predictor.input_tensor(predictor.prepare(p)) for p in photos[start:start + BATCH]])
            rows.append(torch.softmax(predictor.network(batch).float(), dim=1).numpy())
    return np.concatenate(rows) if rows else np.zeros((0, len(predictor.classes)))


def measure_defect_reliance(
    predictor: Predictor,
    limit: int | None = None,
    options: SynthOptions | None = None,
    chosen: Sequence[Scene] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DefectRelianceReport:
    """The report for ``predictor`` over the first ``limit`` trees (all when None) of the dataset ``options``
    describes (default: the independent set), or over the ``chosen`` scenes.

    Raises ``IndependentSetError`` when the checkpoint was trained on the scanned seed. ``progress(done, total)``
    is called after each tree.
    """
    started = time.perf_counter()
    options = options or SynthOptions(n=INDEPENDENT_SIZE, seed=INDEPENDENT_SEED)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be 1 or more, got {limit}.")
    if chosen is None:
        photos_zero = [s for s in scenes(options) if s.photo == 0]  # one photo per tree: trees are the unit
        chosen = photos_zero[:limit] if limit else photos_zero
    seeds = {s.seed for s in chosen}
    warning = independence_warning(predictor, sorted(seeds))

    drops: dict[str, list[_Drop]] = {d: [] for d in DEFECTS}
    with_defects = rated = 0
    for done, scene in enumerate(chosen, start=1):
        target = class_index(scene.label, predictor.classes)
        defects = present_defects(tree_spec(scene).severities)
        if target is not None and defects:
            with_defects += 1
            drawings = [redraw(scene)] + [redraw(scene, d) for d in defects]
            probabilities = rate_photos(predictor, [drawing.jpeg for drawing in drawings])
            rated += len(drawings)
            true_class, risk = probabilities[:, target], predicted_risk(probabilities, predictor.classes)
            for i, drawing in enumerate(drawings[1:], start=1):
                drops[drawing.removed].append(_Drop(scene.label, float(true_class[0] - true_class[i]),
                                                    float(risk[0] - risk[i]), drawing.label != scene.label))
        if progress is not None:
            progress(done, len(chosen))
    return DefectRelianceReport(
        checkpoint=str(predictor.checkpoint), backbone=predictor.backbone, classes=list(predictor.classes),
        seed=min(seeds) if seeds else options.seed, dataset_size=options.n, trees_scanned=len(chosen),
        trees_with_defects=with_defects, photos_rated=rated, defects=tuple(_summarise(d, drops[d]) for d in DEFECTS),
        checkpoint_stamp=checkpoint_stamp(predictor.checkpoint), warning=warning,
        seconds=round(time.perf_counter() - started, 2),
        measured_on=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


@dataclass(frozen=True)
class _Drop:
    """One tree's drops for one defect."""

    label: str
    true_class: float
    risk: float
    label_moved: bool


def _summarise(defect: str, found: list[_Drop]) -> DefectReliance:
    if not found:
        return DefectReliance(defect, 0, None, None, None, None, None, None, TOO_FEW, 0)
    true_class, risk = [f.true_class for f in found], [f.risk for f in found]
    mean, risk_mean = float(np.mean(true_class)), float(np.mean(risk))
    low, high = bootstrap_interval(true_class)
    risk_low, risk_high = bootstrap_interval(risk)
    by_class = {}
    for label in sorted({f.label for f in found}, key=lambda c: ISA_CATEGORIES.index(c)):
        mine = [f for f in found if f.label == label]
        by_class[label] = ClassDrop(len(mine), float(np.mean([f.true_class for f in mine])),
                                    float(np.mean([f.risk for f in mine])))
    return DefectReliance(defect, len(found), mean, low, high, risk_mean, risk_low, risk_high,
                          verdict(len(found), risk_mean, risk_low, risk_high), sum(f.label_moved for f in found),
                          by_class)


def write_report(report: DefectRelianceReport, path: Path | str) -> None:
    """Save ``report`` as JSON, atomically (a reader never sees half a file)."""
    atomic_write_json(path, report.to_json())


def read_report(path: Path | str) -> DefectRelianceReport | None:
    """A report saved by :func:`write_report`, or None when missing or unreadable (never raises)."""
    record = read_json(path)
    try:
        return DefectRelianceReport.from_json(record) if record is not None else None
    except ValueError:
        return None


__all__ = [
    "CONFIDENCE", "IGNORES", "IGNORE_BELOW", "MIN_TREES", "RESAMPLES", "TOO_FEW", "USES", "ClassDrop",
    "DefectReliance", "DefectRelianceReport", "bootstrap_interval", "checkpoint_stamp", "class_index",
    "measure_defect_reliance", "predicted_risk", "rate_photos", "read_report", "verdict", "write_report",
]
