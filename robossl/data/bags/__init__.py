"""Bags: ROS 1 ``.bag`` files and rosbag2 folders (mcap / sqlite3), read and written without ROS.

| module | holds |
|---|---|
| ``reader.py`` | :class:`BagReader`, :func:`iter_messages`, :func:`salvage_counts`: merged, time-ordered reading with salvage |
| ``writer.py`` | :class:`BagWriter`: rosbag2 recordings (mcap or sqlite3) |
| ``storage.py`` | :class:`BagError`, the storage-file protocol, the topic / time filter every scanner uses |
| ``paths.py`` | which storage files a bag path means (a file, a rosbag2 folder, a folder without metadata) |
| ``sources.py`` | opening one storage file: through its index (``rosbags``) or, if damaged, by scanning |
| ``guarded.py`` | one file's messages: the index first, the scanner for what an indexed read that fails half-way left |
| ``mcap_scan.py``, ``sqlite_scan.py`` (+ ``sqlite_pages.py``), ``ros1_scan.py`` | one damage-tolerant scanner per format |
| ``typestore.py`` | message type store: ROS 2 Jazzy types plus a bag's embedded definitions |
| ``messages.py``, ``image_codec.py`` | message -> numpy decoders (rosbags and rclpy messages alike) |
| ``message_builders.py`` | numpy -> rosbags message builders |

Example::

    from robossl.data.bags import BagReader, iter_messages
    for m in iter_messages("run.mcap_folder", topics=["/imu"], start=10.0, end=20.0):
        print(m.topic, m.log_time_ns, m.msg.angular_velocity.x)
"""

from robossl.data.bags.reader import (
    BagMessage,
    BagReader,
    SalvageCounts,
    TopicSummary,
    iter_messages,
    salvage_counts,
)
from robossl.data.bags.storage import BagError
from robossl.data.bags.writer import BagWriter

__all__ = [
    "BagError",
    "BagMessage",
    "BagReader",
    "BagWriter",
    "SalvageCounts",
    "TopicSummary",
    "iter_messages",
    "salvage_counts",
]
