"""Replay a bag onto real ROS 2 topics, with ``/clock`` for ``use_sim_time`` and optional backpressure.

Messages are published as raw CDR bytes (no per-message Python conversion; ROS 1 bags are converted to CDR
by ``rosbags``). Pacing is :class:`robossl_sim.replay.Replayer`'s: ``rate`` times real time, or as fast as
possible. With ``backpressure=True`` publishers are reliable and each message waits until every matched
subscriber has acknowledged it (``Publisher.wait_for_all_acked``), so a replay at ``rate=None`` runs exactly
as fast as the slowest consumer takes the data, without drops.

Every process that calls this must use the loopback-only DDS setup (``robossl.netsafe``); :func:`run_ros_replay`
applies it before ``rclpy.init``.
"""

from __future__ import annotations

import dataclasses
import importlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robossl_sim.replay import ReplayConfig, Replayer, ReplayStats

__all__ = ["RosReplayConfig", "RosReplayer", "message_class", "run_ros_replay"]


def message_class(msgtype: str) -> Any:
    """The rclpy message class of ``"pkg/msg/Name"`` (raises ValueError naming the missing package)."""
    module, _, name = msgtype.rpartition("/")
    try:
        return getattr(importlib.import_module(module.replace("/", ".")), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(
            f"message type {msgtype} is not installed for rclpy ({exc}); install its ROS 2 package or "
            "leave the topic out (--topics)"
        ) from exc


@dataclass
class RosReplayConfig:
    """ROS-side options of a replay."""

    publish_clock: bool = True  # publish rosgraph_msgs/Clock on /clock before each message
    backpressure: bool = False  # reliable publishers; wait for all subscribers to ack each message
    ack_timeout_s: float = 5.0  # longest wait for acks before giving up on a message (counted)
    wait_for_subscribers_s: float = 0.0  # wait up to this long for >= 1 subscriber per topic before starting
    queue_depth: int = 10  # publisher history depth
    topic_prefix: str = ""  # prepended to every published topic name (e.g. "/replay")


class RosReplayer:
    """Publishes a bag on ROS 2 topics from an existing rclpy node.

    Args:
        node: the rclpy node that owns the publishers.
        path: bag path.
        config: replay pacing and selection.
        ros: ROS-side options.
    """

    def __init__(
        self,
        node: Any,
        path: str | Path | list[str | Path],
        config: ReplayConfig | None = None,
        ros: RosReplayConfig | None = None,
    ) -> None:
        self.node = node
        self.replayer = Replayer(path, config)
        self.ros = ros or RosReplayConfig()
        self.publishers: dict[str, Any] = {}
        self.ack_timeouts = 0  # messages whose acknowledgement timed out (backpressure mode)
        self.skipped: dict[str, str] = {}  # topic -> why it is not published (type not installed for rclpy)
        self._clock_pub = None

    def _qos(self) -> Any:
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        reliability = ReliabilityPolicy.RELIABLE if self.ros.backpressure else ReliabilityPolicy.BEST_EFFORT
        return QoSProfile(depth=self.ros.queue_depth, reliability=reliability)

    def _publisher(self, topic: str, msgtype: str) -> Any:
        pub = self.publishers.get(topic)
        if pub is None:
            pub = self.node.create_publisher(
                message_class(msgtype), self.ros.topic_prefix + topic, self._qos()
            )
            self.publishers[topic] = pub
        return pub

    def prepare(self, topics: dict[str, str]) -> None:
        """Create publishers for ``{topic: msgtype}`` and wait for subscribers as configured.

        A topic whose message type is not installed for rclpy is left out (kept in :attr:`skipped`), as
        the in-process replay leaves out a topic it cannot read; the other topics still replay.
        """
        for topic, msgtype in topics.items():
            try:
                self._publisher(topic, msgtype)
            except ValueError as exc:  # message_class: the type's ROS 2 package is not installed
                self.skipped[topic] = str(exc)
        if self.ros.publish_clock:
            from rclpy.qos import QoSProfile

            self._clock_pub = self.node.create_publisher(
                message_class("rosgraph_msgs/msg/Clock"), "/clock", QoSProfile(depth=10)
            )
        deadline = time.monotonic() + self.ros.wait_for_subscribers_s
        while time.monotonic() < deadline:
            if all(p.get_subscription_count() > 0 for p in self.publishers.values()):
                break
            time.sleep(0.02)

    def run(self) -> ReplayStats:
        """Replay the whole selection; returns the replay statistics."""
        from rclpy.duration import Duration

        from robossl.data.bags import BagReader

        config = self.replayer.config
        with BagReader(self.replayer.path, salvage=config.salvage) as bag:
            wanted = config.topics
            self.prepare({t: s.msgtype for t, s in bag.topics.items() if wanted is None or t in wanted})
            publishable = [t for t in bag.topics if (wanted is None or t in wanted) and t not in self.skipped]
        if self.skipped:
            if not config.salvage:
                raise ValueError("; ".join(f"topic {t!r}: {why}" for t, why in self.skipped.items()))
            self.replayer.config = dataclasses.replace(config, topics=publishable)
        clock_type = message_class("rosgraph_msgs/msg/Clock")
        time_type = message_class("builtin_interfaces/msg/Time")
        timeout = Duration(seconds=self.ros.ack_timeout_s)
        for message in self.replayer.messages():
            assert self.replayer.bag is not None
            if self._clock_pub is not None:
                sec, nanosec = divmod(message.log_time_ns, 1_000_000_000)
                self._clock_pub.publish(clock_type(clock=time_type(sec=sec, nanosec=nanosec)))
            pub = self._publisher(message.topic, message.msgtype)
            pub.publish(self.replayer.bag.to_cdr(message))
            if self.ros.backpressure and not pub.wait_for_all_acked(timeout):
                self.ack_timeouts += 1
        stats = self.replayer.stats
        for topic, why in self.skipped.items():
            stats.problems.append(f"topic {topic!r} not published: {why}")
        return stats


def run_ros_replay(
    path: str | Path | list[str | Path],
    config: ReplayConfig | None = None,
    ros: RosReplayConfig | None = None,
) -> tuple[ReplayStats, int]:
    """Create a node (loopback-only DDS), replay, shut down. Returns ``(stats, ack_timeouts)``."""
    import rclpy

    from robossl.netsafe import apply_loopback_env

    apply_loopback_env()
    initialized_here = not rclpy.ok()
    if initialized_here:
        rclpy.init()
    node = rclpy.create_node("robossl_replay")
    try:
        replayer = RosReplayer(node, path, config, ros)
        stats = replayer.run()
        return stats, replayer.ack_timeouts
    finally:
        node.destroy_node()
        if initialized_here:
            rclpy.try_shutdown()
