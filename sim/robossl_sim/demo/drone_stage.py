"""Demo stage 1: the MuJoCo drone room in closed loop with a live ``stereo_mono_node`` over DDS.

Each simulated frame the demo publishes the stereo pair (rgb8) and CameraInfo, waits for the node's
``distance`` answer for that stamp (lock-step, so the loop is closed through ROS however loaded the machine
is), and steers with the obstacle avoider on that distance. The node learns in its background thread and
decides, with its switching policy, whether stereo or the monocular student flies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robossl.pipelines.stereo_mono.pipeline import absrel

# ROS message classes are imported in run(): this module is imported by tests that may not start ROS.


@dataclass
class DroneStageConfig:
    """Settings of the drone stage."""

    seed: int = 0  # room seed (held-out split, so rooms differ from the benchmark's training rooms)
    wall_budget_s: float = 90.0  # wall-clock time for the stage, seconds
    camera_hz: float = 5.0  # frames per simulated second (physics advances 1 / camera_hz per frame)
    real_time: bool = True  # publish at most camera_hz frames per wall-clock second, like a live camera
    reply_timeout_s: float = 3.0  # wait this long for the node's answer to a frame, seconds
    evaluate_every: int = 5  # compare mono depth with ground truth every n frames
    snapshots: int = 3  # depth comparisons kept for the report (early, middle, late)


def node_parameters(config: DroneStageConfig, model_path: str) -> dict[str, dict[str, Any]]:
    """stereo_mono_node parameters for the 160x120 simulated camera."""
    return {
        "stereo_mono_node": {
            "rectified_width": 160,
            "student_width": 160,
            "student_height": 128,
            "num_disparities": 32,
            "block_size": 5,
            "policy": "persistent",
            "min_learning_frames": 60,
            "quality_enter": 0.25,
            "quality_exit": 0.4,
            "imminent_distance_m": 1.15,
            "release_distance_m": 1.4,
            "replay_capacity": 300,
            "cpu_fraction": 0.8,
            "inference_backend": "onnxruntime",
            "batch_size": 8,
            "hot_swap_every_steps": 10,
            "model_path": model_path,
            "save_on_shutdown": True,
            "queue_depth": 2,
        }
    }


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

    @property
    def mono_fraction(self) -> float:
        return float(np.mean([m == "mono" for m in self.modes])) if self.modes else 0.0

    @property
    def collisions_per_100m(self) -> float:
        return 100.0 * len(self.collisions) / max(self.distance_flown_m, 1e-6)


class _Replies:
    """Node outputs keyed by stamp, with a condition to wait for one."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.distance: dict[int, tuple[float, float]] = {}  # stamp -> (metres, receive monotonic)
        self.depth: dict[int, Any] = {}
        self.disparity: dict[int, Any] = {}
        self.mode = "stereo"

    def put(self, table: str, stamp: int, value: Any) -> None:
        with self.cond:
            getattr(self, table)[stamp] = value
            self.cond.notify_all()

    def wait_distance(self, stamp: int, timeout_s: float) -> tuple[float, float] | None:
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while stamp not in self.distance:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.distance.pop(stamp)


def _warm_up(
    ros: Any,
    pubs: dict[str, Any],
    room: Any,
    calibration: Any,
    replies: _Replies,
    image_msg: Any,
    stereo_camera_infos: Any,
    timeout_s: float = 90.0,
) -> None:
    """Publish the first frame until the node answers (it loads torch, builds SGBM and the student on its
    first pair), so the stage's wall budget is spent flying, not waiting."""
    render = room.render()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stamp = ros.now_ns()
        left_info, right_info = stereo_camera_infos(calibration, stamp, ("drone_left", "drone_right"))
        pubs["left_info"].publish(left_info)
        pubs["right_info"].publish(right_info)
        pubs["left"].publish(image_msg(render.left, "rgb8", stamp, "drone_left"))
        pubs["right"].publish(image_msg(render.right, "rgb8", stamp, "drone_right"))
        if replies.wait_distance(stamp, 1.0) is not None:
            return
    raise RuntimeError(
        f"stereo_mono_node did not answer a stereo pair within {timeout_s:.0f} s (see its log)"
    )


