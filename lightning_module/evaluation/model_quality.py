"""How good is a checkpoint? Balanced accuracy, macro F1 and recall on the independent set, with 95 % intervals.

    report = measure_checkpoint_quality("checkpoints/seed_cnn_synthetic.ckpt")
    print(report.format_text()); json.dumps(report.to_json())

The protocol, and why:

* **Independent photos.** Every photo of the independent set (:mod:`.independent_set`, synthetic seed 9001) is
  rated; a checkpoint trained on that seed is refused before anything is measured.
* **Balanced accuracy and macro F1**, not accuracy: three trees in four are Improbable, so "always Improbable"
  is right 70 % of the time and useless. Both sit beside that **majority baseline**: always the commonest class
  of the model's training data (its training split when the checkpoint's card or run.json records it, else the
  generator's default shares). Its balanced accuracy is 1/k by construction; its macro F1 is computed the same
  way as the model's.
* **95 % percentile-bootstrap intervals** (2000 resamples of the photos, fixed seed, so the same predictions
  always give the same interval): a 0.02 difference between two models means nothing when the interval is 0.05
  wide. Model and baseline are scored on the same resamples.
* **Recall per defect type**: of the photos whose worst defect (largest ``weight * severity``, weights from
  :data:`lightning_module.synthetic.scoring.DEFECT_WEIGHTS`) is X, how many the model rates at their true class;
  sound trees form the row ``none``. It shows which defects the model has learnt to see.
* **Classes through the scenario**: manifest labels (Improbable / Possible / Probable) are mapped to the
  checkpoint's classes with the scenario it was trained with (:mod:`lightning_module.data.categories`); photos
  of a class the scenario leaves out are left out here too, and a checkpoint whose classes the set has no
  photos for is refused.

Prediction runs in batches under ``torch.inference_mode`` with whatever torch thread count the caller set.
:func:`score_predictions` is the pure part (arrays in, report out), so it can be checked by hand.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lightning_module.data.categories import (
    SCENARIOS,
    canonical_class_name,
    isa_category_of,
    scenario_classes,
    scenario_mapping,
)
from lightning_module.data.imaging import PhotoError
from lightning_module.evaluation.independent_set import (
    INDEPENDENT_SEED,
    UNKNOWN,
    IndependentSetError,
    TrainingData,
    check_independence,
    ensure_independent_set,
    training_data_of,
)
from lightning_module.evaluation.predictor import Predictor, load_predictor
from lightning_module.synthetic import DEFECTS, read_config, read_manifest
from lightning_module.synthetic.scoring import DEFECT_WEIGHTS, LAB_SHARES

RESAMPLES = 2000  # percentile-bootstrap resamples: the interval ends move by well under 0.01 between seeds
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95
BATCH_SIZE = 64  # photos per forward pass: big enough to amortise the call, small enough for any CPU's memory
_RESAMPLES_PER_BLOCK = 200  # resamples held in memory at once (200 x 1000 photos of indices = 1.6 MB)
NO_DEFECT = "none"  # the per-defect row of trees with no defect at all
PROBABLE = "Probable"


@dataclass(frozen=True)
class Target:
    """A figure the model should reach: ``metric`` (a key of :meth:`Scores.value_of`) at least ``threshold``."""

    name: str
    metric: str
    threshold: float


# What a model worth demonstrating reaches on the independent set (issue "A model worth demonstrating").
TARGETS: tuple[Target, ...] = (
    Target("balanced accuracy", "balanced_accuracy", 0.90),
    Target("macro F1", "macro_f1", 0.88),
    Target("Probable recall", "probable_recall", 0.95),
)


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap interval; NaN where the figure is undefined (no photos)."""

    value: float
    low: float
    high: float

    def to_json(self) -> dict[str, float | None]:
        return {k: (None if math.isnan(v) else round(v, 6)) for k, v in dataclasses.asdict(self).items()}

    def __str__(self) -> str:
        if math.isnan(self.value):
            return "—"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class Scores:
    """One rater's figures on the set (the model's or the majority baseline's)."""

    balanced_accuracy: Estimate
    macro_f1: Estimate
    recall: Mapping[str, Estimate]  # per class, in class order
    probable_recall: Estimate  # of photos labelled Probable, the share rated at the class that holds Probable

    def value_of(self, metric: str) -> float:
        return float(getattr(self, metric).value)

    def to_json(self) -> dict[str, Any]:
        return {
            "balanced_accuracy": self.balanced_accuracy.to_json(),
            "macro_f1": self.macro_f1.to_json(),
            "recall": {name: estimate.to_json() for name, estimate in self.recall.items()},
            "probable_recall": self.probable_recall.to_json(),
        }


