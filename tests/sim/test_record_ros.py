"""Record live ROS 2 topics (Fast DDS on loopback) into rosbag2 and read them back."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from robossl.data.bags import BagReader
from robossl.data.bags.messages import decode_imu
from robossl_sim.recorder import record_ros

pytestmark = pytest.mark.ros


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_records_live_imu_topic(tmp_path: Path, storage: str) -> None:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Imu

    rclpy.init()
    node = rclpy.create_node("imu_source")
    pub = node.create_publisher(Imu, "/imu", 100)
    sent = [0]

    def tick() -> None:
        msg = Imu()
        msg.header.frame_id = "imu"
        msg.angular_velocity.x = float(sent[0])
        msg.linear_acceleration.z = 9.81
        pub.publish(msg)
        sent[0] += 1

    node.create_timer(0.01, tick)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        counts = record_ros(tmp_path / "live", ["/imu"], duration_s=1.0, storage=storage)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    assert counts["/imu"] > 40  # 100 Hz for 1 s, minus discovery
    with BagReader(tmp_path / "live", salvage=False) as bag:
        assert bag.topics["/imu"].msgtype == "sensor_msgs/msg/Imu"
        values = [decode_imu(m.msg).angular_velocity[0] for m in bag.messages()]
    assert len(values) == counts["/imu"]
    assert values == sorted(values) and values[-1] - values[0] == len(values) - 1  # none lost or reordered
