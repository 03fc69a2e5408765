"""Demo stage 2: the MuJoCo rover world feeding a live ``terrain_node`` over DDS.

The rover wanders a held-out terrain map. The demo publishes the forward-down camera (rgb8 + CameraInfo),
the synthesised wheel-terrain interaction audio (robossl's Int16MultiArray layout, docs/logs.md) and
odometry, paced at ``speedup`` x real time. terrain_node clusters the audio, paints the clusters along the
tracks into earlier images and trains its segmentation network; the demo scores every label image it
publishes against the simulator's ground-truth terrain (clusters matched to terrains by the Hungarian
method over all scored pixels).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

UNKNOWN = 255  # label value of unlabelled pixels (terrain_node and the world's ground truth)


@dataclass
class RoverStageConfig:
    """Settings of the rover stage."""

    seed: int = 0  # map seed (held-out split)
    wall_budget_s: float = 60.0  # wall-clock time of the stage, seconds
    speedup: float = 2.0  # simulated seconds per wall-clock second
    control_period_s: float = 0.05  # audio chunk and odometry period, simulated seconds
    image_period_s: float = 0.5  # camera period, simulated seconds
    command_period_s: float = 1.0  # new wander command every ..., simulated seconds
    snapshots: int = 3  # label images kept for the report


def node_parameters(
    config: RoverStageConfig, model_path: str, mount: list[float]
) -> dict[str, dict[str, Any]]:
    return {
        "terrain_node": {
            "camera_mount": mount,
            "num_clusters": 4,
            "sample_rate": 16000,
            "min_clips": 48,
            "embedding_steps": 5,
            "segmentation_steps": 5,
            "cpu_fraction": 0.6,
            "model_path": model_path,
            "save_on_shutdown": True,
        }
    }


@dataclass
class RoverStageResult:
    """What happened in the rover stage."""

    terrain_names: list[str] = field(default_factory=list)
    images_published: int = 0
    audio_chunks: int = 0
    label_images: int = 0  # terrain/labels messages received
    latencies_ms: list[float] = field(default_factory=list)  # image publish -> label image received
    confusion: np.ndarray | None = None  # (terrains, 255) pixel counts: true terrain x predicted cluster
    per_frame: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (sim t, per-pixel pairs)
    snapshots: list[dict[str, Any]] = field(default_factory=list)  # rgb, truth, labels, t
    last_snapshot: dict[str, Any] | None = None  # the latest scored frame (used when no snapshot was due)
    cluster_stats: dict[str, Any] = field(default_factory=dict)
    distance_m: float = 0.0
    pose_times: list[float] = field(default_factory=list)  # sim t of each pose
    poses: list[np.ndarray] = field(default_factory=list)  # 4x4 world_T_base
    wheel_terrains: list[np.ndarray] = field(default_factory=list)  # (4,) terrain id under each wheel
    camera: Any = None  # PinholeCamera of the rover
    base_T_camera: np.ndarray | None = None  # 4x4 camera mount
    wheel_offsets: np.ndarray | None = None  # (4, 2) metres
    wheel_width_m: float = 0.08

    def mapping(self, since_t: float = 0.0) -> np.ndarray:
        """cluster id -> terrain id by the Hungarian method over the pixels scored from ``since_t`` on
        (cluster ids can change while the node re-clusters, so the report maps on the settled last part);
        -1 for unmatched clusters."""
        mapping = np.full(256, -1, dtype=np.int64)
        counts = np.zeros((len(self.terrain_names), 256), dtype=np.int64)
        for t, pairs in self.per_frame:
            if t >= since_t:
                np.add.at(counts, (pairs[:, 0], pairs[:, 1]), 1)
        if counts.sum() == 0:
            return mapping
        used = np.flatnonzero(counts.sum(0))
        rows, cols = linear_sum_assignment(-counts[:, used].T)
        mapping[used[rows]] = cols
        return mapping

    @property
    def settled_since_t(self) -> float:
        """Start of the last third of the scored frames (simulated seconds)."""
        if not self.per_frame:
            return 0.0
        times = [t for t, _ in self.per_frame]
        return float(times[len(times) * 2 // 3])

    def miou_series(self) -> list[tuple[float, float]]:
        """(sim t, mIoU) per scored label image, with the global cluster -> terrain mapping."""
        from robossl.pipelines.terrain.segmentation import mean_iou

        mapping = self.mapping(self.settled_since_t)
        out = []
        for t, pairs in self.per_frame:
            predicted = mapping[pairs[:, 1]]
            keep = predicted >= 0
            if keep.any():
                predicted = np.where(keep, predicted, len(self.terrain_names))  # unmatched: its own class
                value, _ = mean_iou(predicted, pairs[:, 0], len(self.terrain_names) + 1, ignore_index=UNKNOWN)
                out.append((t, value))
        return out


def _camera_info(camera: Any, stamp_ns: int, frame_id: str) -> Any:
    from sensor_msgs.msg import CameraInfo

    from robossl_ros.conversions import header

    msg = CameraInfo(header=header(stamp_ns, frame_id))
    msg.width, msg.height = camera.width, camera.height
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = [float(v) for v in camera.matrix().reshape(9)]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [camera.fx, 0.0, camera.cx, 0.0, 0.0, camera.fy, camera.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def _odometry(pose: tuple[float, float, float], stamp_ns: int) -> Any:
    from nav_msgs.msg import Odometry

    from robossl_ros.conversions import header

    x, y, yaw = pose
    msg = Odometry(header=header(stamp_ns, "odom"))
    msg.child_frame_id = "base_link"
    msg.pose.pose.position.x, msg.pose.pose.position.y = float(x), float(y)
    msg.pose.pose.orientation.z, msg.pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
    return msg


def run(ros: Any, config: RoverStageConfig, progress: Callable[[float, str], None]) -> RoverStageResult:
    """Drive until the wall budget is spent. ``ros`` is a started :class:`DemoRosNode`."""
    from nav_msgs.msg import Odometry
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Int16MultiArray, String

    from robossl.data.messages import AudioChunk
    from robossl_ros.conversions import audio_msg, image_msg
    from robossl_ros.qos import RESULT_QOS, SENSOR_QOS, STATUS_QOS
    from robossl_sim.worlds.rover import RoverWorld
    from robossl_sim.worlds.terrain_textures import TERRAIN_TYPES

    result = RoverStageResult()
    lock = threading.Lock()
    sent: dict[int, tuple[float, float, np.ndarray, np.ndarray]] = {}  # stamp -> (sent, t, rgb, truth)
    result.confusion = np.zeros((1, 256), dtype=np.int64)

    def on_labels(msg: Image) -> None:
        stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
        received = time.monotonic()
        with lock:
            entry = sent.pop(stamp, None)
        if entry is None:
            return
        labels = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width)
        sent_at, t, rgb, truth = entry
        with lock:
            result.label_images += 1
            result.latencies_ms.append((received - sent_at) * 1e3)
            if labels.shape != truth.shape:
                return
            scored = (truth != UNKNOWN) & (labels != UNKNOWN)
            if not scored.any():
                return
            pairs = np.stack([truth[scored], labels[scored]], axis=1).astype(np.int64)
            np.add.at(result.confusion, (pairs[:, 0], pairs[:, 1]), 1)
            result.per_frame.append((t, pairs[::4]))
            # ``labels`` is a fresh array per message (read only by the report): no copy needed
            result.last_snapshot = {"t": t, "rgb": rgb, "truth": truth, "labels": labels}
            if snapshot_due and t >= snapshot_due[0]:
                snapshot_due.pop(0)
                result.snapshots.append(result.last_snapshot)

    def on_clusters(msg: String) -> None:
        try:
            result.cluster_stats = json.loads(msg.data)
        except ValueError:
            result.cluster_stats = {"raw": msg.data}

    ros.subscribe(Image, "terrain/labels", on_labels, RESULT_QOS)
    ros.subscribe(String, "terrain/clusters", on_clusters, STATUS_QOS)
    for msg_type, topic, qos in (
        (Image, "camera/image_raw", SENSOR_QOS), (CameraInfo, "camera/camera_info", SENSOR_QOS),
        (Int16MultiArray, "audio", SENSOR_QOS), (Odometry, "odom", SENSOR_QOS),
        (Image, "terrain/labels", RESULT_QOS), (String, "terrain/clusters", STATUS_QOS),
    ):  # fmt: skip
        ros.record(msg_type, topic, qos)
    pubs = {
        "image": ros.publisher(Image, "camera/image_raw", SENSOR_QOS),
        "info": ros.publisher(CameraInfo, "camera/camera_info", SENSOR_QOS),
        "audio": ros.publisher(Int16MultiArray, "audio", SENSOR_QOS),
        "odom": ros.publisher(Odometry, "odom", SENSOR_QOS),
    }
    for name, pub in pubs.items():
        if not ros.wait_for_subscribers(pub, timeout_s=60.0):
            raise RuntimeError(f"terrain_node did not subscribe to {name} within 60 s (see its log)")

    rng = np.random.default_rng(config.seed)
    sim_budget = config.wall_budget_s * config.speedup
    snapshot_due = list(np.linspace(0.3, 0.95, config.snapshots) * sim_budget)
    with RoverWorld(config.seed, "heldout") as world:
        result.terrain_names = list(TERRAIN_TYPES[: world.config.num_terrains])
        result.confusion = np.zeros((world.config.num_terrains, 256), dtype=np.int64)
        camera = world.camera
        result.camera, result.base_T_camera = camera, world.base_T_camera
        result.wheel_offsets, result.wheel_width_m = world.config.wheel_offsets, world.config.wheel_width_m
        base_ns = ros.now_ns()
        start = time.monotonic()
        next_image, next_command, k = 0.0, 0.0, 0
        x_prev, y_prev, _ = world.pose
        while (elapsed := time.monotonic() - start) < config.wall_budget_s:
            t = k * config.control_period_s
            stamp = base_ns + int(round(t * 1e9))
            if t >= next_command - 1e-9:
                world.set_command(*world.wander_command(rng))
                next_command += config.command_period_s
            if t >= next_image - 1e-9:
                frame = world.render()
                pubs["info"].publish(_camera_info(camera, stamp, "rover_camera"))
                with lock:
                    sent[stamp] = (time.monotonic(), t, frame.rgb, frame.terrain)
                pubs["image"].publish(image_msg(frame.rgb, "rgb8", stamp, "rover_camera"))
                result.images_published += 1
                next_image += config.image_period_s
            pubs["odom"].publish(_odometry(world.pose, stamp))
            result.pose_times.append(t)
            result.poses.append(world.world_T_base())
            result.wheel_terrains.append(world.wheel_terrains())
            audio = world.step(config.control_period_s)
            pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)[:, None]
            pubs["audio"].publish(audio_msg(AudioChunk(pcm, float(world.config.sample_rate), stamp)))
            result.audio_chunks += 1
            x, y, _ = world.pose
            result.distance_m += math.hypot(x - x_prev, y - y_prev)
            x_prev, y_prev = x, y
            k += 1
            delay = start + (k * config.control_period_s) / config.speedup - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            stats = result.cluster_stats
            progress(
                min(elapsed / config.wall_budget_s, 1.0),
                f"t={t:5.1f}s images {result.images_published} label images {result.label_images} "
                f"clips {stats.get('clips', 0)} clusters {stats.get('k', stats.get('num_clusters', '-'))}",
            )
        pubs["odom"].publish(_odometry(world.pose, base_ns + int(round(k * config.control_period_s * 1e9))))
    time.sleep(1.0)  # label images of the last frames
    return result
