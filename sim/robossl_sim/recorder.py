"""Record rosbag2 (mcap by default, sqlite3 on request) of chosen topics: from in-process sim streams, or
from live ROS 2 topics (:func:`record_ros`, which imports rclpy lazily).

In-process example (a simulated run)::

    with Recorder("sim_run", topics=["/cam/image_raw", "/imu"]) as rec:
        for stamp_ns, image, gyro, accel in world.run():
            rec.record("/cam/image_raw", stamp_ns, build_image(rec.typestore, stamp_ns, "cam", image, "rgb8"))
            rec.record("/imu", stamp_ns, build_imu(rec.typestore, stamp_ns, "imu", gyro, accel))
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from robossl.data.bags.writer import BagWriter

__all__ = ["Recorder", "record_ros"]


class Recorder:
    """Writes chosen topics of an in-process stream to a rosbag2 recording.

    Args:
        path: output bag folder (must not exist).
        storage: ``"mcap"`` (default) or ``"sqlite3"``.
        topics: topics to keep; messages on other topics are ignored (counted in ``ignored``). None keeps all.
        typestore: rosbags type store (default ROS 2 Jazzy).
    """

    def __init__(
        self,
        path: str | Path,
        storage: str = "mcap",
        topics: Sequence[str] | None = None,
        typestore: Any = None,
    ) -> None:
        self.writer = BagWriter(path, storage=storage, typestore=typestore)
        self.topics = None if topics is None else set(topics)
        self.ignored = 0  # messages on topics that were not chosen

    @property
    def typestore(self) -> Any:
        """The type store used to serialise (use it to build messages)."""
        return self.writer.typestore

    @property
    def counts(self) -> dict[str, int]:
        """Messages written per topic."""
        return dict(self.writer.counts)

    def __enter__(self) -> Recorder:
        self.writer.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Finish the bag (writes metadata.yaml)."""
        self.writer.close()

    def _wanted(self, topic: str) -> bool:
        if self.topics is None or topic in self.topics:
            return True
        self.ignored += 1
        return False

    def record(self, topic: str, stamp_ns: int, msg: Any) -> bool:
        """Record a rosbags message object at log time ``stamp_ns``; False when the topic is not chosen."""
        if not self._wanted(topic):
            return False
        self.writer.write(topic, stamp_ns, msg)
        return True

    def record_raw(self, topic: str, msgtype: str, stamp_ns: int, data: bytes) -> bool:
        """Record CDR bytes; False when the topic is not chosen."""
        if not self._wanted(topic):
            return False
        self.writer.write_raw(topic, msgtype, stamp_ns, data)
        return True


def _ros_type_name(types: list[str]) -> str:
    return types[0]


def record_ros(
    path: str | Path,
    topics: Sequence[str],
    duration_s: float,
    storage: str = "mcap",
    discovery_timeout_s: float = 5.0,
    node: Any = None,
) -> dict[str, int]:
    """Record live ROS 2 topics (raw CDR, no deserialisation) for ``duration_s`` seconds.

    The log time is the node clock at reception (sim time when the node uses ``use_sim_time``). Creates
    its own node (after :func:`robossl.netsafe.apply_loopback_env`) unless ``node`` is given.

    Args:
        path: output bag folder.
        topics: topic names; each must be advertised within ``discovery_timeout_s`` (its type is taken from
            the ROS graph).
        duration_s: how long to record after subscribing, seconds.
        storage: ``"mcap"`` or ``"sqlite3"``.
        node: an existing rclpy node to subscribe with (its executor is spun here).

    Returns:
        Messages written per topic.

    Raises:
        TimeoutError: when a topic is not advertised in time (the message lists the topics seen).
    """
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    own = node is None
    initialized_here = False
    if own:
        from robossl.netsafe import apply_loopback_env

        apply_loopback_env()
        if not rclpy.ok():
            rclpy.init()
            initialized_here = True
        node = rclpy.create_node("robossl_recorder")
    try:
        deadline = time.monotonic() + discovery_timeout_s
        types: dict[str, str] = {}
        while True:
            graph = dict(node.get_topic_names_and_types())
            types = {t: _ros_type_name(graph[t]) for t in topics if t in graph}
            if len(types) == len(topics) or time.monotonic() > deadline:
                break
            rclpy.spin_once(node, timeout_sec=0.05)
        missing = [t for t in topics if t not in types]
        if missing:
            raise TimeoutError(
                f"topics {missing} not advertised within {discovery_timeout_s} s; seen: {sorted(graph)}"
            )
        # best effort matches both reliable and best-effort publishers; a deep queue absorbs bursts
        qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.BEST_EFFORT)
        rec = Recorder(path, storage=storage)
        with rec:
            subscriptions = []
            for topic, msgtype in types.items():
                module, _, name = msgtype.rpartition("/")
                msg_class = getattr(__import__(module.replace("/", "."), fromlist=[name]), name)

                def callback(data: bytes, topic: str = topic, msgtype: str = msgtype) -> None:
                    rec.record_raw(topic, msgtype, node.get_clock().now().nanoseconds, data)

                subscriptions.append(node.create_subscription(msg_class, topic, callback, qos, raw=True))
            end = time.monotonic() + duration_s
            while time.monotonic() < end:
                rclpy.spin_once(node, timeout_sec=min(0.05, max(0.0, end - time.monotonic())))
            for sub in subscriptions:
                node.destroy_subscription(sub)
        return rec.counts
    finally:
        if own:
            node.destroy_node()
        if initialized_here:
            rclpy.try_shutdown()
