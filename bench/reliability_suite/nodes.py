"""Reliability sections 5 and 7: malformed input per node, future stamps, 10x bursts, and the soak.

Each node (stereo_mono_node, terrain_node, har_node, serial_bridge_node) runs in its own process with
valid traffic at a base rate (a driver below publishes it, or writes frames into a pseudo-terminal for
the serial bridge). For each malformed case the traffic pauses, the case is injected, and the node's
``/diagnostics`` (published every 0.1 s) is read before and after: the case is *counted* when the drop
counters of its topics (or, for wire damage, the bridge's link counters) grew by at least the number of
malformed inputs, with the reasons recorded. Then valid traffic resumes and the node must still be alive
and publish an output for a new input (*responsive*). A node that died is restarted for the next case.

Future stamp (the last case; it used to silence a topic): valid traffic pauses, one input stamped an hour
ahead goes out on every stamped topic, valid traffic resumes at once. ``recovery_s`` is the time from that
input to the first output for a valid input sent after it (end to end); per topic, the time until the
drop counters show a valid input accepted (``diag_recovery_s``, 0.1 s resolution, at least two inputs
after the future one). Counted when it recovered within the timeout and the drop was counted.

Burst: valid traffic at 10x the base rate for a few seconds; every input the node received must be
processed or dropped with a reason (``unaccounted`` = received - dropped - outputs, where each input
has its own output), and the node must answer normally afterwards.

Soak: all four nodes at once with valid traffic and a random malformed case every few seconds; RSS of each
node process sampled every 5 s, growth from minute 1 (a third of the soak when shorter) to the end.
"""

from __future__ import annotations

import math
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.reliability_suite.ros import NodeProcess, Session, SocketAudit, rss_mb

FUTURE_S = 3600.0  # how far ahead the future stamp is [s]
MS = 1_000_000  # ns


@dataclass
class Case:
    """One kind of malformed input for one node."""

    name: str
    inject: Callable[[], None]  # publishes the malformed input (and the valid input it needs before it)
    topics: list[str]  # topics whose drop counters count it
    expected: int = 1  # drops expected
    counters: tuple[str, ...] = ()  # node status counters that count it instead (serial link errors)


@dataclass
class Stream:
    """Valid traffic: ``publish(stamp_ns)`` every ``period_s`` (divided by the driver's rate factor)."""

    period_s: float
    publish: Callable[[int], None]
    next_s: float = 0.0


@dataclass
class Driver:
    """A node under test: its process, its valid traffic, its malformed cases."""

    session: Session
    process: NodeProcess
    output_topic: str = ""
    stamped_topics: list[str] = field(default_factory=list)  # inputs checked in the future-stamp case
    per_input_output: str = ""  # input topic with one output per accepted input ("" = none)
    streams: list[Stream] = field(default_factory=list)
    paused: bool = True
    rate: float = 1.0  # multiple of the base rate
    sent: dict[str, int] = field(default_factory=dict)  # valid inputs published per topic
    cases: Callable[[], list[Case]] = lambda: []  # the node's malformed cases
    future: Callable[[int], None] = lambda stamp_ns: None  # one input stamped stamp_ns on every stamped topic
    close: Callable[[], None] = lambda: None  # releases what the driver holds besides the node process

    @property
    def name(self) -> str:
        return self.process.node

    def tick(self, now: float) -> None:
        if self.paused:
            for stream in self.streams:
                stream.next_s = now
            return
        for stream in self.streams:
            period = stream.period_s / self.rate
            due = 0
            while now >= stream.next_s and due < 50:  # catch up at high rates, a bounded number per call
                stream.publish(time.time_ns())
                stream.next_s += period
                due += 1
            stream.next_s = max(stream.next_s, now - 1.0)  # never a backlog of more than a second

    def count(self, topic: str) -> None:
        self.sent[topic] = self.sent.get(topic, 0) + 1

    def output_after(self, stamp_min_ns: int, received_after: float) -> float | None:
        """Receive time of the first output stamped in [stamp_min_ns, stamp_min_ns + 60 s] received after
        ``received_after`` (monotonic), or None."""
        for received, stamp in self.session.outputs.get(self.output_topic, []):
            if received >= received_after and stamp_min_ns <= stamp <= stamp_min_ns + 60_000 * MS:
                return received
        return None

    def ready(self, since: float) -> bool:
        """An output for a recent input received after ``since`` (monotonic) and /diagnostics after it."""
        output = self.output_after(time.time_ns() - 30_000 * MS, since) is not None
        return output and self.session.diagnostics.get(self.name, (0.0, {}))[0] > since

    def outputs_since(self, since: float) -> int:
        return sum(1 for received, _ in self.session.outputs.get(self.output_topic, []) if received >= since)


def _publish_paced(session: Session, items: list[tuple[Any, Any]], gap_s: float = 0.005) -> None:
    for publisher, msg in items:
        publisher.publish(msg)
        session.rclpy.spin_once(session.node, timeout_sec=gap_s)


