"""Put independently time-stamped device streams onto one clock, and bridge short NaN gaps.

Body-worn IMUs (RealWorld HAR's per-position CSV files, or live streams from the serial bridge) each have
their own timestamps. ColloSSL needs rows that are simultaneous across devices, so every stream is linearly
interpolated onto a common grid at ``rate_hz`` covering only the span where all devices have data.

Bad input handling (each documented and tested):

- unequal lengths / start and end times: the grid covers the intersection of the streams' spans; the
  surplus of the longer streams is not used;
- a missing device (no samples, or fewer than 2): ``ValueError`` naming it;
- NaN / inf samples: those rows are dropped before interpolation; a grid point farther than ``max_gap_s``
  from any valid sample of some device is marked invalid in the returned mask instead of being invented;
- unsorted timestamps: ``ValueError`` unless ``sort=True`` (then rows are stably sorted by time); duplicate
  timestamps keep the first row.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def synchronise_streams(
    streams: Mapping[str, tuple[np.ndarray, np.ndarray]],
    rate_hz: float,
    max_gap_s: float = 0.1,
    sort: bool = False,
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Resample device streams onto one shared time grid.

    Args:
        streams: device name -> (timestamps in seconds ``(N_d,)``, samples ``(N_d, C_d)``).
        rate_hz: grid rate in Hz.
        max_gap_s: largest distance (seconds) from a grid point to the nearest valid sample of every device
            for that grid point to count as valid.
        sort: sort unsorted timestamps instead of raising.

    Returns:
        ``(grid_s (T,), samples: device -> float32 (T, C_d), valid (T,) bool)``.

    Raises:
        ValueError: empty/missing device, mismatched lengths inside one stream, unsorted timestamps (with
            ``sort=False``), or streams that do not overlap in time.
    """
    if rate_hz <= 0:
        raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
    if not streams:
        raise ValueError("no device streams given")
    cleaned: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for device, (stamps, samples) in streams.items():
        cleaned[device] = _clean_stream(device, np.asarray(stamps, np.float64), np.asarray(samples), sort)
    start = max(s[0] for s, _ in cleaned.values())
    stop = min(s[-1] for s, _ in cleaned.values())
    if stop <= start:
        spans = {d: (float(s[0]), float(s[-1])) for d, (s, _) in cleaned.items()}
        raise ValueError(f"device streams do not overlap in time: spans (s) {spans}")
    grid = start + np.arange(int(np.floor((stop - start) * rate_hz)) + 1) / rate_hz
    valid = np.ones(len(grid), dtype=bool)
    out: dict[str, np.ndarray] = {}
    for device, (stamps, samples) in cleaned.items():
        out[device] = np.stack(
            [np.interp(grid, stamps, samples[:, c]) for c in range(samples.shape[1])], axis=1
        ).astype(np.float32)
        nearest = np.clip(np.searchsorted(stamps, grid), 1, len(stamps) - 1)
        distance = np.minimum(np.abs(stamps[nearest] - grid), np.abs(stamps[nearest - 1] - grid))
        valid &= distance <= max_gap_s
    return grid, out, valid


def _clean_stream(
    device: str, stamps: np.ndarray, samples: np.ndarray, sort: bool
) -> tuple[np.ndarray, np.ndarray]:
    if samples.ndim == 1:
        samples = samples[:, None]
    if stamps.ndim != 1 or samples.ndim != 2 or len(stamps) != len(samples):
        raise ValueError(
            f"device {device!r}: timestamps {stamps.shape} and samples {samples.shape} must be (N,) and (N, C)"
        )
    finite = np.isfinite(stamps) & np.isfinite(samples).all(axis=1)
    stamps, samples = stamps[finite], samples[finite].astype(np.float64)
    if len(stamps) < 2:
        raise ValueError(f"device {device!r} has fewer than 2 valid samples; it is missing or all NaN")
    if np.any(np.diff(stamps) < 0):
        if not sort:
            raise ValueError(f"device {device!r}: timestamps are not sorted; sort them or pass sort=True")
        order = np.argsort(stamps, kind="stable")
        stamps, samples = stamps[order], samples[order]
    unique = np.concatenate([[True], np.diff(stamps) > 0])
    return stamps[unique], samples[unique]


def fill_short_gaps(samples: np.ndarray, max_gap: int) -> np.ndarray:
    """Linearly interpolate runs of at most ``max_gap`` NaN rows per channel; longer runs stay NaN.

    Wireless IMUs (PAMAP2, Opportunity) drop packets, leaving NaN rows; short holes are bridged so windows
    over them survive, long holes keep NaN and the windowing drops the windows that touch them.

    Args:
        samples: ``(T, C)`` float array with NaN for missing values.
        max_gap: longest run of missing rows (samples) that is filled.

    Returns:
        A float32 copy with short gaps filled.
    """
    out = np.asarray(samples, dtype=np.float32).copy()
    index = np.arange(len(out))
    for c in range(out.shape[1]):
        column = out[:, c]
        missing = ~np.isfinite(column)
        if not missing.any() or missing.all():
            continue
        filled = np.interp(index, index[~missing], column[~missing])
        # length of the NaN run each missing row belongs to; leading/trailing runs are never filled
        starts = np.flatnonzero(missing & ~np.concatenate([[False], missing[:-1]]))
        stops = np.flatnonzero(missing & ~np.concatenate([missing[1:], [False]])) + 1
        for start, stop in zip(starts, stops):
            if stop - start <= max_gap and start > 0 and stop < len(out):
                column[start:stop] = filled[start:stop]
    return out
