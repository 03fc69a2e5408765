"""robossl ROS 2 nodes (ament_python package robossl_ros): thin adapters around robossl pipelines."""
