"""The pieces of bench/ros_latency.py: the bench's rclpy session, node processes, and one input feeder per node.

A feeder publishes its node's inputs on schedule (``tick``), stamped with the wall clock, and records when
each output arrives, so a latency is ``receive time - input stamp`` (input stamp to output delivered).
"""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from ros_latency_data import har_streams, stereo_frames

EXECUTOR = "events"


def start_node(node: str, params: dict[str, Any], log_dir: Path, tag: str) -> subprocess.Popen[bytes]:
    """``python -m robossl_ros.<node> --ros-args -p ...`` with its output in ``log_dir/<tag>_<node>.log``."""
    argv = [sys.executable, "-m", f"robossl_ros.{node}", "--executor", EXECUTOR, "--ros-args"]
    for name, value in params.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if isinstance(value, list):
            text = "[" + ",".join(str(v) for v in value) + "]"
        argv += ["-p", f"{name}:={text}"]
    log = open(log_dir / f"{tag}_{node}.log", "wb")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)


def stop_node(proc: subprocess.Popen[bytes]) -> int:
    """SIGINT (the node saves its model), then wait; kill after 60 s."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return -9


class Session:
    """The bench's own rclpy node; keeps the newest /diagnostics values per robossl node."""

    def __init__(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray

        from robossl.netsafe import apply_loopback_env
        from robossl_ros.diagnostics import STATUS_PREFIX

        apply_loopback_env()
        rclpy.init()
        self.rclpy = rclpy
        self.node = rclpy.create_node("ros_latency_bench")
        self.diagnostics: dict[str, dict[str, str]] = {}

        def on_diag(msg: Any) -> None:
            for status in msg.status:
                if status.name.startswith(STATUS_PREFIX + "/"):
                    values = {kv.key: kv.value for kv in status.values}
                    self.diagnostics[status.name.split("/", 1)[1]] = values

        self.node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 50)

    def diag(self, node: str, key: str, default: float = 0.0) -> float:
        try:
            return float(self.diagnostics.get(node, {}).get(key, default))
        except ValueError:
            return default

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.rclpy.spin_once(self.node, timeout_sec=min(0.01, max(deadline - time.monotonic(), 0)))

    def close(self) -> None:
        self.node.destroy_node()
        self.rclpy.try_shutdown()


class Feeder:
    """Inputs of one node on a schedule; outputs matched to input stamps."""

    node = ""
    inputs = ""  # what it sends, for the results

    def __init__(self) -> None:
        self.sent: list[int] = []  # stamps [ns] of inputs that must produce an output
        self.received: dict[int, float] = {}  # stamp [ns] -> wall time the output arrived [s]
        self._mark = 0

    def setup(self, session: Session) -> None:
        """Create publishers and subscriptions (once per session)."""

    def watch_outputs(
        self, session: Session, msg_type: Any, topic: str, depth: int, stamp_ns: Any = None
    ) -> None:
        """Record the wall time the first output for each input stamp arrives on ``topic``; ``stamp_ns(msg)``
        gives the stamp (default: the message header's)."""
        stamp_of = stamp_ns or (lambda m: m.header.stamp.sec * 10**9 + m.header.stamp.nanosec)
        session.node.create_subscription(
            msg_type, topic, lambda m: self.received.setdefault(stamp_of(m), time.time()), depth
        )

    def params(self, learning: bool, model_path: Path) -> dict[str, Any]:
        raise NotImplementedError

    def tick(self, now: float) -> None:
        """Publish what is due at monotonic time ``now`` [s]."""

    def ready(self) -> bool:
        """The node subscribes to every input topic."""
        return all(pub.get_subscription_count() > 0 for pub in self.pubs.values())

    def mark(self) -> None:
        """Start a measurement: only inputs sent from now on count."""
        self._mark = len(self.sent)

    def latencies_ms(self) -> tuple[list[float], int]:
        """(latencies [ms] of the inputs sent since :meth:`mark`, how many produced no output)."""
        measured = self.sent[self._mark :]
        latencies = [(self.received[s] - s * 1e-9) * 1e3 for s in measured if s in self.received]
        return latencies, len(measured) - len(latencies)

    def _due(self, key: str, now: float, period: float) -> bool:
        """Whether the stream ``key`` is due; a stream that fell behind skips its missed slots."""
        due = self._next.get(key, now)
        if now < due:
            return False
        self._next[key] = max(due + period, now)
        return True

    pubs: dict[str, Any]
    _next: dict[str, float]


