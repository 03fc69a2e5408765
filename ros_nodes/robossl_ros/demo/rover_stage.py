"""Demo stage 2: the MuJoCo rover world feeding a live ``terrain_node`` over DDS.

Before the stage, :func:`prepare` (``rover_pretrain``) drives the rover on training maps, records the logs
and pretrains the node's learner from them; the node starts from that checkpoint. The stage drives a
held-out terrain map for ``sim_budget_s`` simulated seconds and publishes the forward-down camera (rgb8 +
CameraInfo), the synthesised wheel-terrain interaction audio (robossl's Int16MultiArray layout,
docs/logs.md) and odometry. Learning is lock-step: terrain_node runs one learning round after every
``images_per_round``-th image and reports ``images_seen`` on ``terrain/clusters``; the stage sends the next
image's data only when the node has finished with the previous image, so two runs of one seed learn the same
steps on the same data on a fast and on a slow machine. terrain_node clusters the audio, paints the clusters
along the tracks into earlier images and trains its segmentation network; the demo scores every label image
it publishes against the simulator's ground-truth terrain (clusters matched to terrains by the Hungarian
method over the pixels of the last third).
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

from robossl_ros.demo.rover_config import (
    RoverPretrainConfig,
    RoverStageConfig,
    node_parameters,
    pipeline_config,
)
from robossl_ros.demo.rover_pretrain import prepare

__all__ = [
    "UNKNOWN",
    "RoverPretrainConfig",
    "RoverStageConfig",
    "RoverStageResult",
    "node_parameters",
    "pipeline_config",
    "prepare",
    "run",
]

UNKNOWN = 255  # label value of unlabelled pixels (terrain_node and the world's ground truth)
# Header stamps of the lock-step drive start here (11.6 days after the epoch): after the pretraining logs'
# clock (rover_pretrain.LOG_START_NS onwards, minutes), never ahead of the node's clock.
SIM_EPOCH_NS = 1_000_000 * 1_000_000_000


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
    sim_seconds: float = 0.0  # simulated seconds driven
    wall_seconds: float = 0.0  # wall-clock seconds the drive took
    lockstep_wait_s: float = 0.0  # wall seconds spent waiting for terrain_node's learning (lock-step)
    learning_rounds: int = 0  # terrain_node's learning rounds during the stage (from terrain/clusters)

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

    @property
    def miou_last_third(self) -> float:
        """The acceptance figure: mean of the per-frame mIoU (:meth:`miou_series`) over the last third of
        the scored frames (the same tail as the report's ``rover_miou_last_third``); NaN without frames."""
        values = [v for _, v in self.miou_series() if math.isfinite(v)]
        if not values:
            return float("nan")
        return float(np.mean(values[-max(1, int(round(len(values) / 3))) :]))

    @property
    def pooled_miou_last_third(self) -> float:
        """mIoU over all pixels of the last third pooled (intersections and unions summed over the frames,
        then averaged over terrains), the usual dataset-level definition; NaN without frames."""
        from robossl.pipelines.terrain.segmentation import mean_iou

        since = self.settled_since_t
        pairs = [p for t, p in self.per_frame if t >= since]
        if not pairs:
            return float("nan")
        joined = np.concatenate(pairs)
        predicted = self.mapping(since)[joined[:, 1]]
        predicted = np.where(predicted >= 0, predicted, len(self.terrain_names))
        return mean_iou(predicted, joined[:, 0], len(self.terrain_names) + 1, ignore_index=UNKNOWN)[0]

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


def _wait_until_node_hears(ros: Any, publisher: Any, camera_info: Any, timeout_s: float = 60.0) -> None:
    """Publish ``camera_info`` until terrain_node's /diagnostics say it has the camera.

    The publishers see the node's subscriptions before the node's side has matched them, and best-effort
    messages sent in between are lost; a lock-step stage whose first image is lost would wait for ever.
    CameraInfo is safe to repeat (no stamp check), so it serves as the handshake.
    """
    deadline = time.monotonic() + timeout_s
    while ros.diagnostics.get("robossl/terrain_node", {}).get("camera_known") != "True":
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"terrain_node did not report camera_known on /diagnostics within {timeout_s:g} s of "
                "CameraInfo on camera/camera_info (see its log)"
            )
        publisher.publish(camera_info)
        time.sleep(0.1)


