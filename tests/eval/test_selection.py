"""Probe regularisation chosen on held-out blocks of the training data (robossl.eval.selection)."""

from __future__ import annotations

import numpy as np
import pytest

from robossl.eval.selection import time_block_split, tuned_linear_probe, validation_split


def test_time_blocks_are_the_last_fraction_of_each_group_with_a_gap() -> None:
    groups = np.array([0] * 10 + [1] * 20)
    fit, validation = time_block_split(groups, 30, fraction=0.2, gap=1)
    assert np.flatnonzero(validation).tolist() == [8, 9, 26, 27, 28, 29]
    assert np.flatnonzero(~fit & ~validation).tolist() == [7, 25]  # the gap is in neither side
    assert not (fit & validation).any()
    with pytest.raises(ValueError, match="fraction"):
        time_block_split(groups, 30, fraction=1.5)


def test_many_runs_validate_on_whole_runs() -> None:
    labels = np.repeat([0, 1], 40)
    groups = np.repeat(np.arange(8), 10)  # 4 runs per class
    fit, validation = validation_split(labels, groups)
    held = np.unique(groups[validation])
    assert len(held) == 2 and not np.isin(groups[fit], held).any()  # one whole run per class
    assert set(labels[validation]) == {0, 1}


def test_chooses_strong_regularisation_when_the_training_labels_are_noisy() -> None:
    # One informative feature and 40 noise features; 30 % of the fitting labels flipped. A weakly
    # regularised probe fits the noise; validation on clean held-out rows must prefer a small C.
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 2, n)
    x = np.concatenate([(y * 2.0 - 1.0)[:, None] + rng.normal(0, 1.0, (n, 1)), rng.normal(0, 1, (n, 40))], 1)
    fit, validation = time_block_split(None, n, fraction=0.3, gap=0)
    noisy = y.copy()
    flip = fit & (rng.random(n) < 0.3)
    noisy[flip] = 1 - noisy[flip]
    tuned = tuned_linear_probe(x, noisy, x[:50], y[:50], fit, validation, grid=(1e-3, 1e-2, 100.0))
    assert set(tuned.validation_macro_f1) == {1e-3, 1e-2, 100.0}
    assert tuned.regularization < 100.0
    assert tuned.validation_macro_f1[tuned.regularization] == max(tuned.validation_macro_f1.values())
