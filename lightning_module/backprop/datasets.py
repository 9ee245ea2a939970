"""Toy two-input data sets, CSV parsing and the targets y the network is trained on.

Points are stored the way a table shows them: ``X`` is (m, 2), one example per row, ``labels`` is
(m,) integer classes 0..K−1. The engine wants columns, so :meth:`Dataset.columns` transposes and
:func:`targets` builds y for the chosen output layer.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

Array = np.ndarray

MAX_POINTS = 5000
MAX_CLASSES = 8

DATASETS: dict[str, str] = {
    "and": "AND (truth table)",
    "or": "OR (truth table)",
    "xor": "XOR (truth table)",
    "xnor": "XNOR (truth table)",
    "circles": "circles",
    "gaussians": "two Gaussians",
    "spiral": "spiral",
    "blobs": "three-class blobs",
}

_TRUTH = {"and": [0, 0, 0, 1], "or": [0, 1, 1, 1], "xor": [0, 1, 1, 0], "xnor": [1, 0, 0, 1]}
TRUTH_INPUTS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


@dataclass
class Dataset:
    name: str
    X: Array  # (m, 2) training inputs, one example per row
    labels: Array  # (m,) classes 0..K−1
    X_test: Array | None = None
    labels_test: Array | None = None
    n_classes: int = 2

    @property
    def has_test(self) -> bool:
        return self.X_test is not None and len(self.X_test) > 0

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"x1": self.X[:, 0], "x2": self.X[:, 1], "label": self.labels.astype(int)})


def n_outputs(n_classes: int, output: str) -> int:
    """Output neurons needed: 1 for two classes (sigmoid/linear), one per class otherwise."""
    if output == "softmax":
        return max(n_classes, 2)
    return 1 if n_classes <= 2 else n_classes


def targets(labels: Array, n_classes: int, output: str) -> Array:
    """y as the engine wants it: (n_L, m); a 0/1 row for two classes, one-hot columns otherwise."""
    k = n_outputs(n_classes, output)
    labels = np.asarray(labels, dtype=int)
    if k == 1:
        return labels.astype(float)[None, :]
    return np.eye(k)[:, labels]


def predicted_class(a_L: Array) -> Array:
    """The class the network picks for each column of a^L."""
    if a_L.shape[0] == 1:
        return (a_L[0] >= 0.5).astype(int)
    return a_L.argmax(axis=0)


def make_dataset(name: str, seed: int = 0, n_train: int = 200, n_test: int = 100, noise: float = 0.1) -> Dataset:
    """A built-in data set; the truth tables have 4 points and no separate test set."""
    if name in _TRUTH:
        return Dataset(name, TRUTH_INPUTS.copy(), np.array(_TRUTH[name]), None, None, 2)
    if name not in DATASETS:
        raise ValueError(f"Unknown data set '{name}'; choose one of {', '.join(DATASETS)}.")
    rng = np.random.default_rng(seed)
    X, y = _generate(name, rng, n_train + n_test, noise)
    order = rng.permutation(len(X))
    X, y = X[order], y[order]
    return Dataset(name, X[:n_train], y[:n_train], X[n_train:], y[n_train:], 3 if name == "blobs" else 2)


def _generate(name: str, rng: np.random.Generator, m: int, noise: float) -> tuple[Array, Array]:
    half = m // 2
    if name == "circles":
        y = np.r_[np.zeros(half), np.ones(m - half)].astype(int)
        radius = np.where(y == 0, 0.5, 1.0) + rng.normal(0, noise, m)
        angle = rng.uniform(0, 2 * np.pi, m)
        return np.c_[radius * np.cos(angle), radius * np.sin(angle)], y
    if name == "gaussians":
        y = np.r_[np.zeros(half), np.ones(m - half)].astype(int)
        centres = np.where(y[:, None] == 0, [-0.7, -0.7], [0.7, 0.7])
        return centres + rng.normal(0, 0.35 + noise, (m, 2)), y
    if name == "spiral":
        y = np.r_[np.zeros(half), np.ones(m - half)].astype(int)
        t = rng.uniform(0.05, 1.0, m)
        angle = 3.5 * np.pi * t + np.pi * y  # two interleaved arms
        radius = 1.2 * t
        pts = np.c_[radius * np.cos(angle), radius * np.sin(angle)]
        return pts + rng.normal(0, noise * 0.5, (m, 2)), y
    # blobs: three classes at the corners of a triangle
    y = rng.integers(0, 3, m)
    centres = np.array([[-0.8, -0.6], [0.8, -0.6], [0.0, 0.8]])[y]
    return centres + rng.normal(0, 0.25 + noise, (m, 2)), y


def dataset_from_table(table: pd.DataFrame, name: str = "your points", test: Dataset | None = None) -> Dataset:
    """A data set from a (x1, x2, label) table the user edited; raises ValueError saying what is wrong."""
    missing = [c for c in ("x1", "x2", "label") if c not in table.columns]
    if missing:
        raise ValueError(f"The table needs the columns x1, x2 and label; missing {', '.join(missing)}.")
    table = table[["x1", "x2", "label"]].dropna(how="all")
    if table.empty:
        raise ValueError("There are no points left: add at least one point per class.")
    for col in ("x1", "x2", "label"):
        values = pd.to_numeric(table[col], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
            raise ValueError(f"Point {row}: '{col}' must be a number (got '{table[col].iloc[row - 1]}').")
    labels = pd.to_numeric(table["label"]).to_numpy(dtype=float)
    if not np.all(labels == np.round(labels)) or labels.min() < 0:
        raise ValueError("Labels must be whole numbers 0, 1, 2, … (the class of each point).")
    labels = labels.astype(int)
    n_classes = max(int(labels.max()) + 1, 2)
    if n_classes > MAX_CLASSES:
        raise ValueError(f"At most {MAX_CLASSES} classes (labels 0–{MAX_CLASSES - 1}); got label {labels.max()}.")
    X = table[["x1", "x2"]].to_numpy(dtype=float)
    if test is not None and test.has_test and test.n_classes >= n_classes:
        return Dataset(name, X, labels, test.X_test, test.labels_test, max(n_classes, test.n_classes))
    return Dataset(name, X, labels, None, None, n_classes)


def parse_csv(data: bytes | str, seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """Points from a CSV: two numeric feature columns and a class column (last column, or one named
    label/class/y/target). Class names may be text; they become 0..K−1 in sorted order. Raises
    ValueError with a message a user can act on."""
    text = data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data
    if not text.strip():
        raise ValueError("The CSV file is empty.")
    try:
        frame = pd.read_csv(io.StringIO(text), sep=None, engine="python")
    except Exception as exc:  # pandas' own message names the line
        raise ValueError(f"This does not read as a CSV file: {exc}") from exc
    if _all_numeric_header(frame):  # no header row: the first line is data
        frame = pd.read_csv(io.StringIO(text), sep=None, engine="python", header=None)
        frame.columns = [f"column {i + 1}" for i in range(frame.shape[1])]
    label_cols = [c for c in frame.columns if str(c).strip().lower() in ("label", "class", "y", "target")]
    label_col = label_cols[0] if label_cols else frame.columns[-1]
    features = [c for c in frame.columns if c != label_col]
    if len(features) != 2:
        raise ValueError(f"Need exactly two input columns and one label column; found {frame.shape[1]} "
                         f"column(s): {', '.join(map(str, frame.columns))}. The page draws the plane of two inputs.")
    if len(frame) == 0:
        raise ValueError("The CSV has a header but no rows.")
    if len(frame) > MAX_POINTS:
        raise ValueError(f"At most {MAX_POINTS} points, so the page stays live; this file has {len(frame)}.")
    for col in features:
        values = pd.to_numeric(frame[col], errors="coerce")
        if values.isna().any() or not np.isfinite(values.to_numpy(dtype=float)).all():
            row = int(np.flatnonzero(values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=float)))[0])
            raise ValueError(f"Row {row + 1}: column '{col}' must be a number (got '{frame[col].iloc[row]}').")
    if frame[label_col].isna().any():
        row = int(np.flatnonzero(frame[label_col].isna().to_numpy())[0])
        raise ValueError(f"Row {row + 1}: the label is missing.")
    raw = frame[label_col]
    numeric = pd.to_numeric(raw, errors="coerce")
    if not numeric.isna().any() and np.all(numeric == np.round(numeric)) and numeric.min() >= 0:
        classes = sorted(set(numeric.astype(int)))
        mapping = {c: i for i, c in enumerate(classes)}
        labels = numeric.astype(int).map(mapping).to_numpy()
    else:
        classes = sorted(set(raw.astype(str)))
        mapping = {c: i for i, c in enumerate(classes)}
        labels = raw.astype(str).map(mapping).to_numpy()
    if len(classes) < 2:
        raise ValueError(f"All points have the same class ({classes[0]}); a classifier needs at least two.")
    if len(classes) > MAX_CLASSES:
        raise ValueError(f"At most {MAX_CLASSES} classes; this file has {len(classes)}.")
    X = frame[features].to_numpy(dtype=float)
    labels = labels.astype(int)
    if len(X) >= 10:  # hold out a test set when there is enough to spare
        order = np.random.default_rng(seed).permutation(len(X))
        n_test = int(round(test_fraction * len(X)))
        test, train = order[:n_test], order[n_test:]
        return Dataset("csv", X[train], labels[train], X[test], labels[test], len(classes))
    return Dataset("csv", X, labels, None, None, len(classes))


def _all_numeric_header(frame: pd.DataFrame) -> bool:
    try:
        [float(c) for c in frame.columns]
    except (TypeError, ValueError):
        return False
    return True
