"""Inference first, learner second: what inference is doing, for a background trainer to yield to it.

The thread (or callback) that runs inference wraps each frame in :meth:`InferenceLoad.frame`. The trainer
(:class:`robossl.online.trainer.BackgroundTrainer` with ``TrainerConfig.yield_to_inference``) then

- does not start a step while a frame is in flight (:meth:`InferenceLoad.wait_idle`; after
  ``max_yield_s`` without a gap between frames it steps anyway, so back-to-back frames cannot starve it), and
- paces itself with an :class:`AdaptiveBudget`: its duty cycle (share of wall time spent in steps) goes
  down while the recent p99 frame latency is above ``target_ratio`` times the *no-learning processing time*
  (the median latency of recent frames that no training step overlapped), and back up, at most to
  ``cpu_fraction``, while it is below.

Latencies are processing times in seconds, measured from the start of a frame's processing to its end
(queueing before it is the input side's business: latest-only queues keep it at one frame).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

import numpy as np


class InferenceLoad:
    """Thread-safe record of frames in flight and their processing latencies.

    Args:
        window: latencies kept for the percentiles (the newest ``window`` frames).
        clock: monotonic time source [s] (injectable for tests).
    """

    def __init__(self, window: int = 200, clock: Callable[[], float] = time.perf_counter) -> None:
        if window < 2:
            raise ValueError(f"window must be >= 2 frames, got {window}")
        self._clock = clock
        self._cond = threading.Condition()
        self._in_flight = 0
        self._stepping = 0  # training steps running now
        self._overlapped = 0  # bumped when a step starts: frames in flight then are overlapped
        self.frames = 0  # frames finished since start
        self.overlapped_frames = 0  # of those, frames that a training step overlapped
        self._latencies: deque[float] = deque(maxlen=window)  # every frame [s]
        self._clean: deque[float] = deque(maxlen=window)  # frames no step overlapped [s]

    # -- inference side --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def frame(self) -> Iterator[None]:
        """Wrap one frame's processing: counts it in flight and records its latency (also on error)."""
        with self._cond:
            self._in_flight += 1
            mark = self._overlapped
            overlapped = self._stepping > 0
        start = self._clock()
        try:
            yield
        finally:
            latency = self._clock() - start
            with self._cond:
                self._in_flight -= 1
                overlapped = overlapped or self._overlapped != mark or self._stepping > 0
                self._latencies.append(latency)
                self.frames += 1
                if overlapped:
                    self.overlapped_frames += 1
                else:
                    self._clean.append(latency)
                self._cond.notify_all()

    @property
    def in_flight(self) -> int:
        """Frames being processed now."""
        with self._cond:
            return self._in_flight

    # -- trainer side ----------------------------------------------------------------------------------
    def wait_idle(self, timeout_s: float) -> bool:
        """Block until no frame is in flight (True) or ``timeout_s`` passed (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._in_flight == 0, timeout_s)

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """Wrap one training step: frames that run meanwhile count as overlapped."""
        with self._cond:
            self._stepping += 1
            self._overlapped += 1
        try:
            yield
        finally:
            with self._cond:
                self._stepping -= 1

    # -- statistics ------------------------------------------------------------------------------------
    def percentiles_s(self, recent: int | None = None) -> tuple[float, float]:
        """(p50, p99) latency [s] of the newest ``recent`` frames (all kept ones by default); NaN if none."""
        with self._cond:
            values = list(self._latencies)
        if recent is not None:
            values = values[-recent:]
        if not values:
            return float("nan"), float("nan")
        p50, p99 = np.percentile(np.asarray(values), [50, 99])
        return float(p50), float(p99)

    def baseline_s(self, min_frames: int = 5) -> float:
        """No-learning processing time [s]: median latency of recent frames no training step overlapped
        (NaN with fewer than ``min_frames`` of them)."""
        with self._cond:
            values = list(self._clean)
        if len(values) < min_frames:
            return float("nan")
        return float(np.median(values))


class AdaptiveBudget:
    """The trainer's duty cycle, steered by inference latency (multiplicative decrease, additive increase).

    Args:
        ceiling: the highest duty cycle (``cpu_fraction``: share of one core, in (0, 1]).
        target_ratio: p99 latency allowed, as a multiple of the no-learning processing time (> 1).
        floor: the lowest duty cycle; the learner never stops entirely (0 < floor <= ceiling).
        recent: frames the p99 is taken over.
    """

    def __init__(
        self, ceiling: float, target_ratio: float = 1.3, floor: float = 0.02, recent: int = 50
    ) -> None:
        if not 0.0 < ceiling <= 1.0:
            raise ValueError(f"ceiling (cpu_fraction) must be in (0, 1], got {ceiling}")
        if not target_ratio > 1.0:
            raise ValueError(f"target_ratio must be > 1 (p99 / no-learning time), got {target_ratio}")
        if not 0.0 < floor <= ceiling:
            raise ValueError(f"floor must be in (0, ceiling={ceiling}], got {floor}")
        self.ceiling = ceiling
        self.target_ratio = target_ratio
        self.floor = floor
        self.recent = recent
        self.duty = ceiling  # current share of wall time the trainer may spend in steps
        self._frames_at_change = 0  # load.frames when the duty cycle last changed
        self.lowered = 0  # how often the duty cycle went down
        self.raised = 0  # how often it went up

    def update(self, load: InferenceLoad) -> float:
        """Adjust :attr:`duty` from the frames finished since its last change; returns it.

        The p99 is taken over the frames since the last change (at most ``recent``), and a change needs
        ``recent // 5`` (at least 2) such frames, so one slow stretch lowers the duty cycle once, not once
        per step while its frames are still in the window.
        """
        since = min(load.frames - self._frames_at_change, self.recent)
        if since < max(2, self.recent // 5):
            return self.duty
        baseline = load.baseline_s()
        _, p99 = load.percentiles_s(since)
        if not baseline > 0:  # every recent frame overlapped a step: make gaps to learn the no-learning time
            too_slow = True
        else:
            too_slow = p99 > self.target_ratio * baseline
        if too_slow and self.duty > self.floor:
            self.duty = max(self.floor, self.duty * 0.7)
            self.lowered += 1
        elif not too_slow and self.duty < self.ceiling:
            self.duty = min(self.ceiling, self.duty + 0.1 * self.ceiling)
            self.raised += 1
        else:
            return self.duty
        self._frames_at_change = load.frames
        return self.duty

    def pause_s(self, step_s: float) -> float:
        """Sleep after a step of ``step_s`` seconds that keeps the duty cycle [s]."""
        return step_s * (1.0 - self.duty) / self.duty
