"""Probe model selection on held-out time blocks (never on the test split).

A probe's regularisation chosen on the test subject, or left at a default that overfits the training subject
(scikit-learn's C=1 did on ActRecTut: hand-crafted logistic regression scored higher with 10 % of the labels
than with all of them), makes method comparisons noise. Here C is chosen by macro-F1 on the last block in
time of every training group (subject or run), then the probe is refitted on all training windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robossl.eval.probes import ProbeResult, _check, _score, linear_classifier_predictions
from robossl.eval.splits import held_out_split

REGULARIZATION_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)  # inverse L2 strengths C tried by tuned_linear_probe


def time_block_split(
    groups: np.ndarray | None, count: int, fraction: float = 0.25, gap: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean ``(fit, validation)`` masks over ``count`` training samples: the last ``fraction`` of each
    group's samples (in array order, which is time order for windowed recordings) validate; the ``gap``
    samples just before each block are in neither (overlapping windows at the boundary would leak).
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    groups = np.zeros(count, dtype=np.int64) if groups is None else np.asarray(groups)
    if groups.shape != (count,):
        raise ValueError(f"groups must be ({count},), got {groups.shape}")
    fit = np.ones(count, dtype=bool)
    validation = np.zeros(count, dtype=bool)
    for group in np.unique(groups):
        index = np.flatnonzero(groups == group)
        size = int(round(fraction * len(index)))
        if size < 1 or size + gap >= len(index):
            continue
        validation[index[-size:]] = True
        fit[index[-size - gap :]] = False
    return fit, validation


def validation_split(
    labels: np.ndarray, groups: np.ndarray | None, fraction: float = 0.25
) -> tuple[np.ndarray, np.ndarray]:
    """``(fit, validation)`` masks that mirror how the test set is held out: with more than 3 groups (runs)
    about ``fraction`` of each class's runs validate (whole runs, as the test runs are whole); with 1-3
    groups (subjects) the last ``fraction`` of each group in time does (:func:`time_block_split`)."""
    if groups is not None and len(np.unique(groups)) > 3:
        fit, validation = held_out_split(labels, groups, fraction, seed=1)
        if validation.any() and len(np.unique(labels[fit])) >= 2:
            return fit, validation
    return time_block_split(groups, len(labels), fraction)


@dataclass
class TunedProbeResult:
    result: ProbeResult  # test scores of the probe refitted on all training samples with the chosen C
    regularization: float  # the chosen inverse L2 strength C
    validation_macro_f1: dict[float, float]  # macro-F1 on the validation block per C tried


def tuned_linear_probe(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    fit: np.ndarray,
    validation: np.ndarray,
    grid: Sequence[float] = REGULARIZATION_GRID,
) -> TunedProbeResult:
    """Linear probe whose C is chosen on ``validation`` (a boolean mask over the training rows).

    Args:
        train_x, test_x: ``(N, D)`` / ``(M, D)`` frozen representations.
        train_y, test_y: ``(N,)`` / ``(M,)`` integer labels.
        fit, validation: ``(N,)`` bool masks over the training rows: C is chosen by fitting on ``fit`` and
            scoring on ``validation`` (see :func:`time_block_split`); the final probe fits every row.
        grid: candidate C values.
    """
    from sklearn.metrics import f1_score

    _check(train_x, train_y, test_x, test_y)
    if validation.shape != train_y.shape or fit.shape != train_y.shape:
        raise ValueError(
            f"fit and validation masks must be {train_y.shape}, got {fit.shape}, {validation.shape}"
        )
    scores: dict[float, float] = {}
    if validation.any() and len(np.unique(train_y[fit])) >= 2:
        for c in grid:
            predicted = linear_classifier_predictions(train_x[fit], train_y[fit], train_x[validation], c)
            scores[float(c)] = float(
                f1_score(
                    train_y[validation],
                    predicted,
                    average="macro",
                    labels=np.unique(train_y[validation]),
                    zero_division=0,
                )
            )
        best = max(scores, key=lambda c: (scores[c], -c))  # ties: the stronger regularisation
    else:
        best = float(grid[len(grid) // 2])
    predicted = linear_classifier_predictions(train_x, train_y, test_x, best)
    return TunedProbeResult(_score(test_y, predicted, train_x.shape[0]), best, scores)
