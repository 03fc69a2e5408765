"""Switching policy of persistent SSL: stereo flight, then monocular flight with stereo training wheels.

States: ``STEREO`` (stereo distance drives the controller) and ``MONO`` (the student's distance drives it).
Learning continues in both states, so training data follow the policy actually flown (van Hecke et al.).

Transitions (policy ``"persistent"``):

- STEREO -> MONO when the student has seen ``min_learning_frames`` frames, its running AbsRel against
  confident stereo is below ``quality_enter`` (over at least ``min_quality_count`` measurements), stereo sees
  no obstacle closer than ``release_distance_m``, and STEREO has lasted ``min_dwell_frames``.
- MONO -> STEREO ("training wheels") when stereo sees an imminent collision (stereo distance below
  ``imminent_distance_m``) or the quality estimate rises above ``quality_exit`` (hysteresis).

``"stereo_only"`` and ``"mono_only"`` pin the state (baselines). Every transition is appended to
:attr:`SwitchingPolicy.transitions` and logged at INFO level.
"""

from __future__ import annotations

import enum
import logging
import math
from dataclasses import dataclass

log = logging.getLogger(__name__)

POLICIES = ("persistent", "stereo_only", "mono_only")


class FlightMode(str, enum.Enum):
    """Which distance estimate drives the robot."""

    STEREO = "stereo"
    MONO = "mono"


@dataclass
class SwitchingConfig:
    """Thresholds of the switching state machine."""

    policy: str = "persistent"  # "persistent", "stereo_only" or "mono_only"
    min_learning_frames: int = 100  # frames seen by the learner before mono may take over
    quality_enter: float = 0.25  # running mono AbsRel (vs stereo) below which mono takes over
    quality_exit: float = 0.35  # running mono AbsRel above which stereo takes back
    min_quality_count: int = 20  # quality measurements needed before the estimate is trusted
    imminent_distance_m: float = 0.5  # stereo distance below which stereo takes over (training wheels)
    release_distance_m: float = 0.9  # stereo distance above which mono may resume after a take-over
    min_dwell_frames: int = 5  # frames a state lasts at least before a quality-based switch

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"unknown switching policy {self.policy!r}; use one of {POLICIES}")
        if self.quality_exit < self.quality_enter:
            raise ValueError(
                f"quality_exit ({self.quality_exit}) must be >= quality_enter ({self.quality_enter})"
            )
        if self.release_distance_m < self.imminent_distance_m:
            raise ValueError("release_distance_m must be >= imminent_distance_m")


@dataclass(frozen=True)
class Transition:
    """One logged switch."""

    frame: int  # index of the frame at which the switch happened
    stamp: float  # its time stamp, seconds
    source: FlightMode
    target: FlightMode
    reason: str


class SwitchingPolicy:
    """The state machine (see module docstring)."""

    def __init__(self, config: SwitchingConfig | None = None) -> None:
        self.config = config or SwitchingConfig()
        self.mode = FlightMode.MONO if self.config.policy == "mono_only" else FlightMode.STEREO
        self.frame = 0
        self._entered = 0
        self.transitions: list[Transition] = []
        self.frames_in_mode = {FlightMode.STEREO: 0, FlightMode.MONO: 0}

    def _switch(self, target: FlightMode, stamp: float, reason: str) -> None:
        transition = Transition(self.frame, stamp, self.mode, target, reason)
        self.transitions.append(transition)
        log.info("frame %d t=%.3f: %s -> %s (%s)", self.frame, stamp, self.mode.value, target.value, reason)
        self.mode = target
        self._entered = self.frame

    def update(
        self,
        stamp: float,
        stereo_distance: float,
        mono_quality: float,
        quality_count: int,
        frames_learned: int,
    ) -> FlightMode:
        """Advance one frame and return the mode to fly in.

        Args:
            stamp: frame time, seconds.
            stereo_distance: stereo's average distance ahead, metres (NaN = stereo sees nothing usable).
            mono_quality: running AbsRel of mono vs stereo (NaN = unknown).
            quality_count: measurements behind ``mono_quality``.
            frames_learned: labelled frames the learner has received.
        """
        c = self.config
        dwell = self.frame - self._entered
        if c.policy == "persistent":
            quality_known = quality_count >= c.min_quality_count and math.isfinite(mono_quality)
            if self.mode is FlightMode.STEREO:
                clear = not (stereo_distance < c.release_distance_m)
                if (
                    frames_learned >= c.min_learning_frames
                    and quality_known
                    and mono_quality < c.quality_enter
                    and clear
                    and dwell >= c.min_dwell_frames
                ):
                    self._switch(
                        FlightMode.MONO, stamp, f"mono AbsRel {mono_quality:.3f} < {c.quality_enter}"
                    )
            elif stereo_distance < c.imminent_distance_m:
                self._switch(
                    FlightMode.STEREO,
                    stamp,
                    f"imminent collision: stereo {stereo_distance:.2f} m < {c.imminent_distance_m} m",
                )
            elif quality_known and mono_quality > c.quality_exit and dwell >= c.min_dwell_frames:
                self._switch(FlightMode.STEREO, stamp, f"mono AbsRel {mono_quality:.3f} > {c.quality_exit}")
        self.frames_in_mode[self.mode] += 1
        self.frame += 1
        return self.mode

    @property
    def mono_time_fraction(self) -> float:
        """Share of frames flown on mono so far."""
        total = sum(self.frames_in_mode.values())
        return self.frames_in_mode[FlightMode.MONO] / total if total else 0.0
