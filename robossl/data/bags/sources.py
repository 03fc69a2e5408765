"""Opening the storage files behind a bag: through their index, or by scanning past damage.

:func:`open_storage` opens a file with ``rosbags`` (:class:`RosbagsSource`); when that fails (truncated file,
missing index or footer, broken sqlite pages) and salvage is on, it falls back to the scanner for the format
(:func:`open_scanner`): :class:`~robossl.data.bags.mcap_scan.McapScanSource`,
:class:`~robossl.data.bags.sqlite_scan.Sqlite3ScanSource` or
:class:`~robossl.data.bags.ros1_scan.Ros1ScanSource`. The scanners read the whole file and step over damage:
mcap and ROS 1 resynchronise at the next well-formed record (a compressed chunk that does not decompress
is lost as a whole), sqlite3 reads every intact table page. What they skipped is in their ``damaged`` list.
:class:`robossl.data.bags.reader.BagReader` also switches to a scanner when an indexed read fails half-way.
Used by :mod:`robossl.data.bags.reader`; not meant to be used directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from robossl.data.bags.mcap_scan import McapScanSource
from robossl.data.bags.ros1_scan import Ros1ScanSource
from robossl.data.bags.sqlite_scan import Sqlite3ScanSource
from robossl.data.bags.storage import BagError, DamagedRegion, SourceConnection, StorageSource, storage_kind

__all__ = [
    "RosbagsSource",
    "describe_damage",
    "open_scanner",
    "open_storage",
]


class _IndexMismatch(Exception):
    """The parts of a file's index disagree with each other."""


class RosbagsSource:
    """A storage file read by ``rosbags`` (index-based, fast)."""

    def __init__(self, path: Path) -> None:
        from rosbags.interfaces import ConnectionExtRosbag2, MessageDefinitionFormat
        from rosbags.rosbag1 import Reader as Reader1
        from rosbags.rosbag2 import Reader as Reader2

        self.path = path
        self.kind = storage_kind(path)
        self.damaged: list[DamagedRegion] = []
        self.lost = 0
        self.reader: Any = Reader1(path) if self.kind == "ros1" else Reader2(path)
        self.reader.open()
        formats = {MessageDefinitionFormat.MSG: "msg", MessageDefinitionFormat.IDL: "idl"}
        self.connections = []
        for c in self.reader.connections:
            fmt = c.ext.serialization_format if isinstance(c.ext, ConnectionExtRosbag2) else "ros1"
            self.connections.append(
                SourceConnection(
                    c.topic,
                    c.msgtype,
                    fmt,
                    c.msgcount,
                    formats.get(c.msgdef.format, "none"),
                    c.msgdef.data,
                    self,
                    c,
                )
            )
        count = self.reader.message_count
        if self.kind == "ros1":
            # Each chunk's info record counts its messages; index data overwritten with zeros reads as
            # "no messages" without an error, so a mismatch means the index cannot be trusted.
            reader: Any = self.reader
            listed = sum(sum(info.connection_counts.values()) for info in reader.chunk_infos)
            indexed = sum(c.count for c in self.connections)
            if listed != indexed:
                reader.close()
                raise _IndexMismatch(
                    f"the chunk records list {listed} message(s) but the index data holds {indexed}"
                )
        self.start_ns = int(self.reader.start_time) if count else None
        self.end_ns = int(self.reader.end_time) - 1 if count else None

    def messages(
        self, conns: list[SourceConnection], start: int | None, stop: int | None
    ) -> Iterator[tuple[SourceConnection, int, bytes | memoryview]]:
        by_id = {c.handle.id: c for c in conns}
        for handle, stamp, raw in self.reader.messages([c.handle for c in conns], start, stop):
            yield by_id[handle.id], int(stamp), raw

    def close(self) -> None:
        self.reader.close()


def open_scanner(path: Path) -> StorageSource:
    """The record / page scanner for a storage file (reads damaged files; slower than the index).

    Raises:
        BagError: nothing in the file can be read.
    """
    kind = storage_kind(path)
    try:
        if kind == "ros1":
            return Ros1ScanSource(path)
        if kind == "mcap":
            return McapScanSource(path)
        if kind == "sqlite3":
            return Sqlite3ScanSource(path)
    except OSError as exc:
        raise BagError(path, f"cannot be read ({exc})") from exc
    raise BagError(
        path, "is a compressed rosbag2 folder; decompress it (rosbag2 'ros2 bag convert') to salvage it"
    )


def describe_damage(source: StorageSource, recovered: int) -> str:
    """``"Recovered N message(s); M lost; K damaged region(s): ..."`` for a scanned file."""
    regions = source.damaged
    shown = "; ".join(str(region) for region in regions[:3]) + ("; ..." if len(regions) > 3 else "")
    lost = f"{source.lost} lost; " if source.lost else ""
    return f"Recovered {recovered} message(s); {lost}{len(regions)} damaged region(s)" + (
        f": {shown}" if regions else ""
    )


def open_storage(path: Path, salvage: bool) -> tuple[StorageSource | None, str | None]:
    """Open one storage file.

    Returns:
        ``(source, problem)``: the source (None when nothing is readable) and a description of any damage.

    Raises:
        BagError: unknown format, or any damage when ``salvage`` is False.
    """
    kind = storage_kind(path)
    try:
        return RosbagsSource(path), None
    except Exception as exc:  # rosbags ReaderError, apsw errors, struct errors on garbage
        reason = f"{type(exc).__name__}: {exc}"
        if path.stat().st_size == 0:
            reason = "the file is empty (0 bytes)"
        if kind == "rosbag2":
            if not salvage:
                raise BagError(path, f"compressed bag cannot be read ({reason})") from exc
            return (
                None,
                f"{path}: compressed bag cannot be read ({reason}); decompressed salvage is not supported",
            )
        if not salvage:
            raise BagError(
                path,
                f"cannot be opened ({reason}); it is truncated or corrupted. Read it with salvage=True "
                "(the CLI default; --strict turns it off) to recover the messages the file still holds",
            ) from exc
    try:
        scanner = open_scanner(path)
    except BagError as exc:
        return None, f"{path}: cannot be opened ({reason}) and scanning failed too ({exc.problem})"
    recovered = sum(c.count for c in scanner.connections)
    return scanner, f"{path}: index unreadable ({reason}); read by scanning the file. " + describe_damage(
        scanner, recovered
    )