# ---------------------------------------------------------------------------------------------- stereo
def stereo_driver(session: Session, log_dir: Path, period_s: float = 0.2) -> Driver:
    from sensor_msgs.msg import CameraInfo, Image, Range

    from robossl.pipelines.stereo_mono.calibration import StereoCalibration
    from robossl_ros.conversions import image_msg, stamp_msg, stereo_camera_infos

    width, height = 188, 120
    calibration = StereoCalibration.ideal(width, height, 120.0, 0.1)
    rng = np.random.default_rng(1)
    frames = []
    for _ in range(6):
        texture = rng.integers(0, 256, size=(height, width + 16), dtype=np.uint8)
        frames.append((texture[:, 8 : 8 + width].copy(), texture[:, :width].copy()))
    process = NodeProcess(
        "stereo_mono_node",
        {
            "rectified_width": width,
            "min_learning_frames": 1_000_000,
            "cpu_fraction": 0.2,
            "student_channels": 0.25,
            "batch_size": 4,
            "replay_capacity": 50,
            "queue_depth": 2,
            "model_path": str(log_dir / "stereo_model.pt"),
            "diagnostics_period_s": 0.1,
        },
        log_dir,
        "stereo_mono_node",
    )
    left_t, right_t, left_i, right_i = (
        "left/image_raw",
        "right/image_raw",
        "left/camera_info",
        "right/camera_info",
    )
    pubs = {t: session.node.create_publisher(Image, t, 50) for t in (left_t, right_t)}
    pubs.update({t: session.node.create_publisher(CameraInfo, t, 50) for t in (left_i, right_i)})
    session.watch(Range, "distance", lambda m: m.header.stamp.sec * 10**9 + m.header.stamp.nanosec)
    driver = Driver(session, process, "distance", [left_t, right_t], left_t)
    state = {"k": 0}

    def infos(stamp: int) -> tuple[Any, Any]:
        info_l, info_r = stereo_camera_infos(calibration, stamp)
        return info_l, info_r

    def pair(stamp: int, left: Any = None, right: Any = None) -> list[tuple[Any, Any]]:
        info_l, info_r = infos(stamp)
        if left is None or right is None:
            l_img, r_img = frames[state["k"] % len(frames)]
            state["k"] += 1
            left, right = image_msg(l_img, "mono8", stamp, "cam0"), image_msg(r_img, "mono8", stamp, "cam1")
        return [(pubs[left_i], info_l), (pubs[right_i], info_r), (pubs[left_t], left), (pubs[right_t], right)]

    def publish_pair(stamp: int) -> None:
        for publisher, msg in pair(stamp):
            publisher.publish(msg)
        driver.count(left_t)
        driver.count(right_t)

    driver.streams.append(Stream(period_s, publish_pair))

    def raw_image(
        stamp: int, frame: str, height_: int, width_: int, encoding: str, step: int, size: int
    ) -> Any:
        msg = Image()
        msg.header.stamp, msg.header.frame_id = stamp_msg(stamp), frame
        msg.height, msg.width, msg.encoding, msg.step = height_, width_, encoding, step
        msg.data = bytes(size)
        return msg

    def both(make: Callable[[int, str], Any]) -> Callable[[], None]:
        def inject() -> None:
            stamp = time.time_ns()
            _publish_paced(session, pair(stamp, make(stamp, "cam0"), make(stamp, "cam1")))

        return inject

    def ordered(offset_ns: int) -> Callable[[], None]:
        def inject() -> None:
            stamp = time.time_ns()
            _publish_paced(session, pair(stamp))
            session.spin_for(0.15)
            _publish_paced(session, pair(stamp + offset_ns))

        return inject

    def nan_info() -> None:
        stamp = time.time_ns()
        items = pair(stamp)
        for index in (0, 1):
            items[index][1].k = [math.nan] * 9
        _publish_paced(session, items)

    def future(stamp: int) -> None:
        _publish_paced(session, pair(stamp))

    image_topics = [left_t, right_t, left_i, right_i]
    driver.cases = lambda: [
        Case(
            "wrong_encoding (yuv422)",
            both(lambda s, f: raw_image(s, f, height, width, "yuv422", 2 * width, 2 * width * height)),
            image_topics,
            2,
        ),
        Case(
            "unusable encoding (32FC1 depth)",
            both(lambda s, f: image_msg(np.zeros((height, width), np.float32), "32FC1", s, f)),
            image_topics,
            2,
        ),
        Case(
            "size_mismatch (data shorter than step x height)",
            both(lambda s, f: raw_image(s, f, height, width, "mono8", width, width * height // 2)),
            image_topics,
            2,
        ),
        Case(
            "bad_step (step < width)",
            both(lambda s, f: raw_image(s, f, height, width, "mono8", width - 1, (width - 1) * height)),
            image_topics,
            2,
        ),
        Case(
            "size_mismatch (image vs CameraInfo)",
            both(lambda s, f: image_msg(frames[0][0][: height // 2], "mono8", s, f)),
            image_topics,
            1,
        ),
        Case(
            "zero_size (0x0 mono8)", both(lambda s, f: raw_image(s, f, 0, 0, "mono8", 0, 0)), image_topics, 1
        ),
        Case("zero_size (0x0 rgb8)", both(lambda s, f: raw_image(s, f, 0, 0, "rgb8", 0, 0)), image_topics, 1),
        Case("nan CameraInfo (K all NaN)", nan_info, image_topics, 1),
        Case("out_of_order (pair 50 ms older)", ordered(-50 * MS), image_topics, 2),
        Case("duplicate stamp", ordered(0), image_topics, 2),
    ]
    driver.future = future
    return driver


# ---------------------------------------------------------------------------------------------- terrain
def terrain_driver(session: Session, log_dir: Path) -> Driver:
    from nav_msgs.msg import Odometry
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Int16MultiArray, MultiArrayDimension

    from robossl.data.bags.messages import AudioChunk, CameraModel
    from robossl_ros.conversions import audio_msg, camera_info_msg, header, image_msg, stamp_msg

    width, height, rate, chunk = 96, 72, 16000, 1024
    process = NodeProcess(
        "terrain_node",
        {
            "num_clusters": 2,
            "min_clips": 16,
            "embedding_steps": 3,
            "segmentation_steps": 3,
            "cpu_fraction": 0.3,
            "camera_mount": [0.3, 0.5, 35.0],
            "model_path": str(log_dir / "terrain_model.pt"),
            "diagnostics_period_s": 0.1,
        },
        log_dir,
        "terrain_node",
    )
    image_t, info_t, audio_t, odom_t = "camera/image_raw", "camera/camera_info", "audio", "odom"
    pubs = {
        image_t: session.node.create_publisher(Image, image_t, 100),
        info_t: session.node.create_publisher(CameraInfo, info_t, 100),
        audio_t: session.node.create_publisher(Int16MultiArray, audio_t, 100),
        odom_t: session.node.create_publisher(Odometry, odom_t, 100),
    }
    session.watch(Image, "terrain/labels", lambda m: m.header.stamp.sec * 10**9 + m.header.stamp.nanosec)
    driver = Driver(session, process, "terrain/labels", [image_t, audio_t, odom_t], image_t)
    rng = np.random.default_rng(2)
    f = (height / 2) / math.tan(math.radians(30))
    K = np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]])
    model = CameraModel(
        0, "camera", width, height, "plumb_bob", np.zeros(5), K, np.eye(3), np.hstack([K, np.zeros((3, 1))])
    )
    start = time.monotonic()
    images = [
        np.clip(base + rng.normal(0, 20, size=(height, width, 3)), 0, 255).astype(np.uint8)
        for base in (np.array([60, 140, 50]), np.array([150, 140, 130]))
    ]

    def terrain_now() -> int:
        return int((time.monotonic() - start) / 8.0) % 2  # terrain changes every 8 s

    def info(stamp: int, k: Any = None) -> Any:
        msg = camera_info_msg(model)
        msg.header = header(stamp, "camera")
        if k is not None:
            msg.k = k
        return msg

    def image(stamp: int, array: Any = None) -> list[tuple[Any, Any]]:
        pixels = images[terrain_now()] if array is None else array
        return [(pubs[info_t], info(stamp)), (pubs[image_t], image_msg(pixels, "rgb8", stamp, "camera"))]

    def audio(stamp: int, samples: Any = None, sample_rate: int = rate) -> Any:
        if samples is None:
            t = np.arange(chunk) / rate
            tone = 120 if terrain_now() == 0 else 3100
            samples = (0.4 * rng.normal(size=chunk) + 0.5 * np.sin(2 * np.pi * tone * t)) * 8000
            samples = np.clip(samples, -32768, 32767).astype(np.int16)[:, None]
        return audio_msg(AudioChunk(samples, sample_rate, stamp))

    def odom(stamp: int, x: float | None = None) -> Any:
        msg = Odometry(header=header(stamp, "odom"))
        msg.pose.pose.position.x = 0.5 * (time.monotonic() - start) if x is None else x
        msg.pose.pose.orientation.w = 1.0
        return msg

    def publish_image(stamp: int) -> None:
        for publisher, msg in image(stamp):
            publisher.publish(msg)
        driver.count(image_t)

    def publish_audio(stamp: int) -> None:
        pubs[audio_t].publish(audio(stamp))
        driver.count(audio_t)

    def publish_odom(stamp: int) -> None:
        pubs[odom_t].publish(odom(stamp))
        driver.count(odom_t)

    driver.streams += [
        Stream(0.25, publish_image),
        Stream(chunk / rate, publish_audio),
        Stream(0.05, publish_odom),
    ]

    def raw_image(stamp: int, height_: int, width_: int, encoding: str, step: int, size: int) -> Any:
        msg = Image()
        msg.header.stamp, msg.header.frame_id = stamp_msg(stamp), "camera"
        msg.height, msg.width, msg.encoding, msg.step = height_, width_, encoding, step
        msg.data = bytes(size)
        return msg

    def one(topic: str, make: Callable[[int], Any]) -> Callable[[], None]:
        return lambda: _publish_paced(session, [(pubs[topic], make(time.time_ns()))])

    def ordered(topic: str, make: Callable[[int], Any], offset_ns: int) -> Callable[[], None]:
        def inject() -> None:
            stamp = time.time_ns()
            _publish_paced(session, [(pubs[topic], make(stamp))])
            session.spin_for(0.1)
            _publish_paced(session, [(pubs[topic], make(stamp + offset_ns))])

        return inject

    def bad_layout(stamp: int) -> Any:
        msg = Int16MultiArray(data=[1, 2, 3])
        msg.layout.dim = [MultiArrayDimension(label="pcm", size=3, stride=3)]
        return msg

    def short_audio(stamp: int) -> Any:
        msg = audio(stamp)
        msg.data = msg.data[: chunk // 2]
        return msg

    def odom_value(value: float) -> Callable[[int], Any]:
        return lambda stamp: odom(stamp, value)

    def future(stamp: int) -> None:
        _publish_paced(session, [*image(stamp), (pubs[audio_t], audio(stamp)), (pubs[odom_t], odom(stamp))])

    plain_image = lambda s: image_msg(images[0], "rgb8", s, "camera")  # noqa: E731
    driver.cases = lambda: [
        Case(
            "image wrong_encoding (yuv422)",
            one(image_t, lambda s: raw_image(s, height, width, "yuv422", 2 * width, 2 * width * height)),
            [image_t],
        ),
        Case(
            "image unusable encoding (32FC1)",
            one(image_t, lambda s: image_msg(np.zeros((height, width), np.float32), "32FC1", s, "camera")),
            [image_t],
        ),
        Case(
            "image size_mismatch (data)",
            one(image_t, lambda s: raw_image(s, height, width, "rgb8", 3 * width, 3 * width * height // 2)),
            [image_t],
        ),
        Case(
            "image bad_step",
            one(image_t, lambda s: raw_image(s, height, width, "rgb8", width, width * height)),
            [image_t],
        ),
        Case(
            "image size_mismatch (vs CameraInfo)",
            one(image_t, lambda s: image_msg(images[0][: height // 2], "rgb8", s, "camera")),
            [image_t],
        ),
        Case(
            "image zero_size (0x0 rgb8)", one(image_t, lambda s: raw_image(s, 0, 0, "rgb8", 0, 0)), [image_t]
        ),
        Case("image out_of_order", ordered(image_t, plain_image, -50 * MS), [image_t]),
        Case("image duplicate stamp", ordered(image_t, plain_image, 0), [image_t]),
        Case("camera_info nan K", one(info_t, lambda s: info(s, [math.nan] * 9)), [info_t, image_t]),
        Case("camera_info zero focal length", one(info_t, lambda s: info(s, [0.0] * 9)), [info_t, image_t]),
        Case("audio wrong layout", one(audio_t, bad_layout), [audio_t]),
        Case("audio wrong rate", one(audio_t, lambda s: audio(s, sample_rate=8000)), [audio_t]),
        Case("audio size_mismatch (data shorter than layout)", one(audio_t, short_audio), [audio_t]),
        Case(
            "audio zero_size (0 samples)",
            one(audio_t, lambda s: audio(s, np.zeros((0, 1), np.int16))),
            [audio_t],
        ),
        Case("audio out_of_order", ordered(audio_t, audio, -20 * MS), [audio_t]),
        Case("audio duplicate stamp", ordered(audio_t, audio, 0), [audio_t]),
        Case("odom nan position", one(odom_t, odom_value(math.nan)), [odom_t]),
        Case("odom inf position", one(odom_t, odom_value(math.inf)), [odom_t]),
        Case("odom out_of_order", ordered(odom_t, odom, -20 * MS), [odom_t]),
        Case("odom duplicate stamp", ordered(odom_t, odom, 0), [odom_t]),
    ]
    driver.future = future
    return driver


# ---------------------------------------------------------------------------------------------- har
def har_driver(session: Session, log_dir: Path) -> Driver:
    from sensor_msgs.msg import Imu
    from std_msgs.msg import Float32MultiArray, String

    from robossl_ros.conversions import imu_msg
    from robossl_ros.har_node import array_stamp_ns

    names = ["imu_0", "imu_1"]
    topics = [f"{n}/imu" for n in names]
    process = NodeProcess(
        "har_node",
        {
            "imu_topics": topics,
            "device_names": names,
            "anchor_device": names[0],
            "class_names": ["walk", "rest"],
            "sample_rate_hz": 50.0,
            "min_windows": 8,
            "cpu_fraction": 0.2,
            "predict_every_s": 0.1,
            "model_path": str(log_dir / "har_model.pt"),
            "diagnostics_period_s": 0.1,
        },
        log_dir,
        "har_node",
    )
    pubs = {t: session.node.create_publisher(Imu, t, 200) for t in topics}
    label_pub = session.node.create_publisher(String, "activity/label_in", 10)
    session.watch(Float32MultiArray, "activity/embedding", array_stamp_ns)
    driver = Driver(session, process, "activity/embedding", topics, "")
    start = time.monotonic()

    def sample(device: int, t: float) -> np.ndarray:
        return np.array([np.sin(2 * np.pi * (1 + device) * t + c) for c in range(6)])

    def publish_all(stamp: int) -> None:
        t = time.monotonic() - start
        for device, topic in enumerate(topics):
            pubs[topic].publish(imu_msg(sample(device, t), stamp, names[device]))
            driver.count(topic)

    driver.streams.append(Stream(0.02, publish_all))

    def bad_value(topic: str, index: int, value: float) -> Callable[[], None]:
        def inject() -> None:
            values = sample(0, 0.0)
            values[index] = value
            _publish_paced(session, [(pubs[topic], imu_msg(values, time.time_ns(), topic.split("/")[0]))])

        return inject

    def ordered(topic: str, offset_ns: int) -> Callable[[], None]:
        def inject() -> None:
            stamp = time.time_ns()
            frame = topic.split("/")[0]
            _publish_paced(session, [(pubs[topic], imu_msg(sample(0, 0.0), stamp, frame))])
            _publish_paced(session, [(pubs[topic], imu_msg(sample(0, 0.0), stamp + offset_ns, frame))])

        return inject

    def future(stamp: int) -> None:
        _publish_paced(
            session, [(pubs[t], imu_msg(sample(i, 0.0), stamp, names[i])) for i, t in enumerate(topics)]
        )

    driver.cases = lambda: [
        Case("imu nan gyro", bad_value(topics[0], 0, math.nan), [topics[0]]),
        Case("imu inf accel", bad_value(topics[1], 4, math.inf), [topics[1]]),
        Case("imu out_of_order (10 ms older)", ordered(topics[0], -10 * MS), [topics[0]]),
        Case("imu duplicate stamp", ordered(topics[1], 0), [topics[1]]),
        Case(
            "label_in unknown class",
            lambda: _publish_paced(session, [(label_pub, String(data="no-such-class"))]),
            ["activity/label_in"],
        ),
    ]
    driver.future = future
    return driver


# ---------------------------------------------------------------------------------------------- serial
class PtyLink:
    """Emulated devices on a pseudo-terminal master (answering time sync and config), plus raw writes."""

    def __init__(self, device_ids: list[int]) -> None:
        from firmware_bridge import DeviceClock, EmulatedDevices, open_pty

        self.master, self.slave, self.port = open_pty()
        # a device that has been up for a while (its clock far from 0, so earlier stamps exist)
        self.devices = EmulatedDevices(self.master, device_ids, DeviceClock(offset_us=1_000_000_000))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="reliability-pty", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    self.devices.handle_host_bytes(os.read(self.master, 4096))
                except OSError:
                    return

    def write_raw(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view) :]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        os.close(self.master)
        os.close(self.slave)


def serial_driver(session: Session, log_dir: Path) -> Driver:
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Imu

    from firmware_bridge.crc import crc32c
    from firmware_bridge.framing import cobs_encode
    from firmware_bridge.messages import HEADER, PROTOCOL_VERSION, ImuBatch, MessageType, encode_payload

    link = PtyLink([1])
    topic = "wrist/imu"
    process = NodeProcess(
        "serial_bridge_node",
        {
            "port": link.port,
            "device_ids": [1],
            "device_names": ["wrist"],
            "sync_interval_s": 0.05,
            "diagnostics_period_s": 0.1,
        },
        log_dir,
        "serial_bridge_node",
    )
    best_effort = QoSProfile(depth=1000, reliability=ReliabilityPolicy.BEST_EFFORT)
    session.watch(Imu, topic, lambda m: m.header.stamp.sec * 10**9 + m.header.stamp.nanosec, best_effort)
    driver = Driver(session, process, topic, [topic], topic)
    devices = link.devices
    rng = np.random.default_rng(3)
    period_us, batch = 20_000, 5

    def samples(n: int = batch, channels: int = 6) -> np.ndarray:
        return rng.normal(size=(n, channels)).astype(np.float32)

    def first_sample_us(period: int = period_us, n: int = batch) -> int:
        return devices.clock.now_us() - (n - 1) * period

    def publish_batch(_: int) -> None:
        period = int(period_us / driver.rate)
        devices.send_imu(1, samples(), period, first_sample_us(period))
        for _ in range(batch):  # the node counts samples
            driver.count(topic)

    driver.streams.append(Stream(0.1, publish_batch))

    def bad_sample(value: float) -> Callable[[], None]:
        def inject() -> None:
            values = samples()
            values[2, 4] = value
            devices.send_imu(1, values, period_us, first_sample_us())

        return inject

    def crafted(body: bytes, body_len: int | None = None) -> bytes:
        head = HEADER.pack(
            PROTOCOL_VERSION,
            int(MessageType.IMU_BATCH),
            1,
            0,
            0,
            len(body) if body_len is None else body_len,
            devices.clock.now_us(),
        )
        data = head + body
        return b"\x00" + cobs_encode(data + crc32c(data).to_bytes(4, "little")) + b"\x00"

    def crc_error() -> None:
        payload = bytearray(encode_payload(ImuBatch(samples(), period_us), 1, 0, first_sample_us()))
        payload[20] ^= 0x01 if payload[20] != 0x01 else 0x02
        link.write_raw(b"\x00" + cobs_encode(bytes(payload)) + b"\x00")

    def ordered(offset_us: int) -> Callable[[], None]:
        def inject() -> None:
            t = first_sample_us()
            devices.send_imu(1, samples(), period_us, t)
            session.spin_for(0.05)
            devices.send_imu(1, samples(), period_us, t + offset_us)

        return inject

    def future(stamp: int) -> None:
        devices.send_imu(1, samples(), period_us, first_sample_us() + int(FUTURE_S * 1e6))

    good_body = ImuBatch(samples(), period_us).encode_body()
    zero_body = bytearray(good_body[:8])
    zero_body[0:2] = (0).to_bytes(2, "little")  # n_samples = 0
    driver.cases = lambda: [
        Case("sample nan", bad_sample(math.nan), [topic]),
        Case("sample inf", bad_sample(math.inf), [topic]),
        Case(
            "wrong layout (3 channels)",
            lambda: devices.send_imu(1, samples(channels=3), period_us, first_sample_us()),
            [topic],
            batch,
        ),
        Case(
            "wire garbage bytes",
            lambda: link.write_raw(b"\x00\x05garbage-bytes\x13\x00"),
            [topic],
            1,
            ("frames_bad",),
        ),
        Case("wire crc error (one bit flipped)", crc_error, [topic], 1, ("frames_bad",)),
        Case(
            "size_mismatch (body_len != body, CRC valid)",
            lambda: link.write_raw(crafted(good_body, len(good_body) + 6)),
            [topic],
            1,
            ("frames_bad",),
        ),
        Case(
            "zero_size batch (0 samples, CRC valid)",
            lambda: link.write_raw(crafted(bytes(zero_body))),
            [topic],
            1,
            ("frames_bad",),
        ),
        Case("out_of_order (batch 300 ms older)", ordered(-300_000), [topic], batch),
        Case("duplicate stamps (batch sent twice)", ordered(0), [topic], batch),
    ]
    driver.future = future
    driver.close = link.close
    return driver


DRIVERS: dict[str, Callable[[Session, Path], Driver]] = {
    "stereo_mono_node": stereo_driver,
    "terrain_node": terrain_driver,
    "har_node": har_driver,
    "serial_bridge_node": serial_driver,
}


# ---------------------------------------------------------------------------------------------- running
def _int(values: dict[str, str] | None, key: str) -> int:
    try:
        return int(float((values or {}).get(key, "0")))
    except ValueError:
        return 0


def drops_by_reason(values: dict[str, str] | None, topics: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key in values or {}:
        for topic in topics:
            prefix = f"dropped.{topic}."
            if key.startswith(prefix):
                reason = key[len(prefix) :]
                out[reason] = out.get(reason, 0) + _int(values, key)
    return out


def clock_counters(values: dict[str, str] | None) -> dict[str, int]:
    """Status counters about stamps and clocks (``clock_jump.<topic>``, a bridge's future/stale device
    times, ...): how a node may count a future stamp other than as a drop of the topic."""
    words = ("future", "stale", "jump", "clock_step")
    return {
        k: _int(values, k)
        for k in (values or {})
        if any(w in k for w in words)
        and not k.startswith("dropped.")
        and (values or {})[k].lstrip("-").isdigit()
    }


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}


class NodeRunner:
    """Starts a driver's node, waits until it answers, and runs cases against it."""

    def __init__(self, driver: Driver, sockets: SocketAudit, start_timeout: float = 120.0) -> None:
        self.driver, self.session, self.sockets = driver, driver.session, sockets
        self.start_timeout = start_timeout
        self.session.tickers.append(driver.tick)

    def start(self) -> bool:
        d = self.driver
        self.session.diagnostics.pop(d.name, None)  # a previous process's counters must not be read
        started = time.monotonic()
        d.process.start()
        d.paused = False
        ok = self.session.spin_until(lambda: d.ready(started) or not d.process.alive(), self.start_timeout)
        ok = ok and d.process.alive() and d.ready(started)
        self.sockets.sample()
        return ok

    def ensure_running(self) -> bool:
        if self.driver.process.alive():
            return True
        return self.start()

    def _settle(self, seconds: float = 0.4) -> tuple[float, dict[str, str] | None]:
        self.driver.paused = True
        self.session.spin_for(seconds)
        mark = time.monotonic()
        return mark, self.session.fresh_diagnostics(self.driver.name, mark)

    def _responsive(self, timeout: float = 8.0) -> bool:
        d = self.driver
        d.paused = False
        resumed, resumed_ns = time.monotonic(), time.time_ns()
        return self.session.spin_until(
            lambda: d.output_after(resumed_ns - 200 * MS, resumed) is not None, timeout
        )

    def run_case(self, case: Case) -> dict[str, Any]:
        d, name = self.driver, self.driver.name
        _, before = self._settle()
        if before is None:  # the node is silent: nothing can be counted against it
            return {
                "counted": False,
                "expected_drops": case.expected,
                "reasons": {},
                "alive": d.process.alive(),
                "responsive": False,
                "note": "no /diagnostics from the node before the case; case not run",
            }
        drops_before = drops_by_reason(before, case.topics)
        injected = time.monotonic()
        case.inject()

        def counted() -> bool:
            stamp, values = self.session.diagnostics.get(name, (0.0, {}))
            if stamp <= injected:
                return False
            drops = sum(_delta(drops_before, drops_by_reason(values, case.topics)).values())
            link = sum(_int(values, c) - _int(before, c) for c in case.counters)
            return drops + link >= case.expected

        is_counted = self.session.spin_until(lambda: counted() or not d.process.alive(), 3.0) and counted()
        after = self.session.diagnostics.get(name, (0.0, {}))[1]
        result: dict[str, Any] = {
            "counted": is_counted,
            "expected_drops": case.expected,
            "reasons": _delta(drops_before, drops_by_reason(after, case.topics)),
        }
        if case.counters:
            result["link_counters"] = {c: _int(after, c) - _int(before, c) for c in case.counters}
        result["responsive"] = d.process.alive() and self._responsive()
        result["alive"] = d.process.alive()
        return result

    def run_burst(self, seconds: float, factor: float = 10.0) -> dict[str, Any]:
        d, name = self.driver, self.driver.name
        topics = d.stamped_topics
        _, before = self._settle()
        if before is None:
            return {"counted": False, "alive": d.process.alive(), "note": "no /diagnostics from the node"}
        sent_before = dict(d.sent)
        started = time.monotonic()
        d.rate, d.paused = factor, False
        self.session.spin_for(seconds)
        d.paused, d.rate = True, 1.0
        # drain: until the node's counters stop moving for 1 s (at most 15 s)
        last: tuple[Any, ...] = ()
        stable_since = time.monotonic()
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline and d.process.alive():
            self.session.spin_for(0.2)
            values = self.session.diagnostics.get(name, (0.0, {}))[1]
            state = tuple(_int(values, f"received.{t}") for t in topics) + (
                d.outputs_since(started),
                _int(values, "dropped_total"),
            )
            if state != last:
                last, stable_since = state, time.monotonic()
            elif time.monotonic() - stable_since > 1.0:
                break
        after = self.session.diagnostics.get(name, (0.0, {}))[1]
        per_topic = {}
        for topic in topics:
            sent = d.sent.get(topic, 0) - sent_before.get(topic, 0)
            received = _int(after, f"received.{topic}") - _int(before, f"received.{topic}")
            dropped = _delta(drops_by_reason(before, [topic]), drops_by_reason(after, [topic]))
            row: dict[str, Any] = {
                "sent": sent,
                "sent_rate_hz": round(sent / seconds, 1),
                "received": received,
                "dropped": dropped,
                "lost_before_node": sent - received,
            }
            if topic == d.per_input_output:
                if name == "serial_bridge_node":  # one output per sample; the node counts what it published
                    outputs = _int(after, "published.wrist") - _int(before, "published.wrist")
                else:
                    outputs = d.outputs_since(started)
                row["outputs"] = outputs
                row["unaccounted"] = received - sum(dropped.values()) - outputs
            per_topic[topic] = row
        tolerance = (
            2 if name == "stereo_mono_node" else 0
        )  # a pair whose partner was lost waits in the pairer
        unaccounted = [abs(r["unaccounted"]) for r in per_topic.values() if "unaccounted" in r]
        alive = d.process.alive()
        responsive = alive and self._responsive()
        return {
            "factor": factor,
            "seconds": seconds,
            "topics": per_topic,
            "alive": alive,
            "responsive": responsive,
            "counted": alive and responsive and all(u <= tolerance for u in unaccounted),
        }

    def run_future(self, timeout: float) -> dict[str, Any]:
        d, name = self.driver, self.driver.name
        topics = d.stamped_topics
        _, before = self._settle(0.6)
        if before is None:
            return {
                "counted": False,
                "recovery_s": None,
                "alive": d.process.alive(),
                "note": "no /diagnostics from the node",
            }
        t0, t0_ns = time.monotonic(), time.time_ns()
        d.future(t0_ns + int(FUTURE_S * 1e9))
        d.paused = False
        diag_recovered: dict[str, float] = {}
        output_recovered: list[float] = []

        def check() -> bool:
            if not output_recovered:
                got = d.output_after(t0_ns - 200 * MS, t0)
                if got is not None:
                    output_recovered.append(got - t0)
            stamp, values = self.session.diagnostics.get(name, (0.0, {}))
            if stamp > t0:
                for topic in topics:
                    if topic in diag_recovered:
                        continue
                    received = _int(values, f"received.{topic}") - _int(before, f"received.{topic}")
                    dropped = sum(
                        _delta(drops_by_reason(before, [topic]), drops_by_reason(values, [topic])).values()
                    )
                    if received - dropped >= 2:
                        diag_recovered[topic] = stamp - t0
            return bool(output_recovered) and len(diag_recovered) == len(topics)

        self.session.spin_until(lambda: check() or not d.process.alive(), timeout)
        after = self.session.diagnostics.get(name, (0.0, {}))[1]
        reasons = _delta(drops_by_reason(before, topics), drops_by_reason(after, topics))
        clock = _delta(clock_counters(before), clock_counters(after))
        recovery = round(output_recovered[0], 3) if output_recovered else None
        return {
            "future_s": FUTURE_S,
            "timeout_s": timeout,
            "recovery_s": recovery,
            "diag_recovery_s": {
                t: round(diag_recovered[t], 2) if t in diag_recovered else None for t in topics
            },
            "reasons": reasons,
            "clock_counters": clock,
            "alive": d.process.alive(),
            "counted": recovery is not None and sum(reasons.values()) + sum(clock.values()) >= 1,
        }


def run_node(
    name: str, session: Session, log_dir: Path, sockets: SocketAudit, recovery_timeout: float, burst_s: float
) -> dict[str, Any]:
    """Every malformed case, a burst and a future stamp against one node."""
    driver = DRIVERS[name](session, log_dir)
    runner = NodeRunner(driver, sockets)
    result: dict[str, Any] = {"cases": {}, "deaths": 0}
    try:
        if not runner.start():
            return {"error": f"{name} did not start or never published; log: {driver.process.log_tail()}"}
        for case in driver.cases():
            if not runner.ensure_running():
                result["cases"][case.name] = {"counted": False, "note": "node could not be restarted"}
                continue
            row = runner.run_case(case)
            if not row["alive"]:
                result["deaths"] += 1
                row["log_tail"] = driver.process.log_tail(4)
            result["cases"][case.name] = row
        if runner.ensure_running():
            result["burst_10x"] = runner.run_burst(burst_s)
        sockets.sample()
        if runner.ensure_running():
            result["future_stamp"] = runner.run_future(recovery_timeout)
        result["deaths"] += sum(
            1 for key in ("burst_10x", "future_stamp") if not result.get(key, {}).get("alive", True)
        )
    finally:
        driver.paused = True
        session.tickers.remove(driver.tick)
        result["exit_status"] = driver.process.stop()
        result["starts"] = driver.process.starts
        driver.close()
    return result


def run_soak(
    session: Session,
    log_dir: Path,
    sockets: SocketAudit,
    seconds: float,
    names: list[str],
    inject_every_s: float = 5.0,
    seed: int = 0,
) -> dict[str, Any]:
    """All nodes at once, valid traffic plus a random malformed case every ``inject_every_s``."""
    rng = np.random.default_rng(seed)
    soak_dir = log_dir / "soak"
    soak_dir.mkdir(parents=True, exist_ok=True)
    drivers = [DRIVERS[name](session, soak_dir) for name in names]
    runners = [NodeRunner(d, sockets) for d in drivers]
    result: dict[str, Any] = {"seconds": seconds, "nodes": {}}
    try:
        for runner in runners:
            if not runner.start():
                result["nodes"][runner.driver.name] = {
                    "error": f"did not start: {runner.driver.process.log_tail()}"
                }
        cases = [(d, c) for d in drivers for c in d.cases()]
        baseline_at = min(60.0, seconds / 3.0)
        rss: dict[str, list[tuple[float, float]]] = {d.name: [] for d in drivers}
        outputs_before = {d.name: len(session.outputs.get(d.output_topic, [])) for d in drivers}
        started = time.monotonic()
        next_inject = next_sample = next_sockets = started
        injected = 0
        deaths: dict[str, int] = {d.name: 0 for d in drivers}
        while (now := time.monotonic()) - started < seconds:
            if now >= next_inject and cases:
                driver, case = cases[int(rng.integers(0, len(cases)))]
                if driver.process.alive():
                    case.inject()
                    injected += 1
                next_inject = now + inject_every_s
            if now >= next_sample:
                for d in drivers:
                    value = rss_mb(d.process.pid) if d.process.alive() and d.process.pid else None
                    if value is not None:
                        rss[d.name].append((now - started, value))
                    elif d.process.starts:
                        deaths[d.name] += 1
                        d.process.start()  # keep the others' load realistic; its RSS series restarts
                        rss[d.name].clear()
                next_sample = now + 5.0
            if now >= next_sockets:
                sockets.sample()
                next_sockets = now + 30.0
            session.spin_for(0.05)
        for d in drivers:
            series = rss[d.name]
            base = next((v for t, v in series if t >= baseline_at), None) if series else None
            end = series[-1][1] if series else None
            result["nodes"][d.name] = {
                "rss_baseline_mb": None if base is None else round(base, 1),
                "rss_end_mb": None if end is None else round(end, 1),
                "rss_growth_mb": None if base is None or end is None else round(end - base, 1),
                "deaths": deaths[d.name],
                "alive_at_end": d.process.alive(),
                "outputs": len(session.outputs.get(d.output_topic, [])) - outputs_before[d.name],
                "drops": drops_by_reason(
                    session.diagnostics.get(d.name, (0.0, {}))[1], d.stamped_topics + [d.per_input_output]
                ),
            }
        result["malformed_injected"] = injected
        result["baseline_at_s"] = round(baseline_at, 1)
    finally:
        for d in drivers:
            d.paused = True
            if d.tick in session.tickers:
                session.tickers.remove(d.tick)
        for d in drivers:
            result["nodes"].setdefault(d.name, {})["exit_status"] = d.process.stop()
            d.close()
    growths = [n.get("rss_growth_mb") for n in result["nodes"].values()]
    result["rss_growth_mb_max"] = max((g for g in growths if g is not None), default=None)
    return result
