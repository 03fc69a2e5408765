"""Recognise samples a device sent again: same device, same stream, same device time.

A device (or a USB hub, or a firmware retry after a lost ACK) may send a batch a second time with the
same device times. Host stamps cannot tell: they come from the clock fit, which is refitted after every
time-sync round trip, so a re-sent sample can map a few hundred nanoseconds later than the first copy
and pass a node's ``out_of_order`` check. Device times are exact, so the bridge marks repeats by them.

Only exact device times recorded recently count: samples from before a device reboot (whose counter
restarts) are forgotten as new ones arrive, and an older sample that was never delivered is not a repeat.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable

import numpy as np


class RepeatFilter:
    """Device times of the last ``capacity`` delivered samples, per stream.

    Args:
        capacity: sample times remembered per stream (at 1 kHz, 4096 cover the last 4 s).
    """

    def __init__(self, capacity: int = 4096) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1 sample time, got {capacity}")
        self.capacity = capacity
        self._seen: dict[Hashable, set[int]] = {}
        self._order: dict[Hashable, deque[int]] = {}

    def mark(self, stream: Hashable, device_times_us: np.ndarray) -> np.ndarray:
        """Which of ``device_times_us`` were delivered before on ``stream``; remember the new ones.

        Args:
            stream: e.g. ``(device_id, message type)``.
            device_times_us: (N,) int device times of the samples, microseconds.

        Returns:
            (N,) bool, True for a repeated sample (also a time repeated within ``device_times_us``).
        """
        seen = self._seen.setdefault(stream, set())
        order = self._order.setdefault(stream, deque())
        times = [int(t) for t in np.asarray(device_times_us).reshape(-1)]
        repeated = np.zeros(len(times), dtype=bool)
        for index, t in enumerate(times):
            if t in seen:
                repeated[index] = True
                continue
            seen.add(t)
            order.append(t)
            if len(order) > self.capacity:
                seen.discard(order.popleft())
        return repeated