def run(ros: Any, config: RoverStageConfig, progress: Callable[[float, str], None]) -> RoverStageResult:
    """Drive ``config.sim_budget_s`` simulated seconds. ``ros`` is a started :class:`DemoRosNode`."""
    from nav_msgs.msg import Odometry
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Int16MultiArray, String

    from robossl.data.bags.messages import AudioChunk
    from robossl_ros.conversions import audio_msg, image_msg
    from robossl_ros.qos import RESULT_QOS, SENSOR_QOS, STATUS_QOS
    from robossl_sim.worlds.rover import RoverWorld, drive_steps
    from robossl_sim.worlds.terrain_textures import TERRAIN_TYPES

    result = RoverStageResult()
    lock = threading.Lock()
    node_reported = threading.Condition()  # terrain/clusters arrived
    sent: dict[int, tuple[float, float, np.ndarray, np.ndarray]] = {}  # stamp -> (sent, t, rgb, truth)
    result.confusion = np.zeros((1, 256), dtype=np.int64)
    snapshot_due = list(np.linspace(0.1, 0.95, config.snapshots) * config.sim_budget_s)

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
            stats = json.loads(msg.data)
        except ValueError:
            stats = {"raw": msg.data}
        with node_reported:
            result.cluster_stats = stats
            node_reported.notify_all()

    def wait_for_node(images: int) -> None:
        """Lock-step: until terrain_node has finished with (labelled and learned from) ``images`` images."""
        deadline = time.monotonic() + config.reply_timeout_s
        with node_reported:
            while int(result.cluster_stats.get("images_seen", 0)) < images:
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = result.cluster_stats.get("images_seen", 0)
                    raise RuntimeError(
                        f"terrain_node reported images_seen={seen} on terrain/clusters {config.reply_timeout_s:g} s "
                        f"after image {images} was published on camera/image_raw: an image was lost or the "
                        "node stalled (see its log); raise RoverStageConfig.reply_timeout_s on a very slow machine"
                    )
                node_reported.wait(min(left, 0.5))

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
    lockstep = config.images_per_round > 0
    with RoverWorld(config.seed, "heldout") as world:
        result.terrain_names = list(TERRAIN_TYPES[: world.config.num_terrains])
        result.confusion = np.zeros((world.config.num_terrains, 256), dtype=np.int64)
        camera = world.camera
        result.camera, result.base_T_camera = camera, world.base_T_camera
        result.wheel_offsets, result.wheel_width_m = world.config.wheel_offsets, world.config.wheel_width_m
        # Simulated time from a fixed epoch, not from the wall clock: every run of a seed hands the node
        # the same floating-point times (clip cutting compares them), so lock-step runs learn the same.
        base_ns = SIM_EPOCH_NS if lockstep else ros.now_ns()
        _wait_until_node_hears(ros, pubs["info"], _camera_info(camera, base_ns, "rover_camera"))
        start = time.monotonic()
        x_prev, y_prev, _ = world.pose
        steps = drive_steps(
            world, config.sim_budget_s, rng, config.image_period_s, config.control_period_s,
            config.command_period_s,
        )  # fmt: skip
        for k, step in enumerate(steps):
            stamp = base_ns + int(round(step.t * 1e9))
            # Odometry first: the node has the pose of an image's time before the image (and its round).
            pubs["odom"].publish(_odometry(step.pose, stamp))
            result.pose_times.append(step.t)
            result.poses.append(step.world_T_base)
            result.wheel_terrains.append(step.wheel_terrains)
            if step.frame is not None:
                pubs["info"].publish(_camera_info(camera, stamp, "rover_camera"))
                with lock:
                    sent[stamp] = (time.monotonic(), step.t, step.frame.rgb, step.frame.terrain)
                pubs["image"].publish(image_msg(step.frame.rgb, "rgb8", stamp, "rover_camera"))
                result.images_published += 1
                if lockstep:
                    waited = time.monotonic()
                    wait_for_node(result.images_published)
                    result.lockstep_wait_s += time.monotonic() - waited
            pcm = np.clip(np.round(step.audio * 32767.0), -32768, 32767).astype(np.int16)[:, None]
            pubs["audio"].publish(audio_msg(AudioChunk(pcm, float(world.config.sample_rate), stamp)))
            result.audio_chunks += 1
            x, y, _ = world.pose
            result.distance_m += math.hypot(x - x_prev, y - y_prev)
            x_prev, y_prev = x, y
            result.sim_seconds = (k + 1) * config.control_period_s
            if not lockstep:
                delay = start + result.sim_seconds / config.speedup - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            stats = result.cluster_stats
            progress(
                min(result.sim_seconds / config.sim_budget_s, 1.0),
                f"t={step.t:5.1f}s images {result.images_published} label images {result.label_images} "
                f"clips {stats.get('clips', 0)} rounds {stats.get('learning_rounds', 0)}",
            )
        pubs["odom"].publish(_odometry(world.pose, base_ns + int(round(result.sim_seconds * 1e9))))
        result.wall_seconds = time.monotonic() - start
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:  # label images of the last frames
        with lock:
            if not sent:
                break
        time.sleep(0.05)
    result.learning_rounds = int(result.cluster_stats.get("learning_rounds", 0))
    return result
