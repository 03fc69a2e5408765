"""Aligned windows from live device streams, for the online ColloSSL learner.

:class:`LiveWindows` keeps each device's samples in a bounded stream; whenever every device covers the next
window span, the span is resampled onto one grid (linear interpolation) into an aligned window
``(D, L, C)``, labelled with the activity label nearest to its centre. It also keeps each device's running
normalisation statistics. Bad input handling is listed in :mod:`robossl.pipelines.collossl.online`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from robossl.pipelines.collossl.online_config import OnlineLearnerConfig

UNLABELLED = -1


class RunningStats:
    """Per-channel running mean/variance (Chan et al. parallel update) for online normalisation."""

    def __init__(self, channels: int) -> None:
        self.count = 0.0
        self.mean = np.zeros(channels)
        self.m2 = np.zeros(channels)

    def update(self, samples: np.ndarray) -> None:
        if len(samples) == 0:
            return
        n = float(len(samples))
        mean = samples.mean(axis=0)
        delta = mean - self.mean
        total = self.count + n
        self.mean = self.mean + delta * n / total
        self.m2 = self.m2 + ((samples - mean) ** 2).sum(axis=0) + delta**2 * self.count * n / total
        self.count = total

    def normalise(self, x: np.ndarray) -> np.ndarray:
        std = np.sqrt(self.m2 / max(self.count, 1.0))
        return ((x - self.mean) / np.maximum(std, 1e-6)).astype(np.float32)

    def state(self) -> list[Any]:
        return [self.count, torch.from_numpy(self.mean.copy()), torch.from_numpy(self.m2.copy())]

    def load(self, state: list[Any]) -> None:
        self.count = float(state[0])
        self.mean = state[1].numpy().astype(np.float64)
        self.m2 = state[2].numpy().astype(np.float64)


class LiveWindows:
    """Bounded per-device streams cut into aligned, labelled windows (see module docstring).

    Attributes:
        streams: per device, ``(stamps (N,) s, samples (N, C))``, at most ``stream_horizon_s`` long.
        normalisers: per device, the running statistics of every sample accepted so far.
        stats: input counters ``late``, ``nan``, ``windows``, ``gap_windows``, ``labelled_windows``.
    """

    def __init__(self, config: OnlineLearnerConfig) -> None:
        self.config = config
        self.normalisers = {name: RunningStats(config.channels) for name in config.device_names}
        self.clear()

    def clear(self) -> None:
        """Forget streams, labels, the window grid and the counters; keep the normalisation statistics."""
        cfg = self.config
        self.streams: dict[str, tuple[np.ndarray, np.ndarray]] = {
            name: (np.zeros(0), np.zeros((0, cfg.channels), np.float32)) for name in cfg.device_names
        }
        self.label_stamps = np.zeros(0)
        self.label_values = np.zeros(0, np.int64)
        self.next_start: float | None = None
        self.stats: dict[str, int] = dict.fromkeys(
            ("late", "nan", "windows", "gap_windows", "labelled_windows"), 0
        )

    def add_samples(
        self, device_id: str, stamps: np.ndarray, samples: np.ndarray
    ) -> list[tuple[np.ndarray, int]]:
        """Append samples of one device; the aligned windows that became complete, oldest first.

        Args:
            device_id: one of ``config.device_names``.
            stamps: ``(N,)`` timestamps in seconds on the clock shared by all devices, sorted.
            samples: ``(N, channels)`` raw sensor values.

        Returns:
            ``(window (D, L, C) float32, label)`` per new window; ``label`` is ``UNLABELLED`` (-1) without one.

        Raises:
            ValueError: unknown device, wrong shapes, or unsorted timestamps.
        """
        cfg = self.config
        if device_id not in self.streams:
            raise ValueError(f"unknown device {device_id!r}; configured devices are {cfg.device_names}")
        stamps = np.asarray(stamps, dtype=np.float64).reshape(-1)
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim != 2 or samples.shape != (len(stamps), cfg.channels):
            raise ValueError(
                f"device {device_id!r}: expected stamps (N,) and samples (N, {cfg.channels}), got "
                f"{stamps.shape} and {samples.shape}"
            )
        if len(stamps) > 1 and np.any(np.diff(stamps) < 0):
            raise ValueError(f"device {device_id!r}: timestamps in one call must be sorted (non-decreasing)")
        finite = np.isfinite(stamps) & np.isfinite(samples).all(axis=1)
        self.stats["nan"] += int((~finite).sum())
        stamps, samples = stamps[finite], samples[finite]
        old_stamps, old_samples = self.streams[device_id]
        last = old_stamps[-1] if len(old_stamps) else -np.inf
        fresh = stamps > last
        fresh &= np.concatenate([[True], np.diff(stamps) > 0]) if len(stamps) else fresh
        self.stats["late"] += int((~fresh).sum())
        stamps, samples = stamps[fresh], samples[fresh]
        if len(stamps) == 0:
            return []
        self.normalisers[device_id].update(samples.astype(np.float64))
        stamps = np.concatenate([old_stamps, stamps])
        samples = np.concatenate([old_samples, samples])
        keep = stamps >= stamps[-1] - cfg.stream_horizon_s
        self.streams[device_id] = (stamps[keep], samples[keep])
        return self._assemble()

    def add_labels(self, stamps: np.ndarray, labels: np.ndarray) -> None:
        """Record activity labels ``(N,)`` at ``stamps`` ``(N,)`` seconds; a window takes the label nearest to
        its centre (within half a window), later windows only. Labels must be in ``[0, num_classes)``."""
        stamps = np.asarray(stamps, dtype=np.float64).reshape(-1)
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if len(stamps) != len(labels):
            raise ValueError(f"stamps ({len(stamps)}) and labels ({len(labels)}) must have equal length")
        if self.config.num_classes == 0:
            raise ValueError("this learner has no classifier; set OnlineLearnerConfig.num_classes > 0")
        if len(labels) and (labels.min() < 0 or labels.max() >= self.config.num_classes):
            raise ValueError(
                f"labels must be in [0, {self.config.num_classes}), got {labels.min()}..{labels.max()}"
            )
        order = np.argsort(np.concatenate([self.label_stamps, stamps]), kind="stable")
        all_stamps = np.concatenate([self.label_stamps, stamps])[order]
        all_labels = np.concatenate([self.label_values, labels])[order]
        keep = all_stamps >= all_stamps[-1] - self.config.stream_horizon_s if len(all_stamps) else []
        self.label_stamps, self.label_values = all_stamps[keep], all_labels[keep]

    def waiting_reason(self) -> str:
        """Why no new window can form right now (empty string when windows are forming)."""
        empty = [name for name, (stamps, _) in self.streams.items() if len(stamps) == 0]
        if empty:
            return f"no samples yet from device(s) {empty}"
        ends = {name: float(stamps[-1]) for name, (stamps, _) in self.streams.items()}
        slowest = min(ends, key=lambda k: ends[k])
        return f"waiting for device {slowest!r} (latest sample at {ends[slowest]:.3f} s)"

    def _assemble(self) -> list[tuple[np.ndarray, int]]:
        cfg = self.config
        if any(len(stamps) < 2 for stamps, _ in self.streams.values()):
            return []
        if self.next_start is None:
            self.next_start = max(float(stamps[0]) for stamps, _ in self.streams.values())
        length = cfg.window_samples
        span = (length - 1) / cfg.sample_rate_hz
        step = cfg.window_s - cfg.overlap_s
        latest_common = min(float(stamps[-1]) for stamps, _ in self.streams.values())
        added = []
        while self.next_start + span <= latest_common:
            start = self.next_start
            self.next_start = start + step
            earliest = max(float(stamps[0]) for stamps, _ in self.streams.values())
            if start < earliest:  # fell behind the bounded stream horizon: skip ahead
                self.next_start = earliest
                continue
            grid = start + np.arange(length) / cfg.sample_rate_hz
            window = np.empty((len(cfg.device_names), length, cfg.channels), np.float32)
            complete = True
            for d, (stamps, samples) in enumerate(self.streams.values()):
                nearest = np.clip(np.searchsorted(stamps, grid), 1, len(stamps) - 1)
                gap = np.minimum(np.abs(stamps[nearest] - grid), np.abs(stamps[nearest - 1] - grid))
                if gap.max() > cfg.max_gap_s:
                    complete = False
                    break
                for c in range(cfg.channels):
                    window[d, :, c] = np.interp(grid, stamps, samples[:, c])
            if not complete:
                self.stats["gap_windows"] += 1
                continue
            label = self._label_for(start + span / 2)
            self.stats["labelled_windows"] += int(label != UNLABELLED)
            self.stats["windows"] += 1
            added.append((window, label))
        return added

    def _label_for(self, centre: float) -> int:
        if len(self.label_stamps) == 0:
            return UNLABELLED
        i = int(np.argmin(np.abs(self.label_stamps - centre)))
        if abs(self.label_stamps[i] - centre) > self.config.window_s / 2:
            return UNLABELLED
        return int(self.label_values[i])

    def state_dict(self) -> dict[str, Any]:
        """Streams, normalisation statistics, labels, window grid and counters (part of the learner's)."""
        return {
            "streams": {
                k: [torch.from_numpy(s.copy()), torch.from_numpy(x.copy())]
                for k, (s, x) in self.streams.items()
            },
            "running_stats": {k: v.state() for k, v in self.normalisers.items()},
            "labels": [
                torch.from_numpy(self.label_stamps.copy()),
                torch.from_numpy(self.label_values.copy()),
            ],
            "next_start": self.next_start,
            "counters": dict(self.stats),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output (extra keys, the learner's own, are ignored)."""
        self.streams = {k: (v[0].numpy(), v[1].numpy()) for k, v in state["streams"].items()}
        for name, value in state["running_stats"].items():
            self.normalisers[name].load(value)
        self.label_stamps, self.label_values = state["labels"][0].numpy(), state["labels"][1].numpy()
        self.next_start = state["next_start"]
        self.stats = dict(state["counters"])
