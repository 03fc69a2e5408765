"""Synchronising independently time-stamped device streams: unequal lengths, missing devices, NaN, order."""

from __future__ import annotations

import numpy as np
import pytest

from robossl.data.sync import synchronise_streams


def _stream(start: float, stop: float, rate: float, slope: float) -> tuple[np.ndarray, np.ndarray]:
    stamps = np.arange(start, stop, 1 / rate)
    return stamps, np.stack([slope * stamps, np.ones_like(stamps)], axis=1)


def test_streams_of_unequal_length_are_cropped_to_their_common_span_and_interpolated() -> None:
    b = _stream(1.03, 8.0, 45, -1.0)
    grid, samples, valid = synchronise_streams({"a": _stream(0.0, 10.0, 50, 2.0), "b": b}, rate_hz=20.0)
    assert grid[0] == pytest.approx(1.03) and b[0][-1] - 0.05 < grid[-1] <= b[0][-1]
    np.testing.assert_allclose(np.diff(grid), 0.05)
    np.testing.assert_allclose(samples["a"][:, 0], 2.0 * grid, atol=1e-4)
    np.testing.assert_allclose(samples["b"][:, 0], -grid, atol=1e-4)
    assert valid.all() and samples["a"].dtype == np.float32


def test_missing_or_all_nan_device_raises_naming_it() -> None:
    stamps, values = _stream(0, 2, 10, 1.0)
    with pytest.raises(ValueError, match="'b' has fewer than 2 valid samples"):
        synchronise_streams({"a": (stamps, values), "b": (np.array([]), np.zeros((0, 2)))}, 10.0)
    with pytest.raises(ValueError, match="'b' has fewer than 2"):
        synchronise_streams({"a": (stamps, values), "b": (stamps, np.full_like(values, np.nan))}, 10.0)


def test_nan_rows_are_dropped_and_long_gaps_marked_invalid() -> None:
    stamps, values = _stream(0, 4, 10, 1.0)
    values[10:12, 0] = np.nan  # 0.2 s hole: bridged by interpolation
    values[25:35, 1] = np.nan  # 1.0 s hole: longer than max_gap_s
    grid, samples, valid = synchronise_streams({"a": (stamps, values)}, 10.0, max_gap_s=0.15)
    assert np.isfinite(samples["a"]).all()
    np.testing.assert_allclose(samples["a"][10:12, 0], grid[10:12], atol=1e-5)
    assert valid[:20].all() and not valid[28:32].any()


def test_unsorted_timestamps_raise_unless_sorting_is_requested() -> None:
    stamps, values = _stream(0, 2, 10, 3.0)
    order = np.random.default_rng(0).permutation(len(stamps))
    with pytest.raises(ValueError, match="not sorted"):
        synchronise_streams({"a": (stamps[order], values[order])}, 10.0)
    grid, samples, _ = synchronise_streams({"a": (stamps[order], values[order])}, 10.0, sort=True)
    np.testing.assert_allclose(samples["a"][:, 0], 3.0 * grid, atol=1e-4)


def test_non_overlapping_streams_and_bad_shapes_raise() -> None:
    with pytest.raises(ValueError, match="do not overlap"):
        synchronise_streams({"a": _stream(0, 1, 10, 1.0), "b": _stream(2, 3, 10, 1.0)}, 10.0)
    with pytest.raises(ValueError, match="must be"):
        synchronise_streams({"a": (np.arange(5.0), np.zeros((4, 2)))}, 10.0)
