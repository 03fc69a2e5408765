"""95 % intervals on a mean over a few independent units (seeds, held-out rooms), and paired differences.

Benchmarks compare conditions over a handful of units: the same held-out rooms flown by two controllers, the
same seeds trained by two methods. Pairing by unit removes the unit-to-unit spread (an easy room is easy for
both), so the question becomes "is the mean of the per-unit differences away from zero?". Two intervals answer
it: Student's t-interval (the headline; exact if the differences are normal, honest about tiny n through its
heavy tails) and a percentile bootstrap over units (no normality assumption, but too narrow for n below ~10).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Interval:
    """A mean with its confidence interval."""

    mean: float  # mean over units
    low: float  # lower bound of the interval
    high: float  # upper bound of the interval
    units: int  # number of independent units (seeds, rooms) behind the mean
    confidence: float  # e.g. 0.95
    method: str  # "t" or "bootstrap"

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0

    def sign(self) -> int:
        """-1 if the whole interval is below zero, +1 if above, 0 if it covers zero."""
        if self.high < 0.0:
            return -1
        if self.low > 0.0:
            return 1
        return 0

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


@dataclass(frozen=True)
class PairedDifference:
    """Per-unit ``treatment - control`` and two intervals on its mean."""

    differences: tuple[float, ...]  # one per unit, in the units' order
    t: Interval  # Student's t-interval (the headline)
    bootstrap: Interval  # paired percentile bootstrap over units

    def as_dict(self) -> dict[str, object]:
        return {
            "differences": list(self.differences),
            "t": self.t.as_dict(),
            "bootstrap": self.bootstrap.as_dict(),
        }


def _values(values: Sequence[float] | np.ndarray, confidence: float) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"interval: expected one value per unit (a 1-D sequence), got shape {array.shape}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"interval: confidence must be in (0, 1), got {confidence}; use 0.95 for 95 %")
    if not np.isfinite(array).all():
        raise ValueError(f"interval: values must be finite, got {array.tolist()}; drop or fix the NaN units")
    if len(array) < 2:
        raise ValueError(
            f"interval: needs at least 2 units (seeds, rooms) to estimate their spread, got {len(array)}; "
            "one unit says nothing about how much the next one would differ: run more seeds/rooms"
        )
    return array


def t_interval(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> Interval:
    """Student's t-interval of the mean: ``mean ± t_{n-1} * s / sqrt(n)``.

    Args:
        values: one value per independent unit, shape ``(n,)``, n >= 2.
        confidence: coverage, e.g. 0.95.

    Raises:
        ValueError: fewer than 2 values, non-finite values, or confidence outside (0, 1).
    """
    array = _values(values, confidence)
    n = len(array)
    mean = float(array.mean())
    quantile = float(stats.t.ppf(0.5 + confidence / 2.0, df=n - 1))
    half = quantile * float(array.std(ddof=1)) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, confidence, "t")


def bootstrap_interval(
    values: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap of the mean: resample the units with replacement ``resamples`` times.

    Applied to per-unit differences this is the paired bootstrap (each resample draws whole units, both
    conditions together). Deterministic for a given ``seed``.

    Raises:
        ValueError: as :func:`t_interval`, or ``resamples`` < 100.
    """
    array = _values(values, confidence)
    if resamples < 100:
        raise ValueError(f"bootstrap_interval: resamples must be >= 100 for stable tails, got {resamples}")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(array), size=(resamples, len(array)))
    means = array[picks].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Interval(float(array.mean()), float(low), float(high), len(array), confidence, "bootstrap")


def paired_difference(
    treatment: Sequence[float] | np.ndarray,
    control: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> PairedDifference:
    """Per-unit ``treatment - control`` with its t-interval and paired bootstrap interval.

    Args:
        treatment, control: one value per unit, shape ``(n,)``, in the same unit order.

    Raises:
        ValueError: the two sequences differ in length, or as :func:`t_interval`.
    """
    a = np.asarray(treatment, dtype=np.float64)
    b = np.asarray(control, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(
            f"paired_difference: treatment has {a.shape} values and control {b.shape}; "
            "pair them unit by unit (the same seeds/rooms in the same order)"
        )
    differences = a - b
    return PairedDifference(
        tuple(differences.tolist()),
        t_interval(differences, confidence),
        bootstrap_interval(differences, confidence, resamples, seed),
    )