@dataclass(frozen=True)
class DefectRecall:
    """Of the ``photos`` whose worst defect is ``defect``, ``correct`` were rated at their true class."""

    defect: str
    photos: int
    correct: int

    @property
    def recall(self) -> float:
        return self.correct / self.photos if self.photos else math.nan

    def to_json(self) -> dict[str, Any]:
        return {"defect": self.defect, "photos": self.photos, "correct": self.correct,
                "recall": None if not self.photos else round(self.recall, 6)}


@dataclass(frozen=True)
class QualityReport:
    """The model's figures on the independent set beside the majority baseline's, and where they come from."""

    classes: tuple[str, ...]
    model: Scores
    baseline: Scores
    baseline_class: str
    baseline_reason: str  # why that class: which training shares it is the commonest of
    confusion: tuple[tuple[int, ...], ...]  # rows: true class, columns: predicted class
    per_defect: tuple[DefectRecall, ...]
    photos: int
    resamples: int
    bootstrap_seed: int
    confidence: float = CONFIDENCE
    checkpoint: str = ""
    backbone: str = ""
    scenario: str = ""
    image_size: int = 0
    color_mode: str = ""
    data: str = ""  # the independent set's folder
    data_seed: int | None = None
    left_out: int = 0  # photos of classes the checkpoint's scenario does not use
    skipped: tuple[str, ...] = ()  # "path: reason" of photos that could not be read
    training_data: TrainingData = UNKNOWN
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0  # time spent predicting
    limit: int | None = None

    def targets(self) -> list[tuple[Target, float, bool]]:
        """(target, the model's value, met) for each of :data:`TARGETS`; a NaN value is not met."""
        values = [(t, self.model.value_of(t.metric)) for t in TARGETS]
        return [(t, v, (not math.isnan(v)) and v >= t.threshold) for t, v in values]

    def ratio(self, metric: str) -> float:
        """The model's figure divided by the baseline's (NaN when the baseline's is 0 or undefined)."""
        base = self.baseline.value_of(metric)
        return self.model.value_of(metric) / base if base and not math.isnan(base) else math.nan

    def to_json(self) -> dict[str, Any]:
        return {
            "checkpoint": {"path": self.checkpoint, "backbone": self.backbone, "scenario": self.scenario,
                           "classes": list(self.classes), "image_size": self.image_size, "color_mode": self.color_mode},
            "training_data": self.training_data.to_json(),
            "test_set": {"path": self.data, "seed": self.data_seed, "photos": self.photos, "limit": self.limit,
                         "left_out": self.left_out, "skipped": list(self.skipped)},
            "bootstrap": {"method": "percentile", "resamples": self.resamples, "seed": self.bootstrap_seed,
                          "confidence": self.confidence},
            "model": self.model.to_json(),
            "baseline": {"class": self.baseline_class, "reason": self.baseline_reason, **self.baseline.to_json()},
            "ratio_to_baseline": {m: _rounded(self.ratio(m)) for m in ("balanced_accuracy", "macro_f1")},
            "confusion": {"classes": list(self.classes), "rows": "true class", "columns": "predicted class",
                          "matrix": [list(row) for row in self.confusion]},
            "recall_per_defect": [row.to_json() for row in self.per_defect],
            "targets": [{"name": t.name, "metric": t.metric, "threshold": t.threshold, "value": _rounded(v), "met": met}
                        for t, v, met in self.targets()],
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 3),
        }

    def format_text(self) -> str:
        """Readable tables: figures beside the baseline, the confusion matrix, recall per defect, the targets."""
        share = f"{self.confidence:.0%}"
        lines = [f"Model quality on the independent set ({self.data or 'given predictions'})"]
        if self.checkpoint:
            lines.append(f"checkpoint: {self.checkpoint} ({self.backbone}, {self.scenario or 'scenario unknown'}, "
                         f"{self.image_size} px {self.color_mode})")
        seed = f", synthetic seed {self.data_seed}" if self.data_seed is not None else ""
        limit = f" (a sample: --limit {self.limit})" if self.limit else ""
        lines.append(f"photos: {self.photos}{seed}{limit}; {self.training_data.describe()}")
        if self.left_out:
            lines.append(f"left out: {self.left_out} photos of classes the scenario does not use")
        if self.skipped:
            lines.append(f"skipped: {len(self.skipped)} unreadable photos")
        lines.append(f"baseline: always {self.baseline_class!r}, {self.baseline_reason}")
        lines.append(f"intervals: {share}, percentile bootstrap, {self.resamples} resamples, "
                     f"seed {self.bootstrap_seed}")
        lines += [f"warning: {w}" for w in self.warnings]

        rows = [("balanced accuracy", self.model.balanced_accuracy, self.baseline.balanced_accuracy),
                ("macro F1", self.model.macro_f1, self.baseline.macro_f1)]
        rows += [(f"recall {name}", self.model.recall[name], self.baseline.recall[name]) for name in self.classes]
        if not math.isnan(self.model.probable_recall.value) and PROBABLE not in self.classes:
            rows.append(("recall of Probable trees", self.model.probable_recall, self.baseline.probable_recall))
        lines += ["", _table(("metric", "model", "majority baseline"), [(n, str(m), str(b)) for n, m, b in rows])]

        header = ("true \\ predicted", *self.classes, "photos")
        matrix = [(name, *map(str, row), str(sum(row))) for name, row in zip(self.classes, self.confusion)]
        lines += ["", "confusion (rows: true class, columns: predicted class)", _table(header, matrix)]

        defect_rows = [(r.defect, str(r.photos), str(r.correct), "—" if not r.photos else f"{r.recall:.3f}")
                       for r in self.per_defect]
        lines += ["", "recall per worst defect (rated at their true class)",
                  _table(("worst defect", "photos", "correct", "recall"), defect_rows)]

        target_rows = [(f"{t.name} ≥ {t.threshold:.2f}", "—" if math.isnan(v) else f"{v:.3f}",
                        "met" if met else "not met") for t, v, met in self.targets()]
        lines += ["", _table(("target", "model", "result"), target_rows)]
        return "\n".join(lines)

    def summary_line(self) -> str:
        """One line: the model's headline figures as ratios to the baseline's, and the targets met."""
        met = sum(1 for _, _, ok in self.targets() if ok)
        parts = [f"{name} {self.model.value_of(m):.3f} vs baseline {self.baseline.value_of(m):.3f} "
                 f"(ratio {self.ratio(m):.2f})" for name, m in (("balanced accuracy", "balanced_accuracy"),
                                                                ("macro F1", "macro_f1"))]
        label = Path(self.checkpoint).name or "model"
        return f"{label}: {'; '.join(parts)}; targets met {met}/{len(TARGETS)}"


