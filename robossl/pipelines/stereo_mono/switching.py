"""Switching policy of persistent SSL: stereo flight, then monocular flight with stereo training wheels.

States: ``STEREO`` (stereo distance drives the controller) and ``MONO`` (the student's distance drives it).
Learning continues in both states, so training data follow the policy actually flown (van Hecke et al.).

Transitions (policy ``"persistent"``):

- STEREO -> MONO when the student has seen ``min_learning_frames`` frames, its running AbsRel against
  confident stereo is below ``quality_enter`` (over at least ``min_quality_count`` measurements), STEREO has
  lasted ``min_dwell_frames`` (``takeover_dwell_frames`` after a training-wheels take-over), and the danger
  is over: stereo sees nothing closer than ``release_distance_m``, or mono now sees the obstacle at least as
  near as stereo does.
- MONO -> STEREO ("training wheels"), checked every frame, without dwell: stereo sees an obstacle closer
  than ``imminent_distance_m`` and mono reads it farther than stereo (by more than
  ``agreement_tolerance``, relative). Set ``imminent_distance_m`` to at least the controller's avoidance
  distance plus what the robot flies in one frame: then stereo takes over whenever stereo's own avoidance
  would react and mono's might not. (The controller turns away at a distance below its threshold, so flying
  on a mono distance that is no larger than stereo's is at least as cautious as flying on stereo.)
- MONO -> STEREO when the quality estimate rises above ``quality_exit`` (hysteresis with ``quality_enter``).

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
    # stereo distance below which stereo takes over if mono reads farther (training wheels), metres;
    # >= the controller's avoidance distance + one frame of flight (1.0 m + 0.5 m/s / 4 Hz in the simulator)
    imminent_distance_m: float = 1.15
    release_distance_m: float = 1.4  # stereo distance above which mono may resume after a take-over, metres
    agreement_tolerance: float = 0.0  # relative amount mono may read farther than stereo near an obstacle
    # the controller's avoidance distance, metres: a mono reading below it already makes the robot turn away
    avoid_distance_m: float = 1.0
    min_dwell_frames: int = 5  # frames a state lasts at least before a quality-based switch
    takeover_dwell_frames: int = 2  # frames stereo keeps control at least after a training-wheels take-over

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"unknown switching policy {self.policy!r}; use one of {POLICIES}")
        if self.quality_exit < self.quality_enter:
            raise ValueError(
                f"quality_exit ({self.quality_exit}) must be >= quality_enter ({self.quality_enter})"
            )
        if self.release_distance_m < self.imminent_distance_m:
            raise ValueError(
                f"release_distance_m ({self.release_distance_m}) must be >= imminent_distance_m "
                f"({self.imminent_distance_m}): the gap is the hysteresis that stops stereo and mono flapping"
            )
        if self.avoid_distance_m > self.imminent_distance_m:
            raise ValueError(
                f"imminent_distance_m ({self.imminent_distance_m}) must be >= avoid_distance_m "
                f"({self.avoid_distance_m}): stereo must take over whenever its own avoidance would react"
            )
        if self.agreement_tolerance < 0:
            raise ValueError(f"agreement_tolerance must be >= 0, got {self.agreement_tolerance}")
        if min(self.min_dwell_frames, self.takeover_dwell_frames) < 0:
            raise ValueError("min_dwell_frames and takeover_dwell_frames must be >= 0")


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
        self._took_over = False  # is the current STEREO spell a training-wheels take-over

    def _switch(self, target: FlightMode, stamp: float, reason: str, takeover: bool = False) -> None:
        transition = Transition(self.frame, stamp, self.mode, target, reason)
        self.transitions.append(transition)
        log.info("frame %d t=%.3f: %s -> %s (%s)", self.frame, stamp, self.mode.value, target.value, reason)
        self.mode = target
        self._entered = self.frame
        self._took_over = takeover

    def update(
        self,
        stamp: float,
        stereo_distance: float,
        mono_quality: float,
        quality_count: int,
        frames_learned: int,
        mono_distance: float = math.inf,
    ) -> FlightMode:
        """Advance one frame and return the mode to fly in.

        Args:
            stamp: frame time, seconds.
            stereo_distance: stereo's distance ahead, metres (NaN = stereo sees nothing usable).
            mono_quality: running AbsRel of mono vs stereo (NaN = unknown).
            quality_count: measurements behind ``mono_quality``.
            frames_learned: labelled frames the learner has received.
            mono_distance: the student's distance ahead this frame, metres (NaN or inf = unknown, which
                never counts as agreeing with stereo).
        """
        c = self.config
        dwell = self.frame - self._entered
        if c.policy == "persistent":
            quality_known = quality_count >= c.min_quality_count and math.isfinite(mono_quality)
            # mono makes the robot at least as cautious as stereo would: it reads the obstacle no farther
            # than stereo does, or near enough that the controller avoids it anyway
            mono_agrees = (
                mono_distance <= stereo_distance * (1.0 + c.agreement_tolerance)
                or mono_distance < c.avoid_distance_m
            )
            if self.mode is FlightMode.STEREO:
                after_takeover = self._took_over
                clear = not (stereo_distance < c.release_distance_m) or (after_takeover and mono_agrees)
                needed = c.takeover_dwell_frames if after_takeover else c.min_dwell_frames
                if (
                    frames_learned >= c.min_learning_frames
                    and quality_known
                    and mono_quality < c.quality_enter
                    and clear
                    and dwell >= needed
                ):
                    self._switch(
                        FlightMode.MONO,
                        stamp,
                        f"mono AbsRel {mono_quality:.3f} < {c.quality_enter}; stereo {stereo_distance:.2f} m, "
                        f"mono {mono_distance:.2f} m",
                    )
            elif stereo_distance < c.imminent_distance_m and not mono_agrees:
                self._switch(
                    FlightMode.STEREO,
                    stamp,
                    f"imminent collision: stereo {stereo_distance:.2f} m < {c.imminent_distance_m} m, "
                    f"mono reads {mono_distance:.2f} m",
                    takeover=True,
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