class StereoFeeder(Feeder):
    node = "stereo_mono_node"
    inputs = "376x240 mono8 stereo pairs + CameraInfo at 20 Hz"

    def __init__(self, rate_hz: float = 20.0) -> None:
        super().__init__()
        self.rate_hz = rate_hz
        self.calibration, self.frames, self.source = stereo_frames(95)
        self.k = 0
        self._next = {}

    def setup(self, session: Session) -> None:
        from sensor_msgs.msg import CameraInfo, Image, Range

        from robossl_ros.conversions import stereo_camera_infos

        n = session.node
        topics = ("left/image_raw", "right/image_raw", "left/camera_info", "right/camera_info")
        self.pubs = {t: n.create_publisher(Image if "image" in t else CameraInfo, t, 10) for t in topics}
        self.infos = stereo_camera_infos(self.calibration, 0)
        self.watch_outputs(session, Range, "distance", 50)

    def params(self, learning: bool, model_path: Path) -> dict[str, Any]:
        return {
            "rectified_width": 376,
            "min_learning_frames": 20,
            "cpu_fraction": 1.0,
            "student_channels": 0.5,
            "hot_swap_every_steps": 10,
            "queue_depth": 1,
            "learning": learning,
            "model_path": str(model_path),
        }

    def tick(self, now: float) -> None:
        from robossl_ros.conversions import image_msg, stamp_msg

        if not self._due("frame", now, 1.0 / self.rate_hz):
            return
        stamp = time.time_ns()
        left, right = self.frames[self.k % len(self.frames)]
        info_l, info_r = self.infos
        info_l.header.stamp = info_r.header.stamp = stamp_msg(stamp)
        self.pubs["left/camera_info"].publish(info_l)
        self.pubs["right/camera_info"].publish(info_r)
        self.pubs["left/image_raw"].publish(image_msg(left, "mono8", stamp, "cam0"))
        self.pubs["right/image_raw"].publish(image_msg(right, "mono8", stamp, "cam1"))
        self.sent.append(stamp)
        self.k += 1


class HarFeeder(Feeder):
    node = "har_node"
    inputs = "4 IMUs at 50 Hz, a prediction every 0.1 s"

    def __init__(self, rate_hz: float = 50.0) -> None:
        super().__init__()
        self.rate_hz = rate_hz
        self.names, self.data, self.source = har_streams(60.0, rate_hz)
        self.k = 0
        self._next = {}

    def setup(self, session: Session) -> None:
        from sensor_msgs.msg import Imu
        from std_msgs.msg import Float32MultiArray

        from robossl_ros.har_node import array_stamp_ns

        n = session.node
        self.topics = [f"{name}/imu" for name in self.names]
        self.pubs = {t: n.create_publisher(Imu, t, 50) for t in self.topics}
        self.watch_outputs(session, Float32MultiArray, "activity/embedding", 100, array_stamp_ns)

    def params(self, learning: bool, model_path: Path) -> dict[str, Any]:
        return {
            "imu_topics": self.topics,
            "device_names": self.names,
            "anchor_device": self.names[0],
            "class_names": ["a", "b", "c", "d", "e", "f"],
            "sample_rate_hz": self.rate_hz,
            # without learning the replay never reaches min_windows, so no step runs
            "min_windows": 8 if learning else 2048,
            "buffer_windows": 2048,
            "cpu_fraction": 1.0,
            "predict_every_s": 0.1,
            # without learning a fresh model predicts (the same network: the same processing time); the
            # learning run's checkpoint holds min_windows and would not load
            "model_path": str(model_path if learning else model_path.with_suffix(".fresh.pt")),
        }

    def tick(self, now: float) -> None:
        from robossl_ros.conversions import imu_msg

        if not self._due("imu", now, 1.0 / self.rate_hz):
            return
        stamp = time.time_ns()
        for d, topic in enumerate(self.topics):
            sample = self.data[self.k % len(self.data), d].astype(np.float64)
            self.pubs[topic].publish(imu_msg(np.concatenate([sample[3:], sample[:3]]), stamp, self.names[d]))
        self.sent.append(stamp)  # the anchor stamp an activity output may cover (one every 0.1 s)
        self.k += 1

    def latencies_ms(self) -> tuple[list[float], int]:
        measured = self.sent[self._mark :]
        latencies = [(self.received[s] - s * 1e-9) * 1e3 for s in measured if s in self.received]
        expected = int(len(measured) / (self.rate_hz * 0.1))  # one output per 0.1 s of input
        return latencies, max(expected - len(latencies), 0)


