"""Held-out splits by subject / run (never by window: neighbouring windows overlap and would leak)."""

from __future__ import annotations

import numpy as np


def held_out_split(
    labels: np.ndarray, groups: np.ndarray | None, test_fraction: float = 0.3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean ``(train, test)`` masks.

    - no groups: a class-stratified random split of samples;
    - 2-3 groups (subjects): the last group is the test set (leave-one-subject-out);
    - more groups (runs): per class, ``test_fraction`` of its groups (at least one, never all) are held out.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    if groups is None:
        test = np.zeros(labels.shape[0], dtype=bool)
        for label in np.unique(labels):
            index = np.flatnonzero(labels == label)
            chosen = rng.choice(index, size=max(1, int(round(test_fraction * len(index)))), replace=False)
            test[chosen] = len(index) > 1
        return ~test, test
    unique = np.unique(groups)
    if len(unique) < 2:
        raise ValueError("a held-out split needs at least 2 subjects / runs in the groups")
    if len(unique) <= 3:
        test = groups == unique[-1]
        return ~test, test
    test_groups: list[int] = []
    for label in np.unique(labels):
        label_groups = np.unique(groups[labels == label])
        if len(label_groups) < 2:
            continue
        count = min(len(label_groups) - 1, max(1, int(round(test_fraction * len(label_groups)))))
        test_groups.extend(rng.choice(label_groups, size=count, replace=False).tolist())
    test = np.isin(groups, test_groups)
    return ~test, test


def label_subset(labels: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Indices of a class-stratified ``fraction`` of ``labels`` (at least one per class)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        index = np.flatnonzero(labels == label)
        chosen.append(rng.choice(index, size=max(1, int(round(fraction * len(index)))), replace=False))
    return np.sort(np.concatenate(chosen))
