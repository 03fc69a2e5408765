"""Running quality and collapse monitors for online learners.

- :class:`QualityEstimate`: exponential moving average of an error metric of the student against the
  teacher (e.g. AbsRel of mono depth vs confident stereo depth), with a sample count so a policy can refuse
  to trust an estimate built from too few frames.
- :class:`CollapseMonitor`: flags a learner whose outputs stopped varying (a constant prediction) or whose
  loss became non-finite, the two failure modes of unattended online learning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


class QualityEstimate:
    """EMA of an error (lower is better).

    Args:
        smoothing: weight of each new measurement in (0, 1]; 0.05 averages over ~20 frames.
    """

    def __init__(self, smoothing: float = 0.05) -> None:
        if not 0.0 < smoothing <= 1.0:
            raise ValueError(f"smoothing must be in (0, 1], got {smoothing}")
        self.smoothing = smoothing
        self.value = math.nan
        self.count = 0

    def update(self, error: float) -> float:
        """Fold in one measurement (non-finite ones are ignored). Returns the current estimate."""
        if not math.isfinite(error):
            return self.value
        self.count += 1
        # until 1/smoothing samples are in, use the plain mean so the first frames are not over-weighted
        weight = max(self.smoothing, 1.0 / self.count)
        self.value = error if self.count == 1 else (1 - weight) * self.value + weight * error
        return self.value

    def state_dict(self) -> dict[str, Any]:
        return {"smoothing": self.smoothing, "value": self.value, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.smoothing, self.value, self.count = (
            float(state["smoothing"]),
            float(state["value"]),
            int(state["count"]),
        )


@dataclass
class CollapseMonitorConfig:
    """Thresholds of the collapse monitor."""

    min_output_std: float = 1e-3  # below this spread of the outputs (per batch) the model counts as collapsed
    patience: int = 20  # consecutive collapsed / non-finite steps before raising the flag


class CollapseMonitor:
    """Counts consecutive steps with a non-finite loss or a near-constant output; ``collapsed`` after patience."""

    def __init__(self, config: CollapseMonitorConfig | None = None) -> None:
        self.config = config or CollapseMonitorConfig()
        self.bad_steps = 0
        self.collapsed = False
        self.reason = ""

    def update(self, loss: float, output_std: float) -> bool:
        """Record one training step. Returns ``collapsed``."""
        if not math.isfinite(loss):
            self.bad_steps, self.reason = self.bad_steps + 1, f"non-finite loss {loss}"
        elif output_std < self.config.min_output_std:
            self.bad_steps, self.reason = self.bad_steps + 1, f"output std {output_std:.2e} below threshold"
        else:
            self.bad_steps = 0
        self.collapsed = self.bad_steps >= self.config.patience
        return self.collapsed

    def state_dict(self) -> dict[str, Any]:
        return {"bad_steps": self.bad_steps, "collapsed": self.collapsed, "reason": self.reason}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.bad_steps, self.collapsed, self.reason = (
            int(state["bad_steps"]),
            bool(state["collapsed"]),
            state["reason"],
        )
