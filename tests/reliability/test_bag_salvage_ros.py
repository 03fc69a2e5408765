"""`replay --ros` with a topic whose message type rclpy does not have (issue 23, item 9).

Real rclpy nodes over loopback DDS; run inside the network sandbox (``robossl-sandbox``).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from robossl_sim.replay import ReplayConfig
from robossl_sim.ros_replay import RosReplayConfig, RosReplayer

pytestmark = pytest.mark.ros

T0 = 5_000_000_000


def write_bag_with_an_uninstalled_type(path: Path, n: int) -> list[bytes]:
    """n std_msgs/String on /good, interleaved with n messages of a custom type no ROS package provides."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    store.register(get_types_from_msg("int32 value", "robossl_fault_msgs/msg/Thing"))
    string, thing = store.types["std_msgs/msg/String"], store.types["robossl_fault_msgs/msg/Thing"]
    raws = []
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        good = writer.add_connection("/good", "std_msgs/msg/String", typestore=store)
        custom = writer.add_connection("/custom", "robossl_fault_msgs/msg/Thing", typestore=store)
        for i in range(n):
            raw = bytes(store.serialize_cdr(string(data=f"good {i}"), "std_msgs/msg/String"))
            writer.write(good, T0 + 2 * i * 1_000_000, raw)
            raws.append(raw)
            custom_raw = store.serialize_cdr(thing(value=i), "robossl_fault_msgs/msg/Thing")
            writer.write(custom, T0 + (2 * i + 1) * 1_000_000, custom_raw)
    return raws


@pytest.fixture
def rclpy_context():
    import rclpy

    rclpy.init()
    yield rclpy
    rclpy.try_shutdown()


def test_ros_replay_skips_only_the_topic_whose_type_is_not_installed(tmp_path: Path, rclpy_context) -> None:
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from std_msgs.msg import String

    raws = write_bag_with_an_uninstalled_type(tmp_path / "bag", 50)
    sink = rclpy_context.create_node("sink")
    received: list[bytes] = []
    qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    sink.create_subscription(String, "/good", received.append, qos, raw=True)
    executor = SingleThreadedExecutor()
    executor.add_node(sink)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    node = rclpy_context.create_node("replayer")
    try:
        ros = RosReplayConfig(backpressure=True, wait_for_subscribers_s=5.0, publish_clock=False)
        replayer = RosReplayer(node, tmp_path / "bag", ReplayConfig(rate=None), ros)
        stats = replayer.run()
        deadline = time.monotonic() + 10
        while len(received) < len(raws) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        executor.shutdown()
        node.destroy_node()
        sink.destroy_node()
    assert received == raws
    assert stats.messages == 50 and stats.per_topic == {"/good": 50}
    assert list(replayer.skipped) == ["/custom"]
    assert any("'/custom'" in p and "robossl_fault_msgs/msg/Thing" in p for p in stats.problems)
