"""Why a node's online learner has stopped stepping: a starved device, windows rejected for gaps, too few
windows yet, or a stopped trainer (``har_node``'s ``training_stall_warning_s``).

:class:`TrainingStallWatch` is checked periodically; when no training step happened for the limit it names
the cause once (a new cause is named again) and keeps the current explanation in :attr:`message` for
/diagnostics; a step afterwards is reported as training resumed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class TrainingStallWatch:
    """Args:
    pipeline: the ColloSSL pipeline (``trainer.steps``, ``trainer.running``, ``learner.stats``,
        ``stall_cause(new_gap_windows)``).
    topic_of: ``{device name: its input topic}``.
    dropped_counts: ``() -> {topic: {reason: count}}``, the node's dropped inputs (named for a starved
        device).
    """

    def __init__(
        self, pipeline: Any, topic_of: dict[str, str], dropped_counts: Callable[[], dict[str, dict[str, int]]]
    ) -> None:
        self.pipeline, self.topic_of, self.dropped_counts = pipeline, topic_of, dropped_counts
        started = time.monotonic()
        # (time [s], steps, gap windows) at the last step; last usable sample per device
        self._progress = (started, pipeline.trainer.steps, 0)
        self._last_sample_s = {name: started for name in topic_of}
        self.kind = ""  # what the current stall is about ("" = none)
        self.message = ""  # its explanation ("" = none)

    def sample(self, device: str) -> None:
        """A usable sample arrived from ``device``."""
        self._last_sample_s[device] = time.monotonic()

    def check(self, limit_s: float) -> tuple[str, str] | None:
        """``(level, text)`` to log ("warning" for a new stall cause, "info" when training resumed) or None.

        Args:
            limit_s: seconds without a training step before it counts as a stall (0 = never).
        """
        now = time.monotonic()
        steps, gap_windows = self.pipeline.trainer.steps, self.pipeline.learner.stats["gap_windows"]
        if steps != self._progress[1]:
            self._progress = (now, steps, gap_windows)
            resumed = bool(self.kind)
            self.kind = self.message = ""
            return ("info", f"training resumed ({steps} steps)") if resumed else None
        stalled_s = now - self._progress[0]
        if limit_s <= 0 or stalled_s < limit_s:
            self.kind = self.message = ""
            return None
        kind, cause = self._cause(now, limit_s, gap_windows - self._progress[2])
        self.message = f"no training step in {stalled_s:.0f} s: {cause}"
        if kind == self.kind:  # logged once per cause, not every check
            return None
        self.kind = kind
        return "warning", self.message

    def _cause(self, now: float, limit_s: float, new_gap_windows: int) -> tuple[str, str]:
        """(kind, explanation) of a stall; the explanation names devices, topics and parameters."""
        if not self.pipeline.trainer.running:
            return self.pipeline.stall_cause(new_gap_windows)  # type: ignore[no-any-return]
        starved = [name for name, last in self._last_sample_s.items() if now - last >= limit_s]
        if not starved:
            return self.pipeline.stall_cause(new_gap_windows)  # type: ignore[no-any-return]
        counts = self.dropped_counts()
        details = ", ".join(
            f"{name!r} on {self.topic_of[name]} (dropped: {sum(counts.get(self.topic_of[name], {}).values())})"
            for name in starved
        )
        return (
            f"starved:{starved}",
            f"starved device: no usable sample for {limit_s:.0f} s from {details}; check that its driver "
            "publishes and that the device is connected",
        )
