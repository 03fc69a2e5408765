"""The QoS profiles every robossl node uses, chosen on purpose.

- :data:`SENSOR_QOS` for incoming sensor streams (images, IMU, audio, odometry): best effort, volatile,
  keep the last 10. A late sample is worth less than the next one; a best-effort subscriber also matches
  reliable publishers (bags, drivers that publish reliably).
- :data:`HIGH_RATE_SENSOR_QOS` for small high-rate streams (IMU, audio chunks, odometry): the same
  best-effort profile with a deeper history (200), so that a node starved of CPU for a moment (a training
  step, a busy core) still finds the samples when it runs instead of losing them.
- :data:`RESULT_QOS` for per-frame outputs (depth, disparity, labels, activity, embeddings): reliable,
  volatile, keep the last 5. A reliable publisher matches both reliable and best-effort subscribers, so
  ``ros2 topic echo`` and rosbag2 (reliable by default) receive every output.
- :data:`STATUS_QOS` for state that changes rarely and must reach late joiners (persistent-SSL mode, model
  version, cluster statistics): reliable, transient local, keep the last 1 (a "latched" topic).
- :data:`DIAGNOSTICS_QOS` for ``/diagnostics``: the ROS 2 default (reliable, volatile, depth 10), which is
  what ``diagnostic_aggregator`` and ``rqt_robot_monitor`` subscribe with.
"""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

SENSOR_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)

HIGH_RATE_SENSOR_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=200,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)

RESULT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=5,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

STATUS_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)

DIAGNOSTICS_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