def run(ros: Any, config: DroneStageConfig, progress: Callable[[float, str], None]) -> DroneStageResult:
    """Fly until the wall budget is spent. ``ros`` is a started :class:`DemoRosNode`;
    ``progress(fraction, status)`` is called every frame."""
    from sensor_msgs.msg import CameraInfo, Image, Range
    from std_msgs.msg import String
    from stereo_msgs.msg import DisparityImage

    from robossl_ros.conversions import image_msg, stereo_camera_infos
    from robossl_ros.qos import RESULT_QOS, SENSOR_QOS, STATUS_QOS
    from robossl_sim.closed_loop import FlightConfig, FlightStepper, ObstacleAvoider
    from robossl_sim.worlds.drone_room import DroneRoom

    replies = _Replies()

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
        replies.mode = msg.data

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
    if not ros.wait_for_subscribers(pubs["left"], timeout_s=60.0):
        raise RuntimeError("stereo_mono_node did not subscribe to left/image_raw within 60 s (see its log)")

    result = DroneStageResult()
    flight = FlightConfig(camera_hz=config.camera_hz, seed=config.seed)
    dt = 1.0 / config.camera_hz
    snapshot_due = [config.wall_budget_s * f for f in np.linspace(0.1, 0.95, config.snapshots)]
    with DroneRoom(config.seed, "heldout") as room:
        result.room_size_m = room.config.room_size_m
        result.walls = [(o.x, o.y, o.half_x, o.half_y, o.yaw) for o in room.layout.obstacles]
        calibration = room.calibration
        stepper = FlightStepper(room, ObstacleAvoider(flight))
        _warm_up(ros, pubs, room, calibration, replies, image_msg, stereo_camera_infos)
        start = time.monotonic()
        frame = 0
        while (elapsed := time.monotonic() - start) < config.wall_budget_s:
            t = frame * dt
            render = room.render()
            stamp = ros.now_ns()
            left_info, right_info = stereo_camera_infos(calibration, stamp, ("drone_left", "drone_right"))
            pubs["left_info"].publish(left_info)
            pubs["right_info"].publish(right_info)
            sent = time.monotonic()
            pubs["left"].publish(image_msg(render.left, "rgb8", stamp, "drone_left"))
            pubs["right"].publish(image_msg(render.right, "rgb8", stamp, "drone_right"))
            reply = replies.wait_distance(stamp, config.reply_timeout_s)
            distance = float("nan")
            if reply is not None:
                result.replies += 1
                distance = reply[0]
                result.latencies_ms.append((reply[1] - sent) * 1e3)
            mode = replies.mode
            time.sleep(0.005)  # the depth images trail the distance by a message or two
            with replies.cond:
                mono = replies.depth.pop(stamp, None)
                stereo = replies.disparity.pop(stamp, None)
                replies.depth.clear()
                replies.disparity.clear()
            active = mono if mode == "mono" else stereo
            if frame % config.evaluate_every == 0:
                truth = render.left_depth
                if mono is not None and mono.shape == truth.shape:
                    result.mono_absrel.append((t, absrel(mono, truth, np.ones_like(truth, bool))))
                if stereo is not None and stereo.shape == truth.shape:
                    result.stereo_absrel.append((t, absrel(stereo, truth, np.isfinite(stereo))))
            if snapshot_due and elapsed >= snapshot_due[0] and mono is not None and stereo is not None:
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
            frame += 1
            result.frames = frame
            if config.real_time and (ahead := start + frame * dt - time.monotonic()) > 0:
                time.sleep(ahead)  # a live camera: the simulation never runs ahead of the wall clock
            diag = ros.diagnostics.get("robossl/stereo_mono_node", {})
            progress(
                min(elapsed / config.wall_budget_s, 1.0),
                f"t={t:5.1f}s mode={mode:6s} on mono {result.mono_fraction:4.0%} "
                f"collisions {len(result.collisions)} train steps {diag.get('training_steps', '0')} "
                f"mono err {diag.get('mono_absrel', '-')}",
            )
    return result
