"""Loopback-only ROS 2 / DDS runtime: the Fast DDS profile, the environment and the network sandbox.

Every process that creates a ROS 2 context (nodes, tests, benchmarks, the demo) calls
:func:`apply_loopback_env` before ``rclpy.init`` or is started through ``robossl-sandbox``, which runs a
command inside a private network namespace where only ``lo`` exists. This module never imports rclpy.
"""

from robossl.netsafe.loopback import (
    DEFAULT_ROS_DOMAIN_ID,
    PROFILE_PATH,
    apply_loopback_env,
    is_private_netns,
    loopback_env,
    netns_interfaces,
    profile_addresses,
    require_loopback_env,
)

__all__ = [
    "DEFAULT_ROS_DOMAIN_ID",
    "PROFILE_PATH",
    "apply_loopback_env",
    "is_private_netns",
    "loopback_env",
    "netns_interfaces",
    "profile_addresses",
    "require_loopback_env",
]