class TerrainFeeder(Feeder):
    """A rover driving back and forth over two terrains (generated: no recorded rover data with audio)."""

    node = "terrain_node"
    inputs = "160x120 rgb8 images at 10 Hz + CameraInfo, 16 kHz audio in 1024-sample chunks, odometry 20 Hz"
    W, H, RATE, CHUNK, SPEED = 160, 120, 16000, 1024, 0.5

    def __init__(self, image_hz: float = 10.0) -> None:
        super().__init__()
        self.image_hz = image_hz
        self.rng = np.random.default_rng(0)
        self.source = "generated two-terrain rover (audio spectra and ground colours differ)"
        self._next = {}
        self._start = time.monotonic()
        self._audio_ns: int | None = None  # stamp of the next audio chunk [ns]

    def setup(self, session: Session) -> None:
        from nav_msgs.msg import Odometry
        from sensor_msgs.msg import CameraInfo, Image
        from std_msgs.msg import Int16MultiArray

        from robossl.data.bags.messages import CameraModel
        from robossl_ros.conversions import camera_info_msg

        n = session.node
        kinds = {"camera/image_raw": Image, "camera/camera_info": CameraInfo, "audio": Int16MultiArray}
        self.pubs = {t: n.create_publisher(k, t, 100) for t, k in {**kinds, "odom": Odometry}.items()}
        f = (self.H / 2) / math.tan(math.radians(30))
        K = np.array([[f, 0, (self.W - 1) / 2], [0, f, (self.H - 1) / 2], [0, 0, 1]])
        P = np.hstack([K, np.zeros((3, 1))])
        self.info = camera_info_msg(
            CameraModel(0, "camera", self.W, self.H, "plumb_bob", np.zeros(5), K, np.eye(3), P)
        )
        self.watch_outputs(session, Image, "terrain/labels", 50)

    def params(self, learning: bool, model_path: Path) -> dict[str, Any]:
        return {
            "num_clusters": 2,
            "min_clips": 32 if learning else 6000,  # without learning no round ever starts
            "max_clips": 6000,
            "embedding_steps": 3,
            "segmentation_steps": 3,
            "cpu_fraction": 1.0,
            "camera_mount": [0.3, 0.5, 35.0],
            "model_path": str(model_path),
        }

    def _terrain(self, now: float) -> tuple[float, int]:
        x = (self.SPEED * (now - self._start)) % 6.4  # back and forth would need yaw; a loop of 6.4 m
        return x, 0 if x < 3.2 else 1

    def tick(self, now: float) -> None:
        from nav_msgs.msg import Odometry

        from robossl.data.bags.messages import AudioChunk
        from robossl_ros.conversions import audio_msg, header, image_msg

        x, terrain = self._terrain(now)
        stamp = time.time_ns()
        if self._due("odom", now, 0.05):
            odom = Odometry(header=header(stamp, "odom"))
            odom.pose.pose.position.x = self.SPEED * (now - self._start)  # keeps increasing along +x
            odom.pose.pose.orientation.w = 1.0
            self.pubs["odom"].publish(odom)
        if self._audio_ns is None or stamp - self._audio_ns > 500_000_000:
            self._audio_ns = stamp  # the first chunk, or after a pause in the inputs: a new stretch
        # audio is a continuous signal: chunk stamps follow the samples (gaps or overlaps would be dropped),
        # published when the wall clock reaches them
        while self._audio_ns <= stamp:
            t = np.arange(self.CHUNK) / self.RATE
            if terrain == 0:
                noise = np.convolve(self.rng.normal(size=self.CHUNK + 31), np.ones(32) / 32, "valid")[
                    : self.CHUNK
                ]
                signal = 3 * noise + 0.3 * np.sin(2 * np.pi * 120 * t)
            else:
                signal = 0.4 * self.rng.normal(size=self.CHUNK) + 0.5 * np.sin(2 * np.pi * 3100 * t)
            chunk = np.clip(signal * 8000, -32768, 32767).astype(np.int16)
            self.pubs["audio"].publish(audio_msg(AudioChunk(chunk[:, None], self.RATE, self._audio_ns)))
            self._audio_ns += self.CHUNK * 10**9 // self.RATE
        if self._due("image", now, 1.0 / self.image_hz):
            base = np.array([60, 140, 50]) if terrain == 0 else np.array([150, 140, 130])
            rgb = np.clip(base + self.rng.normal(0, 20, size=(self.H, self.W, 3)), 0, 255).astype(np.uint8)
            self.info.header = header(stamp, "camera")
            self.pubs["camera/camera_info"].publish(self.info)
            self.pubs["camera/image_raw"].publish(image_msg(rgb, "rgb8", stamp, "camera"))
            self.sent.append(stamp)
