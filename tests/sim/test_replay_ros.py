"""Replay onto real ROS 2 topics (Fast DDS on loopback): every message arrives, byte-identical, with /clock."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from robossl.data.bags import BagReader, BagWriter
from robossl.data.bags.message_builders import build_imu
from robossl.data.bags.typestore import default_typestore
from robossl_sim.replay import ReplayConfig
from robossl_sim.ros_replay import RosReplayConfig, RosReplayer

pytestmark = pytest.mark.ros


def make_bag(path: Path, n: int) -> list[bytes]:
    store = default_typestore()
    raws = []
    with BagWriter(path) as bag:
        for i in range(n):
            stamp = 5_000_000_000 + i * 10_000_000
            msg = build_imu(store, stamp, "imu", [float(i), 0, 0], [0, 0, 9.81])
            bag.write("/imu", stamp, msg)
            raws.append(bytes(store.serialize_cdr(msg, msg.__msgtype__)))
    return raws


class Sink:
    """A subscriber node spinning in a thread, collecting raw bytes and /clock values."""

    def __init__(self, rclpy, topic: str, msg_class) -> None:
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from rosgraph_msgs.msg import Clock

        self.node = rclpy.create_node("sink")
        self.raws: list[bytes] = []
        self.clock_ns: list[int] = []
        qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(msg_class, topic, self.raws.append, qos, raw=True)
        self.node.create_subscription(
            Clock, "/clock", lambda m: self.clock_ns.append(m.clock.sec * 10**9 + m.clock.nanosec), 10
        )
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def wait_for(self, n: int, timeout: float = 10.0) -> None:
        import time

        end = time.monotonic() + timeout
        while len(self.raws) < n and time.monotonic() < end:
            time.sleep(0.01)

    def stop(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


@pytest.fixture
def rclpy_context():
    import rclpy

    rclpy.init()
    yield rclpy
    rclpy.try_shutdown()


def test_backpressure_replay_delivers_every_message_identically(tmp_path: Path, rclpy_context) -> None:
    from sensor_msgs.msg import Imu

    raws = make_bag(tmp_path / "bag", 200)
    sink = Sink(rclpy_context, "/imu", Imu)
    node = rclpy_context.create_node("replayer")
    try:
        ros = RosReplayConfig(backpressure=True, wait_for_subscribers_s=5.0, queue_depth=10)
        replayer = RosReplayer(node, tmp_path / "bag", ReplayConfig(rate=None), ros)
        stats = replayer.run()
        sink.wait_for(200)
    finally:
        node.destroy_node()
        sink.stop()
    assert stats.messages == 200 and replayer.ack_timeouts == 0
    assert sink.raws == raws
    assert sink.clock_ns[-1] == 5_000_000_000 + 199 * 10_000_000
    assert sink.clock_ns == sorted(sink.clock_ns)


@pytest.mark.data
def test_ros1_bag_is_republished_as_ros2_cdr(tmp_path: Path, rclpy_context, real_data) -> None:
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import Imu

    path = real_data("rosbag/imu_tools/sparkfun_razor.bag")
    with BagReader(path) as bag:
        expected = [m.msg for m in bag.messages(["/imu/data_raw"], end_ns=bag.start_ns + 500_000_000)]
    sink = Sink(rclpy_context, "/imu/data_raw", Imu)
    node = rclpy_context.create_node("replayer")
    try:
        config = ReplayConfig(rate=None, topics=["/imu/data_raw"], end=0.5)
        ros = RosReplayConfig(backpressure=True, wait_for_subscribers_s=5.0, publish_clock=False)
        RosReplayer(node, path, config, ros).run()
        sink.wait_for(len(expected))
    finally:
        node.destroy_node()
        sink.stop()
    got = [deserialize_message(raw, Imu) for raw in sink.raws]
    assert len(got) == len(expected) > 10
    for ros_msg, bag_msg in zip(got, expected):
        assert ros_msg.linear_acceleration.z == bag_msg.linear_acceleration.z
        assert ros_msg.header.stamp.nanosec == bag_msg.header.stamp.nanosec
        assert ros_msg.header.frame_id == bag_msg.header.frame_id


def test_paced_replay_drives_use_sim_time_nodes(tmp_path: Path, rclpy_context) -> None:
    import time

    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Imu

    make_bag(tmp_path / "bag", 50)  # 0.49 s of log time
    sink = Sink(rclpy_context, "/imu", Imu)
    sim_node = rclpy_context.create_node(
        "sim_clock_user", parameter_overrides=[Parameter("use_sim_time", value=True)]
    )
    sink.executor.add_node(sim_node)
    node = rclpy_context.create_node("replayer")
    try:
        ros = RosReplayConfig(backpressure=True, wait_for_subscribers_s=5.0)
        stats = RosReplayer(node, tmp_path / "bag", ReplayConfig(rate=2.0), ros).run()
        sink.wait_for(50)
        deadline = time.monotonic() + 5.0
        last = 5_000_000_000 + 49 * 10_000_000
        while sim_node.get_clock().now().nanoseconds != last and time.monotonic() < deadline:
            time.sleep(0.01)
        sim_now = sim_node.get_clock().now().nanoseconds
    finally:
        node.destroy_node()
        sink.executor.remove_node(sim_node)
        sim_node.destroy_node()
        sink.stop()
    assert len(sink.raws) == 50
    assert sim_now == last  # the node's ROS time is the bag's time, not the wall clock
    assert 0.2 < stats.wall_s < 0.8  # 0.49 s of log at 2x
