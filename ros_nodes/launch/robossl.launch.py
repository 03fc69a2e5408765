"""Start robossl nodes with ROS 2 launch (on a robot with a ROS 2 installation).

    ros2 launch robossl_ros robossl.launch.py nodes:=stereo_mono_node,har_node

Each node reads config/<node>.yaml from this package's share folder. Without ROS 2 launch (e.g. the
PyPI wheels), use `robossl launch ros_nodes/config/<file>.yaml` instead.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

NODES = ("stereo_mono_node", "terrain_node", "har_node", "serial_bridge_node")


def _nodes(context, *args, **kwargs):
    share = get_package_share_directory("robossl_ros")
    wanted = [n.strip() for n in LaunchConfiguration("nodes").perform(context).split(",") if n.strip()]
    unknown = sorted(set(wanted) - set(NODES))
    if unknown:
        raise RuntimeError(f"unknown robossl nodes {unknown}; choose from {NODES}")
    return [
        Node(
            package="robossl_ros",
            executable=name,
            name=name,
            parameters=[os.path.join(share, "config", f"{name}.yaml")],
            output="screen",
            emulate_tty=True,
        )
        for name in wanted
    ]


def generate_launch_description():
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "nodes", default_value="har_node", description="comma-separated robossl nodes to start"
            ),
            OpaqueFunction(function=_nodes),
        ]
    )
