"""Reliability driver for terrain_node: camera images and infos, audio chunks and odometry: valid traffic and the malformed cases."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.reliability_suite.drivers import MS, Case, Driver, Stream, publish_paced
from bench.reliability_suite.ros import NodeProcess, Session


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
        return lambda: publish_paced(session, [(pubs[topic], make(time.time_ns()))])

    def ordered(topic: str, make: Callable[[int], Any], offset_ns: int) -> Callable[[], None]:
        def inject() -> None:
            stamp = time.time_ns()
            publish_paced(session, [(pubs[topic], make(stamp))])
            session.spin_for(0.1)
            publish_paced(session, [(pubs[topic], make(stamp + offset_ns))])

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
        publish_paced(session, [*image(stamp), (pubs[audio_t], audio(stamp)), (pubs[odom_t], odom(stamp))])

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
