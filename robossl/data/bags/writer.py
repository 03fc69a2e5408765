"""Write rosbag2 recordings (mcap by default, sqlite3 on request) without ROS.

Example::

    with BagWriter("run_001") as bag:                     # creates folder run_001/ with metadata.yaml
        bag.write("/imu", stamp_ns, imu_msg)               # a rosbags message object
        bag.write_raw("/cam/image_raw", "sensor_msgs/msg/Image", stamp_ns, cdr_bytes)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robossl.data.bags.storage import BagError

__all__ = ["STORAGES", "BagWriter"]

STORAGES = ("mcap", "sqlite3")


class BagWriter:
    """rosbag2 writer (format version 9, as ROS 2 Jazzy writes).

    Args:
        path: folder to create; must not exist yet.
        storage: ``"mcap"`` (default) or ``"sqlite3"``.
        typestore: ``rosbags`` type store for serialising message objects (default ROS 2 Jazzy).

    Topics are added on their first message; :meth:`close` (or leaving the ``with`` block) writes
    ``metadata.yaml``. A crash before that leaves storage files that :class:`~robossl.data.bags.BagReader`
    still reads.
    """

    def __init__(self, path: str | Path, storage: str = "mcap", typestore: Any = None) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        from robossl.data.bags.typestore import default_typestore

        if storage not in STORAGES:
            raise BagError(path, f"unknown storage {storage!r}; choose one of {STORAGES}")
        self.path = Path(path)
        if self.path.exists():
            raise BagError(
                self.path, "exists already; choose a new output folder (bags are never overwritten)"
            )
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self.typestore = typestore if typestore is not None else default_typestore()
        self._writer = Writer(self.path, version=9, storage_plugin=plugin)
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}  # topic -> messages written
        self._open = False

    def open(self) -> BagWriter:
        """Create the folder and the storage file."""
        self._writer.open()
        self._open = True
        return self

    def __enter__(self) -> BagWriter:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Finish the storage file and write ``metadata.yaml`` (idempotent)."""
        if self._open:
            self._open = False
            self._writer.close()

    def set_custom_data(self, key: str, value: str) -> None:
        """Store a ``key: value`` string pair in ``metadata.yaml`` (``custom_data``), e.g. the source dataset."""
        self._writer.set_custom_data(key, value)

    def add_topic(self, topic: str, msgtype: str) -> None:
        """Declare ``topic`` with type ``msgtype`` (idempotent; a different type raises :class:`BagError`)."""
        known = self._connections.get(topic)
        if known is not None:
            if known.msgtype != msgtype:
                raise BagError(
                    self.path, f"topic {topic!r} was added as {known.msgtype}, cannot also write {msgtype}"
                )
            return
        if msgtype not in self.typestore.fielddefs:
            raise BagError(
                self.path,
                f"unknown message type {msgtype!r}; pass a typestore that knows it (rosbags get_types_from_msg)",
            )
        if not self._open:
            raise BagError(self.path, "is not open; use `with BagWriter(path) as bag:`")
        self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=self.typestore)
        self.counts[topic] = 0

    def write(self, topic: str, stamp_ns: int, msg: Any) -> None:
        """Serialise a ``rosbags`` message object and write it at log time ``stamp_ns`` (ns)."""
        msgtype = msg.__msgtype__
        self.add_topic(topic, msgtype)
        self.write_raw(topic, msgtype, stamp_ns, self.typestore.serialize_cdr(msg, msgtype))

    def write_raw(self, topic: str, msgtype: str, stamp_ns: int, data: bytes | memoryview) -> None:
        """Write already CDR-serialised bytes (e.g. from an rclpy raw subscription)."""
        self.add_topic(topic, msgtype)
        self._writer.write(self._connections[topic], int(stamp_ns), data)
        self.counts[topic] += 1
