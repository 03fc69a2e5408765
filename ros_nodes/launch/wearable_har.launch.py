"""Serial IMU hub + activity recognition (the ROS 2 launch twin of config/wearable_har.yaml).

ros2 launch robossl_ros wearable_har.launch.py port:=/dev/ttyACM0
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    config = os.path.join(get_package_share_directory("robossl_ros"), "config", "wearable_har.yaml")
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "port", default_value="/dev/ttyACM0", description="serial port of the IMU hub"
            ),
            Node(
                package="robossl_ros",
                executable="serial_bridge_node",
                name="serial_bridge_node",
                parameters=[config, {"port": LaunchConfiguration("port")}],
                output="screen",
            ),
            Node(
                package="robossl_ros",
                executable="har_node",
                name="har_node",
                parameters=[config],
                output="screen",
            ),
        ]
    )
