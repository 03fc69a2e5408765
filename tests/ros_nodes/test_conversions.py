"""robossl_ros.conversions: odometry decoding (moved out of terrain_node) and the builders it re-exports from
robossl_ros.message_builders. Plain message objects; no DDS, so no ``ros`` marker."""

from __future__ import annotations

import math

import pytest


def _odometry(sec: int, nanosec: int, x: float, y: float, yaw: float) -> object:
    from nav_msgs.msg import Odometry

    msg = Odometry()
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    msg.pose.pose.position.x, msg.pose.pose.position.y = x, y
    msg.pose.pose.orientation.z, msg.pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
    return msg


def test_odometry_pose_gives_stamp_position_and_heading() -> None:
    from robossl_ros.conversions import odometry_pose

    stamp_ns, (x, y, yaw) = odometry_pose(_odometry(12, 500, 1.5, -2.0, 2.5), "odom")
    assert stamp_ns == 12 * 1_000_000_000 + 500
    assert (x, y) == (1.5, -2.0)
    assert yaw == pytest.approx(2.5, abs=1e-12)
    # past +pi the heading wraps into (-pi, pi]
    assert odometry_pose(_odometry(0, 0, 0.0, 0.0, 3.5), "odom")[1][2] == pytest.approx(3.5 - 2 * math.pi)


@pytest.mark.parametrize("field", ["x", "y", "yaw"])
def test_odometry_pose_rejects_a_non_finite_pose_naming_the_topic(field: str) -> None:
    from robossl_ros.conversions import RejectedInput, odometry_pose

    values = {"x": 1.0, "y": 2.0, "yaw": 0.3} | {field: math.nan}
    with pytest.raises(RejectedInput, match="odometry on rover/odom has a NaN/inf pose") as caught:
        odometry_pose(_odometry(1, 0, values["x"], values["y"], values["yaw"]), "rover/odom")
    assert caught.value.reason == "non_finite"


def test_odometry_pose_rejects_a_bad_stamp() -> None:
    from robossl_ros.conversions import RejectedInput, odometry_pose

    with pytest.raises(RejectedInput, match="odom") as caught:
        odometry_pose(_odometry(1, 1_000_000_000, 0.0, 0.0, 0.0), "odom")  # nanosec must be < 1e9
    assert caught.value.reason == "bad_stamp"


def test_builders_import_from_conversions_and_terrain_node_keeps_yaw_of() -> None:
    from robossl_ros import conversions, message_builders, terrain_node

    for name in message_builders.__all__:
        assert getattr(conversions, name) is getattr(message_builders, name), name
    assert terrain_node.yaw_of is conversions.yaw_of
