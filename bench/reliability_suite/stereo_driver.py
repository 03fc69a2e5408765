"""Reliability driver for stereo_mono_node: stereo pairs, camera infos and a range sensor: valid traffic and the malformed cases."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.reliability_suite.drivers import MS, Case, Driver, Stream, publish_paced
from bench.reliability_suite.ros import NodeProcess, Session


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
            publish_paced(session, pair(stamp, make(stamp, "cam0"), make(stamp, "cam1")))

        return inject

    def ordered(offset_ns: int) -> Callable[[], None]:
        def inject() -> None:
            stamp = time.time_ns()
            publish_paced(session, pair(stamp))
            session.spin_for(0.15)
            publish_paced(session, pair(stamp + offset_ns))

        return inject

    def nan_info() -> None:
        stamp = time.time_ns()
        items = pair(stamp)
        for index in (0, 1):
            items[index][1].k = [math.nan] * 9
        publish_paced(session, items)

    def future(stamp: int) -> None:
        publish_paced(session, pair(stamp))

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
