"""Reliability driver for har_node: body-worn IMUs and activity labels: valid traffic and the malformed cases."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.reliability_suite.drivers import MS, Case, Driver, Stream, publish_paced
from bench.reliability_suite.ros import NodeProcess, Session


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
            publish_paced(session, [(pubs[topic], imu_msg(values, time.time_ns(), topic.split("/")[0]))])

        return inject

    def ordered(topic: str, offset_ns: int) -> Callable[[], None]:
        def inject() -> None:
            stamp = time.time_ns()
            frame = topic.split("/")[0]
            publish_paced(session, [(pubs[topic], imu_msg(sample(0, 0.0), stamp, frame))])
            publish_paced(session, [(pubs[topic], imu_msg(sample(0, 0.0), stamp + offset_ns, frame))])

        return inject

    def future(stamp: int) -> None:
        publish_paced(
            session, [(pubs[t], imu_msg(sample(i, 0.0), stamp, names[i])) for i, t in enumerate(topics)]
        )

    driver.cases = lambda: [
        Case("imu nan gyro", bad_value(topics[0], 0, math.nan), [topics[0]]),
        Case("imu inf accel", bad_value(topics[1], 4, math.inf), [topics[1]]),
        Case("imu out_of_order (10 ms older)", ordered(topics[0], -10 * MS), [topics[0]]),
        Case("imu duplicate stamp", ordered(topics[1], 0), [topics[1]]),
        Case(
            "label_in unknown class",
            lambda: publish_paced(session, [(label_pub, String(data="no-such-class"))]),
            ["activity/label_in"],
        ),
    ]
    driver.future = future
    return driver
