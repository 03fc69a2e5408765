"""Intervals on a mean over a few units and on paired differences (robossl.eval.intervals)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robossl.eval.intervals import bootstrap_interval, paired_difference, t_interval

T_975_DF4 = 2.7764451051977987  # Student's t, 97.5 % quantile, 4 degrees of freedom (printed tables: 2.776)


def test_t_interval_matches_the_textbook_formula() -> None:
    interval = t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    half = T_975_DF4 * math.sqrt(2.5) / math.sqrt(5)  # sample variance of 1..5 is 2.5
    assert interval.mean == pytest.approx(3.0)
    assert interval.low == pytest.approx(3.0 - half, abs=1e-9)
    assert interval.high == pytest.approx(3.0 + half, abs=1e-9)
    assert interval.half_width == pytest.approx(half, abs=1e-9)
    assert (interval.units, interval.method, interval.confidence) == (5, "t", 0.95)


def test_t_interval_covers_the_true_mean_95_percent_of_the_time_with_five_units() -> None:
    # a normal-quantile interval (1.96) would cover only ~88 % with n = 5
    rng = np.random.default_rng(1)
    samples = rng.normal(2.0, 3.0, size=(4000, 5))
    covered = [t_interval(row).low <= 2.0 <= t_interval(row).high for row in samples]
    assert np.mean(covered) == pytest.approx(0.95, abs=0.015)


def test_one_unit_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="at least 2 units"):
        t_interval([0.5])
    with pytest.raises(ValueError, match="at least 2 units"):
        bootstrap_interval([0.5])
    with pytest.raises(ValueError, match="finite"):
        t_interval([0.5, float("nan")])
    with pytest.raises(ValueError, match="confidence"):
        t_interval([0.5, 1.0], confidence=95)


def test_bootstrap_of_two_units_has_the_exact_percentiles() -> None:
    # resampled means of [0, 1] are 0, 0.5, 1 with probability 1/4, 1/2, 1/4: 2.5 % -> 0, 97.5 % -> 1
    interval = bootstrap_interval([0.0, 1.0], resamples=20_000, seed=3)
    assert (interval.low, interval.mean, interval.high) == (0.0, 0.5, 1.0)


def test_bootstrap_is_deterministic_for_a_seed_and_close_to_t_for_many_units() -> None:
    values = np.random.default_rng(0).normal(1.0, 1.0, size=60)
    first, again = bootstrap_interval(values, seed=7), bootstrap_interval(values, seed=7)
    other = bootstrap_interval(values, seed=8)
    assert (first.low, first.high) == (again.low, again.high)
    assert (first.low, first.high) != (other.low, other.high)
    t = t_interval(values)
    assert first.low == pytest.approx(t.low, abs=0.05) and first.high == pytest.approx(t.high, abs=0.05)


def test_paired_difference_removes_the_spread_between_units() -> None:
    # rooms differ a lot (0..40 collisions) but the treatment is always 1 lower: paired, that is clear
    control = np.array([0.0, 10.0, 20.0, 30.0, 40.0])
    treatment = control - np.array([1.0, 0.8, 1.2, 1.0, 1.0])
    paired = paired_difference(treatment, control)
    assert paired.differences == pytest.approx((-1.0, -0.8, -1.2, -1.0, -1.0))
    assert paired.t.mean == pytest.approx(-1.0)
    assert paired.t.sign() == -1 and paired.bootstrap.sign() == -1
    assert paired.t.high < 0 and paired.bootstrap.high < 0
    # unpaired, the same numbers are nowhere near significant
    assert t_interval(treatment).low < t_interval(control).high
    mixed = paired_difference([1.0, 0.0, 2.0], [0.0, 1.0, 1.0])
    assert mixed.t.sign() == 0
    assert paired_difference([3.0, 4.0, 5.0], [1.0, 1.5, 2.5]).t.sign() == 1
    with pytest.raises(ValueError, match="pair them unit by unit"):
        paired_difference([1.0, 2.0], [1.0, 2.0, 3.0])