def _rounded(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:  # names left-aligned, figures right-aligned
        cells = [str(cell) for cell in row]
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


# ----------------------------------------------------------------------------------------- the pure computation
def worst_defect(severities: Mapping[str, float]) -> str:
    """The defect with the largest ``weight * severity`` (ties: the first in ``DEFECTS``), or ``"none"``."""
    present = [(DEFECT_WEIGHTS[d] * float(severities.get(d, 0.0)), -i, d) for i, d in enumerate(DEFECTS)
               if float(severities.get(d, 0.0)) > 0]
    return max(present)[2] if present else NO_DEFECT


def _recall(confusion: np.ndarray) -> np.ndarray:
    """Per-class recall from (..., k, k) confusions; NaN for a class with no photos."""
    diagonal = np.diagonal(confusion, axis1=-2, axis2=-1).astype(float)
    truth = confusion.sum(axis=-1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(truth > 0, diagonal / truth, np.nan)


def _f1(confusion: np.ndarray) -> np.ndarray:
    """Per-class F1 = 2TP / (2TP + FP + FN); NaN for a class neither present nor predicted."""
    tp = np.diagonal(confusion, axis1=-2, axis2=-1).astype(float)
    denominator = confusion.sum(axis=-1) + confusion.sum(axis=-2)  # (TP + FN) + (TP + FP)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * tp / denominator, np.nan)


def _nanmean(values: np.ndarray) -> np.ndarray:
    counts = np.sum(~np.isnan(values), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, np.nansum(values, axis=-1) / np.maximum(counts, 1), np.nan)


def _confusions(true_class: np.ndarray, predicted: np.ndarray, k: int) -> np.ndarray:
    """(b, k, k) confusion matrices of ``b`` rows of paired indices (b, n) into the photos."""
    b = true_class.shape[0]
    codes = true_class * k + predicted + np.arange(b)[:, None] * k * k
    return np.bincount(codes.ravel(), minlength=b * k * k).reshape(b, k, k)


def _statistics(confusion: np.ndarray, probable_hits: np.ndarray, probable_count: np.ndarray) -> dict[str, np.ndarray]:
    recall = _recall(confusion)
    with np.errstate(invalid="ignore", divide="ignore"):
        probable = np.where(probable_count > 0, probable_hits / np.maximum(probable_count, 1), np.nan)
    return {"balanced_accuracy": _nanmean(recall), "macro_f1": _nanmean(_f1(confusion)), "recall": recall,
            "probable_recall": probable}


def _estimate(point: float, resampled: np.ndarray, confidence: float) -> Estimate:
    if math.isnan(point):
        return Estimate(math.nan, math.nan, math.nan)
    tail = (1 - confidence) / 2 * 100
    finite = resampled[~np.isnan(resampled)]
    low, high = np.percentile(finite, [tail, 100 - tail]) if finite.size else (math.nan, math.nan)
    return Estimate(float(point), float(low), float(high))


def _scores(classes: Sequence[str], point: dict[str, np.ndarray], resampled: dict[str, np.ndarray],
            confidence: float) -> Scores:
    return Scores(
        balanced_accuracy=_estimate(float(point["balanced_accuracy"]), resampled["balanced_accuracy"], confidence),
        macro_f1=_estimate(float(point["macro_f1"]), resampled["macro_f1"], confidence),
        recall={name: _estimate(float(point["recall"][i]), resampled["recall"][:, i], confidence)
                for i, name in enumerate(classes)},
        probable_recall=_estimate(float(point["probable_recall"]), resampled["probable_recall"], confidence),
    )


def score_predictions(
    classes: Sequence[str],
    true_class: Sequence[int],
    predicted: Sequence[int],
    *,
    baseline_class: str,
    baseline_reason: str = "",
    labels: Sequence[str] | None = None,
    worst_defects: Sequence[str] | None = None,
    resamples: int = RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> QualityReport:
    """The report for given predictions: class indices per photo, in ``classes`` order.

    ``labels`` are the photos' ISA labels (for "Probable recall"; default: the class names of ``true_class``);
    ``worst_defects`` the worst defect of each photo (:func:`worst_defect`; default: no per-defect rows).
    """
    k = len(classes)
    truth = np.asarray(true_class, dtype=np.int64)
    guess = np.asarray(predicted, dtype=np.int64)
    if truth.shape != guess.shape or truth.ndim != 1 or truth.size == 0:
        raise ValueError(f"Need as many predictions as photos (at least one); got {truth.shape} and {guess.shape}.")
    if baseline_class not in classes:
        raise ValueError(f"The baseline class {baseline_class!r} is not one of {', '.join(classes)}.")
    if truth.min() < 0 or guess.min() < 0 or truth.max() >= k or guess.max() >= k:
        raise ValueError(f"Class indices must be between 0 and {k - 1}.")
    labels = [classes[i] for i in truth] if labels is None else list(labels)
    holder = next((i for i, name in enumerate(classes) if isa_category_of(name) == PROBABLE), None)
    is_probable = np.array([canonical_class_name(label) == PROBABLE for label in labels]) & (holder is not None)
    rated_right = guess == truth
    always = np.full_like(truth, classes.index(baseline_class))

    def point(prediction: np.ndarray) -> dict[str, np.ndarray]:
        confusion = _confusions(truth[None, :], prediction[None, :], k)
        hits = np.array([(is_probable & (prediction == truth)).sum()])
        return {key: value[0] for key, value in _statistics(confusion, hits, np.array([is_probable.sum()])).items()}

    rng = np.random.default_rng(seed)
    blocks: dict[str, list[dict[str, np.ndarray]]] = {"model": [], "baseline": []}
    for start in range(0, resamples, _RESAMPLES_PER_BLOCK):
        index = rng.integers(0, truth.size, size=(min(_RESAMPLES_PER_BLOCK, resamples - start), truth.size))
        probable_count = is_probable[index].sum(axis=1)
        for name, prediction in (("model", guess), ("baseline", always)):
            hits = (is_probable & (prediction == truth))[index].sum(axis=1)
            blocks[name].append(_statistics(_confusions(truth[index], prediction[index], k), hits, probable_count))
    resampled = {name: {key: np.concatenate([b[key] for b in parts]) for key in parts[0]}
                 for name, parts in blocks.items()}

    per_defect: tuple[DefectRecall, ...] = ()
    if worst_defects is not None:
        worst = np.asarray(list(worst_defects))
        per_defect = tuple(DefectRecall(d, int((worst == d).sum()), int((rated_right & (worst == d)).sum()))
                           for d in (NO_DEFECT, *DEFECTS))
    confusion = _confusions(truth[None, :], guess[None, :], k)[0]
    return QualityReport(
        classes=tuple(classes),
        model=_scores(classes, point(guess), resampled["model"], confidence),
        baseline=_scores(classes, point(always), resampled["baseline"], confidence),
        baseline_class=baseline_class,
        baseline_reason=baseline_reason,
        confusion=tuple(tuple(int(v) for v in row) for row in confusion),
        per_defect=per_defect,
        photos=int(truth.size),
        resamples=resamples,
        bootstrap_seed=seed,
        confidence=confidence,
    )


# ----------------------------------------------------------------------------------------- classes and baseline
def label_mapping(classes: Sequence[str], scenario: str, labels: Sequence[str]) -> dict[str, int]:
    """Manifest label → index of the checkpoint's class that holds it; labels the scenario leaves out are absent.

    A named scenario maps labels with :func:`scenario_mapping`; ``all`` or an unnamed scenario matches labels to
    class names (``Probable+Possible`` holds both). Raises :class:`IndependentSetError` when a class of the
    checkpoint gets no photos, because then the set cannot score it.
    """
    available = sorted({canonical_class_name(label) for label in labels})
    mapping: dict[str, str] = {}
    if scenario in SCENARIOS:
        try:
            mapping = scenario_mapping(scenario, available)
            expected = scenario_classes(scenario, available)
        except ValueError as error:
            raise IndependentSetError(f"The independent set cannot score this checkpoint: {error}") from None
        if list(expected) != list(classes):
            raise IndependentSetError(
                f"The checkpoint's classes ({', '.join(classes)}) are not those of its scenario {scenario} "
                f"({', '.join(expected)}), so its outputs cannot be matched to the set's labels."
            )
    else:
        for label in available:
            holders = [c for c in classes if label in {canonical_class_name(p) for p in c.split("+")}]
            if len(holders) == 1:
                mapping[label] = holders[0]
    unscored = [c for c in classes if c not in mapping.values()]
    if unscored:
        raise IndependentSetError(
            f"The independent set cannot score this checkpoint: it has no photos of class(es) "
            f"{', '.join(unscored)} (its labels are {', '.join(available)}). It scores models of the ISA "
            f"likelihood-of-failure classes only."
        )
    return {label: list(classes).index(target) for label, target in mapping.items()}


def majority_class(
    classes: Sequence[str], mapping: Mapping[str, int], info: Mapping[str, Any] | None
) -> tuple[str, str]:
    """(class, reason): the commonest class of the checkpoint's training data, as its card or run.json records it.

    Without a record, the generator's default shares (the lab's 322 : 80 : 56) through the scenario's mapping.
    """
    info = info if isinstance(info, Mapping) else {}
    split = (info.get("split_sizes") or {}).get("train") if isinstance(info.get("split_sizes"), Mapping) else None
    if isinstance(split, Mapping) and split and all(name in split for name in classes):
        counts = {name: int(split[name]) for name in classes}
        name = max(classes, key=lambda c: counts[c])
        return name, f"the commonest class of the training split ({counts[name]} of {sum(counts.values())} photos)"
    recorded = info.get("majority_baseline")
    if isinstance(recorded, Mapping) and recorded.get("class") in classes:
        return str(recorded["class"]), "the commonest class of the training split, as recorded at training"
    shares = {name: 0 for name in classes}
    for label, index in mapping.items():
        shares[classes[index]] += LAB_SHARES.get(label, 0)
    name = max(classes, key=lambda c: shares[c])
    ratio = " : ".join(f"{label} {count}" for label, count in LAB_SHARES.items())
    return name, f"the commonest class in the synthetic generator's default shares ({ratio}); no training record"


# ----------------------------------------------------------------------------------------- predicting the set
@torch.inference_mode()
def predict_classes(
    predictor: Predictor, paths: Sequence[Path], batch_size: int = BATCH_SIZE
) -> tuple[list[int], list[str]]:
    """(predicted class per readable photo, "path: reason" per unreadable one), in batches."""
    parameter = next(predictor.network.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    predicted: list[int] = [-1] * len(paths)
    skipped: list[str] = []
    for start in range(0, len(paths), batch_size):
        tensors, positions = [], []
        for position in range(start, min(start + batch_size, len(paths))):
            try:
                tensors.append(predictor.input_tensor(predictor.prepare(paths[position])))
                positions.append(position)
            except PhotoError as error:
                skipped.append(f"{paths[position]}: {error}")
        if tensors:
            logits = predictor.network(torch.cat(tensors).to(device))
            for position, value in zip(positions, logits.argmax(dim=1).tolist()):
                predicted[position] = int(value)
    return predicted, skipped


def measure_model_quality(
    predictor: Predictor,
    set_dir: Path | str,
    *,
    limit: int | None = None,
    batch_size: int = BATCH_SIZE,
    resamples: int = RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    training_data: TrainingData = UNKNOWN,
    warnings: Sequence[str] = (),
) -> QualityReport:
    """Rate every photo of ``set_dir`` (a synthetic set with ``manifest.csv``) and score the predictions.

    ``limit`` rates a random sample of that many photos (seeded by ``seed``), for quick looks only.
    """
    set_dir = Path(set_dir)
    rows = read_manifest(set_dir)
    mapping = label_mapping(predictor.classes, predictor.scenario, [row["label"] for row in rows])
    used = [row for row in rows if canonical_class_name(row["label"]) in mapping]
    left_out = len(rows) - len(used)
    if limit is not None and limit < len(used):
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        chosen = np.sort(np.random.default_rng(seed).choice(len(used), size=limit, replace=False))
        used = [used[i] for i in chosen]
    started = time.perf_counter()
    predicted, skipped = predict_classes(predictor, [set_dir / row["path"] for row in used], batch_size)
    seconds = time.perf_counter() - started
    kept = [(row, p) for row, p in zip(used, predicted) if p >= 0]
    if not kept:
        raise IndependentSetError(f"No photo of {set_dir} could be read ({len(skipped)} skipped).")
    baseline_class, reason = majority_class(predictor.classes, mapping, predictor.info)
    report = score_predictions(
        predictor.classes,
        [mapping[canonical_class_name(row["label"])] for row, _ in kept],
        [p for _, p in kept],
        baseline_class=baseline_class,
        baseline_reason=reason,
        labels=[row["label"] for row, _ in kept],
        worst_defects=[worst_defect({d: row[f"severity_{d}"] for d in DEFECTS}) for row, _ in kept],
        resamples=resamples,
        seed=seed,
    )
    notes = list(warnings)
    empty = [name for name, row in zip(predictor.classes, report.confusion) if sum(row) == 0]
    if empty:
        notes.append(f"no photos of {', '.join(empty)} in this sample: its recall is undefined; use more photos.")
    options = (read_config(set_dir) or {}).get("options") or {}
    return dataclasses.replace(
        report,
        checkpoint=str(predictor.checkpoint),
        backbone=predictor.backbone,
        scenario=predictor.scenario,
        image_size=predictor.image_size,
        color_mode=predictor.color_mode,
        data=str(set_dir),
        data_seed=options.get("seed"),
        left_out=left_out,
        skipped=tuple(skipped),
        training_data=training_data,
        warnings=tuple(notes),
        seconds=seconds,
        limit=limit,
    )


def measure_checkpoint_quality(
    checkpoint: Path | str,
    data_root: Path | str = "data",
    *,
    limit: int | None = None,
    batch_size: int = BATCH_SIZE,
    resamples: int = RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    set_dir: Path | str | None = None,
) -> QualityReport:
    """The whole protocol for one checkpoint: refuse it if trained on the set's seed, make the set, measure.

    Raises ``CheckpointError`` for a file that is not a TreeRisk checkpoint and :class:`IndependentSetError` for
    one the set cannot score honestly. ``set_dir`` replaces the standard set (tests use a tiny one of seed 9001).
    """
    predictor = load_predictor(checkpoint)
    training = training_data_of(predictor.checkpoint, predictor.info)
    try:
        folder = Path(set_dir) if set_dir is not None else ensure_independent_set(data_root)
    except FileExistsError as error:  # the folder holds something else: the user's to sort out, not a bug
        raise IndependentSetError(str(error)) from None
    set_seed = ((read_config(folder) or {}).get("options") or {}).get("seed", INDEPENDENT_SEED)
    warning = check_independence(training, set_seed)
    return measure_model_quality(predictor, folder, limit=limit, batch_size=batch_size, resamples=resamples,
                                 seed=seed, training_data=training, warnings=[warning] if warning else [])
