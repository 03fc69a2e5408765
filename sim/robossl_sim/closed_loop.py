"""Closed-loop flight of the stereo -> mono pipeline in the MuJoCo drone room.

Each control tick (``camera_hz``): render the stereo pair, run :class:`StereoMonoPipeline.process`, let the
obstacle avoider turn on the *active* distance (stereo or mono, as the switching policy decides), advance
physics, and count collisions from contacts. Learning runs synchronously in simulated time
(``train_steps`` every ``train_every_frames`` frames), so results do not depend on the host's load.

Controller (after the persistent-SSL flights: fly straight, turn away when something is near):
cruise forward; when the active distance ahead drops below ``avoid_distance_m`` stop and turn towards the
side whose active depth map is farther away until the distance exceeds ``clear_distance_m`` (after a full
turn without such a view, in a pocket narrower than that, ``avoid_distance_m`` is enough, so the drone does
not spin in place for the rest of the flight); after a collision back off while turning for ``recover_s``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from robossl.pipelines.stereo_mono.pipeline import StereoMonoOutput, StereoMonoPipeline, absrel
from robossl.pipelines.stereo_mono.switching import FlightMode
from robossl_sim.worlds.drone_room import DroneRoom, StereoRender


@dataclass
class FlightConfig:
    """Settings of one closed-loop flight."""

    duration_s: float = 600.0  # simulated flight time, seconds
    camera_hz: float = 5.0  # frames and control updates per simulated second
    cruise_speed_mps: float = 0.5  # forward speed while cruising, metres/second
    avoid_distance_m: float = 1.0  # start turning when the active distance ahead is below this, metres
    clear_distance_m: float = 1.4  # resume cruising above this, metres
    turn_rate: float = 1.2  # yaw rate while turning, radians/second
    # keep turning this much after the view ahead clears, radians: the obstacle just turned from is then
    # not at the edge of the view, where the drone's side would clip its corner
    clear_margin_rad: float = 0.3
    wander_rate: float = 0.1  # std of the random yaw-rate drift while cruising, radians/second
    recover_s: float = 1.0  # after a collision: back off while turning, seconds
    recover_speed_mps: float = 0.3  # backing-off speed, metres/second
    train_every_frames: int = 5  # learning: ``train_steps`` optimisation steps every n frames
    train_steps: int = 1  # steps per training call (0 disables online learning)
    absrel_every_frames: int = 5  # evaluate depth against simulator ground truth every n frames
    seed: int = 0  # controller randomness (wander)


@dataclass
class FlightLog:
    """What happened during a flight (positions in metres, times in simulated seconds)."""

    times: list[float] = field(default_factory=list)
    positions: list[tuple[float, float]] = field(default_factory=list)
    on_mono: list[bool] = field(default_factory=list)  # per frame: was the active cue mono
    collisions: list[tuple[float, float, float]] = field(default_factory=list)  # (t, x, y) of contact onsets
    distance_m: float = 0.0  # path length flown
    mono_absrel: list[float] = field(default_factory=list)  # student vs ground truth, sampled frames
    stereo_absrel: list[float] = field(default_factory=list)  # confident stereo vs ground truth
    quality: list[tuple[float, float, float]] = field(
        default_factory=list
    )  # (t, running mono-vs-stereo, mono-vs-GT)
    train_loss: list[tuple[float, float]] = field(default_factory=list)  # (t, loss)
    transitions: list[str] = field(default_factory=list)  # the switching policy's log
    # per collision: which cue flew, both cues' distances in the frame before contact, and how long before
    # contact stereo first read less than the avoidance distance (NaN: it did not, within the last 2 s)
    collision_context: list[dict[str, float | bool]] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        """collisions_per_100m, mono_time_fraction, absrel (mono, or stereo when the student never ran)."""
        per_100m = 100.0 * len(self.collisions) / max(self.distance_m, 1e-6)
        mono_absrel = float(np.nanmean(self.mono_absrel)) if self.mono_absrel else float("nan")
        stereo_absrel = float(np.nanmean(self.stereo_absrel)) if self.stereo_absrel else float("nan")
        return {
            "collisions": float(len(self.collisions)),
            "distance_m": self.distance_m,
            "collisions_per_100m": per_100m,
            "mono_time_fraction": float(np.mean(self.on_mono)) if self.on_mono else 0.0,
            "mono_absrel": mono_absrel,
            "stereo_absrel": stereo_absrel,
            "transitions": float(len(self.transitions)),
            "collisions_on_mono": float(sum(bool(c["on_mono"]) for c in self.collision_context)),
            "collisions_stereo_warned": float(
                sum(math.isfinite(float(c["stereo_warned_s"])) for c in self.collision_context)
            ),
        }


def side_preference(depth: np.ndarray | None) -> float:
    """+1 to turn left (the left third of the view is farther), -1 to turn right, 0 when unknown."""
    if depth is None:
        return 0.0
    width = depth.shape[1]
    inverse = np.where(np.isfinite(depth) & (depth > 0), 1.0 / np.maximum(depth, 1e-3), np.nan)
    left, right = inverse[:, : width // 3], inverse[:, 2 * width // 3 :]
    if np.all(np.isnan(left)) or np.all(np.isnan(right)):
        return 0.0
    return 1.0 if np.nanmean(left) < np.nanmean(right) else -1.0


class ObstacleAvoider:
    """Cruise / turn / recover controller driven by one distance (see module docstring)."""

    def __init__(self, config: FlightConfig) -> None:
        self.config = config
        self.state = "cruise"
        self.turn_direction = 1.0
        self.recover_left = 0.0
        self._rng = np.random.default_rng(config.seed)
        self._wander = 0.0
        self._turned = 0.0  # radians turned in the current avoidance turn
        self._margin_left = config.clear_margin_rad  # radians still to turn once the view is clear

    def collided(self, direction: float) -> None:
        self.state = "recover"
        self.recover_left = self.config.recover_s
        self.turn_direction = direction or self.turn_direction

    def command(self, distance: float, depth: np.ndarray | None, dt: float) -> tuple[float, float]:
        """(forward m/s, yaw rate rad/s) for this tick; ``distance`` NaN = unknown (treated as blocked)."""
        c = self.config
        if self.state == "recover":
            self.recover_left -= dt
            if self.recover_left <= 0:
                self.state = "turn"
                self._turned, self._margin_left = 0.0, self.config.clear_margin_rad
            return -c.recover_speed_mps, self.turn_direction * c.turn_rate
        blocked = not (distance >= c.avoid_distance_m)
        if self.state == "cruise" and blocked:
            self.state = "turn"
            self._turned, self._margin_left = 0.0, c.clear_margin_rad
            self.turn_direction = side_preference(depth) or self.turn_direction
        elif self.state == "turn":
            clear = c.clear_distance_m if self._turned < 2 * math.pi else c.avoid_distance_m
            if distance < clear:
                self._margin_left = c.clear_margin_rad
            elif self._margin_left <= 1e-9:
                self.state = "cruise"
            else:
                self._margin_left -= c.turn_rate * dt
        if self.state == "turn":
            self._turned += c.turn_rate * dt
            return 0.0, self.turn_direction * c.turn_rate
        self._wander = 0.9 * self._wander + self._rng.normal(0.0, c.wander_rate)
        return c.cruise_speed_mps, self._wander


class FlightStepper:
    """One control tick of the drone: command from the avoider, physics, collision onsets, path length.

    Shared by :func:`fly` (in-process pipeline) and the demo (pipeline behind ROS), so both count
    collisions and distance the same way.
    """

    def __init__(self, room: DroneRoom, controller: ObstacleAvoider) -> None:
        self.room = room
        self.controller = controller
        self._was_colliding = False
        self._xy = room.pose[:2]

    def step(
        self, distance: float, active_depth: np.ndarray | None, dt: float
    ) -> tuple[float, float, bool, float]:
        """Fly ``dt`` seconds on ``distance`` (metres, NaN = unknown); returns (x, y, new collision, metres moved)."""
        forward, yaw_rate = self.controller.command(distance, active_depth, dt)
        self.room.set_command(forward, yaw_rate)
        self.room.step(dt)
        colliding = self.room.in_collision()
        x, y, _ = self.room.pose
        onset = colliding and not self._was_colliding
        if onset:
            self.controller.collided(side_preference(active_depth))
        self._was_colliding = colliding
        moved = math.hypot(x - self._xy[0], y - self._xy[1])
        self._xy = (x, y)
        return x, y, onset, moved


def check_training_wheels(pipeline: StereoMonoPipeline, config: FlightConfig) -> None:
    """Raise ``ValueError`` when the switching thresholds let mono fly on where stereo-only flight would avoid."""
    switching = pipeline.config.switching
    if switching.policy != "persistent":
        return
    if switching.imminent_distance_m < config.avoid_distance_m:
        raise ValueError(
            f"switching.imminent_distance_m ({switching.imminent_distance_m} m) is below the controller's "
            f"avoid_distance_m ({config.avoid_distance_m} m): stereo would take over later than stereo-only "
            "flight reacts; raise it to the avoidance distance plus one frame of flight"
        )
    if switching.avoid_distance_m > config.avoid_distance_m:
        raise ValueError(
            f"switching.avoid_distance_m ({switching.avoid_distance_m} m) must not exceed the controller's "
            f"avoid_distance_m ({config.avoid_distance_m} m): set both to the controller's value"
        )


def fly(
    room: DroneRoom,
    pipeline: StereoMonoPipeline,
    config: FlightConfig,
    progress: Callable[[int], None] | None = None,
    on_render: Callable[[float, StereoRender], None] | None = None,
) -> FlightLog:
    """Fly ``config.duration_s`` simulated seconds in ``room`` with ``pipeline`` in the loop.

    Args:
        room: the world (the drone starts at its current pose).
        pipeline: the stereo -> mono pipeline; its switching policy decides which cue flies.
        config: flight settings.
        progress: called with the frame index after each frame (e.g. a tqdm update).
        on_render: called with (simulated seconds, the frame's render) before the pipeline sees it, e.g. to
            record the flight as a log.
    """
    check_training_wheels(pipeline, config)
    log = FlightLog()
    stepper = FlightStepper(room, ObstacleAvoider(config))
    dt = 1.0 / config.camera_hz
    frames = int(round(config.duration_s * config.camera_hz))
    recent: deque[tuple[float, float]] = deque(maxlen=max(1, int(round(2.0 * config.camera_hz))))
    for frame in range(frames):
        t = frame * dt
        render = room.render()
        if on_render is not None:
            on_render(t, render)
        out: StereoMonoOutput = pipeline.process(render.left, render.right, t)
        on_mono = out.mode is FlightMode.MONO
        active_depth = out.mono_depth if on_mono else np.where(out.confidence > 0, out.stereo_depth, np.nan)
        if frame % config.absrel_every_frames == 0:
            truth = render.left_depth
            if out.mono_depth is not None:
                mono_error = absrel(out.mono_depth, truth, np.ones_like(truth, bool))
                log.mono_absrel.append(mono_error)
                log.quality.append((t, out.mono_quality, mono_error))
            confident = out.confidence >= pipeline.config.confidence_threshold
            log.stereo_absrel.append(absrel(out.stereo_depth, truth, confident))
        if config.train_steps > 0 and frame % config.train_every_frames == 0:
            for metrics in pipeline.train_steps(config.train_steps):
                log.train_loss.append((t, metrics["loss"]))
        x, y, collided, moved = stepper.step(out.active_distance, active_depth, dt)
        recent.append((t, out.stereo_distance))
        if collided:
            log.collisions.append((t + dt, x, y))
            warned = [stamp for stamp, stereo in recent if stereo < config.avoid_distance_m]
            log.collision_context.append(
                {
                    "t": t + dt,
                    "on_mono": on_mono,
                    "stereo_m": out.stereo_distance,
                    "mono_m": out.mono_distance,
                    "stereo_warned_s": t + dt - warned[0] if warned else float("nan"),
                }
            )
        log.distance_m += moved
        log.times.append(t)
        log.positions.append((x, y))
        log.on_mono.append(on_mono)
        if progress is not None:
            progress(frame)
    log.transitions = [
        f"frame {tr.frame} t={tr.stamp:.1f}s {tr.source.value}->{tr.target.value}: {tr.reason}"
        for tr in pipeline.policy.transitions
    ]
    return log


def pretrain_student(
    pipeline: StereoMonoPipeline,
    room_seeds: list[int],
    seconds_per_room: float,
    steps: int,
    flight: FlightConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[float]:
    """Offline pretraining: fly on stereo in training rooms, then train the student on the replay.

    The pipeline's switching policy should be ``stereo_only`` here (the labels come from stereo flight).

    Args:
        pipeline: pipeline whose learner and replay buffer are filled and trained.
        room_seeds: seeds of the ``train`` split rooms to fly.
        seconds_per_room: simulated seconds flown per room.
        steps: optimisation steps after collection.
        flight: flight settings (duration is replaced; learning during collection is off).
        progress: called after each training step with the step index.

    Returns:
        The training loss of every step.
    """
    base = flight or FlightConfig()
    collect = FlightConfig(**{**base.__dict__, "duration_s": seconds_per_room, "train_steps": 0})
    for seed in room_seeds:
        with DroneRoom(seed, "train") as room:
            fly(room, pipeline, collect)
    losses: list[float] = []
    for step in range(steps):
        losses.extend(m["loss"] for m in pipeline.train_steps(1))
        if progress is not None:
            progress(step)
    return losses
