"""Stratified splits by group: every photo of one source (tree or original photo) lands in exactly one split.

This is the fix for the lab's leak: crops or augmentations of one photo on both sides of a split make the
test set easy and the numbers meaningless. Groups are assigned whole, greedily, to the split (or fold) that
is furthest below its target share of the group's class, in a seeded random order.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np


def _groups_by_majority_label(labels: Sequence[int], groups: Sequence[str]) -> dict[str, tuple[int, list[int]]]:
    members: dict[str, list[int]] = defaultdict(list)
    for index, group in enumerate(groups):
        members[group].append(index)
    result = {}
    for group, indices in members.items():
        label = Counter(labels[i] for i in indices).most_common(1)[0][0]
        result[group] = (label, indices)
    return result


def _assign_groups(
    labels: Sequence[int], groups: Sequence[str], shares: Sequence[float], seed: int
) -> list[list[int]]:
    """Partition sample indices into ``len(shares)`` parts, whole groups at a time, stratified by label."""
    if len(labels) != len(groups):
        raise ValueError("labels and groups must have the same length")
    shares_arr = np.asarray(shares, dtype=float)
    if (shares_arr < 0).any() or shares_arr.sum() <= 0:
        raise ValueError(f"split shares must be non-negative and sum to more than 0, got {list(shares)}")
    shares_arr = shares_arr / shares_arr.sum()
    rng = np.random.default_rng(seed)
    by_group = _groups_by_majority_label(labels, groups)
    names = sorted(by_group)
    rng.shuffle(names)
    # Larger groups first so they do not upset the balance at the end; ties keep the seeded order.
    names.sort(key=lambda g: -len(by_group[g][1]))
    class_totals = Counter(label for label, indices in by_group.values() for _ in indices)
    filled = np.zeros((len(shares_arr), max(class_totals) + 1 if class_totals else 1))
    parts: list[list[int]] = [[] for _ in shares_arr]
    for name in names:
        label, indices = by_group[name]
        target = shares_arr * class_totals[label]
        deficit = target - filled[:, label]
        # Prefer the part furthest below target; among equals, the larger share.
        part = int(np.lexsort((-shares_arr, -deficit))[0])
        parts[part].extend(indices)
        filled[part, label] += len(indices)
    return [sorted(p) for p in parts]


def group_train_val_test_split(
    labels: Sequence[int], groups: Sequence[str], val_share: float = 0.15, test_share: float = 0.15, seed: int = 0
) -> tuple[list[int], list[int], list[int]]:
    """Indices of train, validation and test, stratified by label, no group in two of them."""
    if not 0 <= val_share < 1 or not 0 <= test_share < 1 or val_share + test_share >= 1:
        raise ValueError(f"val_share and test_share must be in [0, 1) and sum below 1, got {val_share}, {test_share}")
    train, val, test = _assign_groups(labels, groups, (1 - val_share - test_share, val_share, test_share), seed)
    return train, val, test


def group_k_fold(
    labels: Sequence[int], groups: Sequence[str], n_folds: int = 5, seed: int = 0
) -> list[tuple[list[int], list[int]]]:
    """``n_folds`` (train, held-out) index pairs; each group is held out in exactly one fold."""
    if n_folds < 2:
        raise ValueError(f"k-fold needs at least 2 folds, got {n_folds}")
    n_groups = len(set(groups))
    if n_groups < n_folds:
        raise ValueError(f"{n_folds} folds need at least {n_folds} groups, the data has {n_groups}")
    folds = _assign_groups(labels, groups, [1.0] * n_folds, seed)
    all_indices = set(range(len(labels)))
    return [(sorted(all_indices - set(held_out)), held_out) for held_out in folds]
