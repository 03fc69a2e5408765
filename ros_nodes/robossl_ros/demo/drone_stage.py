"""Demo stage 1: the MuJoCo drone room in closed loop with a live ``stereo_mono_node`` over DDS.

:func:`prepare` (before the live stage): record stereo flights in training rooms as a rosbag2 log and
pretrain the student from it through the replay path (:mod:`robossl_ros.demo.drone_pretraining`); the node
starts from that checkpoint in a held-out room.

:func:`run`: each simulated frame the demo publishes the stereo pair (rgb8) and CameraInfo, waits for the
node's outputs for that stamp (distance, mono depth, disparity), and steers with the obstacle avoider on that
distance. The loop is lock-step: the node trains ``train_steps_per_frame`` steps per pair before it takes
the next one, and the budget is simulated time (``sim_budget_s * camera_hz`` frames), so two runs of a seed
fly (nearly) the same on a fast and a slow machine. The node's switching policy decides whether stereo or
the monocular student flies. Afterwards the same room is flown in-process on stereo only for the same
number of frames: the collisions to compare with.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robossl.pipelines.stereo_mono.pipeline import absrel
from robossl_ros.demo.drone_config import DroneStageConfig, node_parameters, pipeline_settings
from robossl_ros.demo.drone_link import Replies, publish_frame, warm_up
from robossl_ros.demo.drone_pretraining import (
    LOG_TOPICS,
    offline_settings,
    one_torch_thread,
    pretrain_from_log,
    record_training_flights,
)
from robossl_ros.demo.pretrained import PretrainedStart, cache_folder, finished, fresh_folder, mark_finished

# The stage's settings and node parameters (drone_config) and its DDS link (drone_link) live in their own
# modules; the runner and the tests use them from here.
__all__ = [
    "PRETRAIN_FORMAT",
    "DroneStageConfig",
    "DroneStageResult",
    "node_parameters",
    "pipeline_settings",
    "prepare",
    "pretrain_settings",
    "run",
    "stereo_only_flight",
]

# ROS message classes are imported in run(): this module is imported by tests that may not start ROS.

PRETRAIN_FORMAT = 1  # bump when the recording or the pretraining changes in a way the settings do not show


# -- offline pretraining ---------------------------------------------------------------------------------
def pretrain_settings(config: DroneStageConfig) -> dict[str, Any]:
    """Everything that changes the pretrained checkpoint (the cache key); the held-out seed is not in it."""
    from robossl_sim.closed_loop import FlightConfig

    return {
        "format": PRETRAIN_FORMAT,
        "pretrain": asdict(config.pretrain),
        "camera_hz": config.camera_hz,
        "pipeline": pipeline_settings(config),
        "flight": asdict(FlightConfig(camera_hz=config.camera_hz)),
    }


def prepare(
    config: DroneStageConfig, cache_dir: Path, progress: Callable[[float, str], None]
) -> PretrainedStart:
    """Record stereo flights in training rooms (or reuse the cached log and checkpoint) and pretrain the
    student from the log; returns the checkpoint ``stereo_mono_node`` starts from.

    Everything lives in ``cache_dir/drone-<key>/``: ``logs/`` (the rosbag2 recording), ``stereo_mono.pt``
    and ``done.json`` (written last; a folder without it is rebuilt).
    """
    settings = pretrain_settings(config)
    folder = cache_folder(cache_dir, "drone", settings)
    checkpoint = folder / "stereo_mono.pt"
    done = finished(folder)
    if done is not None and checkpoint.is_file():
        progress(1.0, f"reusing {checkpoint}")
        return PretrainedStart(checkpoint, str(done["description"]), True, dict(done["details"]))
    fresh_folder(folder)
    pre = config.pretrain
    began = time.monotonic()

    def recording(frames: int, planned: int) -> None:
        if frames % 20 == 0 or frames == planned:
            progress(
                0.3 * frames / planned,
                f"recording stereo flights in training rooms: {frames}/{planned} frames",
            )

    bag = folder / "logs"
    frames = record_training_flights(bag, pipeline_settings(config), pre, config.camera_hz, recording)
    recorded = time.monotonic()

    def pretraining(phase: str, done_count: int, planned: int) -> None:
        if phase == "label":
            if done_count % 50 == 0:
                progress(0.3 + 0.1 * min(done_count / frames, 1.0), f"replaying the log: {done_count} pairs")
        else:
            progress(
                0.4 + 0.6 * done_count / planned, f"pretraining the student: step {done_count}/{planned}"
            )

    pipeline, report = pretrain_from_log(bag, pipeline_settings(config), pre, pretraining)
    pipeline.save(checkpoint, include_replay=False)  # the node fills its own replay in the held-out room
    losses = report.losses
    window = max(1, min(50, len(losses) // 4))
    details = {
        "log": str(bag),
        "log_topics": asdict(LOG_TOPICS),
        "training_rooms": pre.rooms,
        "seconds_per_room": pre.seconds_per_room,
        "frames_recorded": frames,
        "pairs_replayed": report.pairs,
        "frames_labelled": report.labelled,
        "steps": report.steps,
        "loss_first": float(np.mean(losses[:window])),
        "loss_last": float(np.mean(losses[-window:])),
        "student": f"{config.student_height}x{config.student_width} x{config.student_channels}",
        "record_s": round(recorded - began, 1),
        "label_s": round(report.label_s, 1),
        "train_s": round(report.train_s, 1),
        "total_s": round(time.monotonic() - began, 1),
    }
    description = (
        f"pretrained offline from a recorded log of stereo flights in {pre.rooms} training rooms "
        f"({frames} frames, {pre.seconds_per_room:g} simulated s each), {report.steps} steps, "
        f"student {details['student']}; loss {details['loss_first']:.3f} -> {details['loss_last']:.3f}"
    )
    mark_finished(folder, {"description": description, "details": details, "settings": settings})
    progress(1.0, f"pretrained in {details['total_s']:.0f} s")
    return PretrainedStart(checkpoint, description, False, details)


# -- live stage ------------------------------------------------------------------------------------------
@dataclass
class DroneStageResult:
    """What happened in the drone stage (times are simulated seconds)."""

    frames: int = 0
    replies: int = 0  # frames the node answered in time
    times: list[float] = field(default_factory=list)
    positions: list[tuple[float, float]] = field(default_factory=list)
    modes: list[str] = field(default_factory=list)  # per frame: "stereo" / "mono"
    collisions: list[tuple[float, float, float]] = field(default_factory=list)  # (t, x, y)
    distance_flown_m: float = 0.0
    mono_absrel: list[tuple[float, float]] = field(default_factory=list)  # (t, AbsRel vs ground truth)
    stereo_absrel: list[tuple[float, float]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)  # frame publish -> distance received
    snapshots: list[dict[str, Any]] = field(default_factory=list)  # left, stereo, mono, truth depth
    walls: list[tuple[float, float, float, float, float]] = field(default_factory=list)  # obstacle boxes
    room_size_m: float = 5.0
    train_steps_per_frame: int = 0  # lock-step learning of the node (0 = free-running)
    stereo_only_collisions: int = -1  # the same room and frames flown on stereo only (-1: not flown)
    stereo_only_distance_m: float = 0.0
    wall_s: float = 0.0  # wall seconds of the live flight

    @property
    def mono_fraction(self) -> float:
        """Share of frames flown on the monocular student (target >= 0.5)."""
        return float(np.mean([m == "mono" for m in self.modes])) if self.modes else 0.0

    @property
    def collisions_per_100m(self) -> float:
        return 100.0 * len(self.collisions) / max(self.distance_flown_m, 1e-6)

    @property
    def collision_count(self) -> int:
        return len(self.collisions)

    @property
    def collisions_within_stereo_only(self) -> bool:
        """No more collisions than the stereo-only flight of the same room and frames."""
        return 0 <= len(self.collisions) <= self.stereo_only_collisions

    @property
    def mono_absrel_mean(self) -> float:
        """Mean AbsRel of the student's depth against ground truth over the flight (NaN when never run)."""
        values = [v for _, v in self.mono_absrel if np.isfinite(v)]
        return float(np.mean(values)) if values else float("nan")

    @property
    def mono_absrel_last_third(self) -> float:
        """The same over the last third of the flight."""
        values = [v for _, v in self.mono_absrel[len(self.mono_absrel) * 2 // 3 :] if np.isfinite(v)]
        return float(np.mean(values)) if values else float("nan")


def stereo_only_flight(config: DroneStageConfig) -> dict[str, float]:
    """Fly the live stage's held-out room in-process on stereo only for the same frames; its summary
    (collisions, distance_m, ...) is the baseline the persistent flight's collisions are compared with."""
    from robossl.pipelines.stereo_mono.config import StereoMonoConfig
    from robossl.pipelines.stereo_mono.pipeline import StereoMonoPipeline
    from robossl_sim.closed_loop import FlightConfig, fly
    from robossl_sim.worlds.drone_room import DroneRoom

    settings = {
        **offline_settings(pipeline_settings(config)),
        "switching": {"policy": "stereo_only"},
        "run_mono_in_stereo_mode": False,
    }
    flight = FlightConfig(
        duration_s=config.frames / config.camera_hz,
        camera_hz=config.camera_hz,
        train_steps=0,
        seed=config.seed,
    )
    with DroneRoom(config.seed, "heldout") as room:
        pipeline = StereoMonoPipeline(StereoMonoConfig.from_dict(settings), room.calibration)
        return fly(room, pipeline, flight).summary()


def run(ros: Any, config: DroneStageConfig, progress: Callable[[float, str], None]) -> DroneStageResult:
    """Fly ``config.frames`` frames lock-step with the node, then the stereo-only comparison flight.
    ``ros`` is a started :class:`DemoRosNode`; ``progress(fraction, status)`` is called every frame."""
    from sensor_msgs.msg import CameraInfo, Image, Range
    from std_msgs.msg import String
    from stereo_msgs.msg import DisparityImage

    from robossl_ros.qos import RESULT_QOS, SENSOR_QOS, STATUS_QOS
    from robossl_sim.closed_loop import FlightConfig, FlightStepper, ObstacleAvoider
    from robossl_sim.worlds.drone_room import DroneRoom

    replies = Replies()

    def stamp_of(msg: Any) -> int:
        return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)

    def on_distance(msg: Range) -> None:
        replies.put("distance", stamp_of(msg), (float(msg.range), time.monotonic()))

    def on_depth(msg: Image) -> None:
        depth = np.frombuffer(bytes(msg.data), np.float32).reshape(msg.height, msg.width)
        replies.put("depth", stamp_of(msg), depth)

    def on_disparity(msg: DisparityImage) -> None:
        img = msg.image
        disparity = np.frombuffer(bytes(img.data), np.float32).reshape(img.height, img.width)
        with np.errstate(divide="ignore", invalid="ignore"):
            depth = np.where(disparity > msg.min_disparity, msg.f * msg.t / disparity, np.nan)
        replies.put("disparity", stamp_of(msg), depth.astype(np.float32))

    def on_mode(msg: String) -> None:
        replies.set_mode(msg.data)

    ros.subscribe(Range, "distance", on_distance, RESULT_QOS)
    ros.subscribe(Image, "mono/depth", on_depth, RESULT_QOS)
    ros.subscribe(DisparityImage, "stereo/disparity", on_disparity, RESULT_QOS)
    ros.subscribe(String, "mode", on_mode, STATUS_QOS)
    for msg_type, topic, qos in (
        (Image, "left/image_raw", SENSOR_QOS), (Image, "right/image_raw", SENSOR_QOS),
        (CameraInfo, "left/camera_info", SENSOR_QOS), (Range, "distance", RESULT_QOS),
        (Image, "mono/depth", RESULT_QOS), (DisparityImage, "stereo/disparity", RESULT_QOS),
        (String, "mode", STATUS_QOS),
    ):  # fmt: skip
        ros.record(msg_type, topic, qos)
    pubs = {
        "left": ros.publisher(Image, "left/image_raw", SENSOR_QOS),
        "right": ros.publisher(Image, "right/image_raw", SENSOR_QOS),
        "left_info": ros.publisher(CameraInfo, "left/camera_info", SENSOR_QOS),
        "right_info": ros.publisher(CameraInfo, "right/camera_info", SENSOR_QOS),
    }
    for pub in pubs.values():  # all four: a pair without its CameraInfo is dropped, not answered
        if not ros.wait_for_subscribers(pub, timeout_s=60.0):
            raise RuntimeError(
                f"stereo_mono_node did not subscribe to {pub.topic_name} within 60 s (see its log)"
            )

    result = DroneStageResult(train_steps_per_frame=config.train_steps_per_frame)
    flight = FlightConfig(camera_hz=config.camera_hz, seed=config.seed)
    dt = 1.0 / config.camera_hz
    frames = config.frames
    snapshot_due = [int(frames * f) for f in np.linspace(0.1, 0.95, config.snapshots)]
    with DroneRoom(config.seed, "heldout") as room:
        result.room_size_m = room.config.room_size_m
        result.walls = [(o.x, o.y, o.half_x, o.half_y, o.yaw) for o in room.layout.obstacles]
        stepper = FlightStepper(room, ObstacleAvoider(flight))
        progress(0.0, "waiting for stereo_mono_node's first answer")
        warm_up(ros, pubs, room, replies)
        start = time.monotonic()
        for frame in range(frames):
            t = frame * dt
            render = room.render()
            sent = time.monotonic()
            stamp = publish_frame(ros, pubs, render, room.calibration)
            reply, mono, stereo, mode = replies.wait_frame(stamp, config.reply_timeout_s)
            distance = float("nan")  # no answer: the avoider treats the view as blocked
            if reply is not None:
                result.replies += 1
                distance = reply[0]
                result.latencies_ms.append((reply[1] - sent) * 1e3)
            active = mono if mode == "mono" else stereo
            if frame % config.evaluate_every == 0:
                truth = render.left_depth
                if mono is not None and mono.shape == truth.shape:
                    result.mono_absrel.append((t, absrel(mono, truth, np.ones_like(truth, bool))))
                if stereo is not None and stereo.shape == truth.shape:
                    result.stereo_absrel.append((t, absrel(stereo, truth, np.isfinite(stereo))))
            if snapshot_due and frame >= snapshot_due[0] and mono is not None and stereo is not None:
                snapshot_due.pop(0)
                result.snapshots.append(
                    {"t": t, "mode": mode, "left": render.left, "stereo": stereo, "mono": mono,
                     "truth": render.left_depth}
                )  # fmt: skip
            x, y, collided, moved = stepper.step(distance, active, dt)
            if collided:
                result.collisions.append((t + dt, x, y))
            result.distance_flown_m += moved
            result.times.append(t)
            result.positions.append((x, y))
            result.modes.append(mode)
            result.frames = frame + 1
            diag = ros.diagnostics.get("robossl/stereo_mono_node", {})
            progress(
                0.95 * (frame + 1) / frames,
                f"t={t:5.1f}s mode={mode:6s} on mono {result.mono_fraction:4.0%} "
                f"collisions {len(result.collisions)} train steps {diag.get('training_steps', '0')} "
                f"mono err {diag.get('mono_absrel', '-')}",
            )
        result.wall_s = time.monotonic() - start
    progress(0.95, "flying the same room on stereo only for comparison")
    with one_torch_thread(config.seed):
        baseline = stereo_only_flight(config)
    result.stereo_only_collisions = int(baseline["collisions"])
    result.stereo_only_distance_m = float(baseline["distance_m"])
    progress(
        1.0,
        f"on mono {result.mono_fraction:.0%}, collisions {len(result.collisions)} "
        f"(stereo only: {result.stereo_only_collisions})",
    )
    return result
