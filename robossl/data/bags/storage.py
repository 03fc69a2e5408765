"""What every storage file behind a bag offers: the :class:`StorageSource` protocol and its parts.

A storage source is one ``.bag``, ``.mcap`` or ``.db3`` file (or a compressed rosbag2 folder), read either
through its index (:class:`robossl.data.bags.sources.RosbagsSource`) or record by record past damage (one
scanner per format: :mod:`.mcap_scan`, :mod:`.sqlite_scan`, :mod:`.ros1_scan`). :class:`BagError` is the one
error a bag raises; :func:`select_messages` is the topic and ``[start, stop)`` time filter all scanners use.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

__all__ = [
    "BagError",
    "DamagedRegion",
    "SourceConnection",
    "StorageSource",
    "select_messages",
    "storage_kind",
]

T = TypeVar("T")


class BagError(ValueError):
    """A bag cannot be read as asked; the message names the file and the problem."""

    def __init__(self, path: Path | str | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{path}: {problem}")


@dataclass(frozen=True)
class DamagedRegion:
    """A part of a storage file that could not be read."""

    start: int | None  # first byte offset of the damage in the file (None where unknown, e.g. sqlite rows)
    end: int | None  # byte offset just past the damage
    what: str  # what was lost there, e.g. "zstd chunk does not decompress"

    def __str__(self) -> str:
        where = "" if self.start is None else f"bytes {self.start}-{self.end}: "
        return where + self.what


@dataclass
class SourceConnection:
    """One topic/type pair inside one storage file."""

    topic: str  # topic name
    msgtype: str  # ROS 2 style type name, "pkg/msg/Name"
    serialization_format: str  # "cdr", "ros1", or whatever the file says
    count: int  # messages according to the file's index / scan
    msgdef_format: str  # "msg", "idl" or "none": format of msgdef
    msgdef: str  # embedded message definition text ("" when none)
    owner: Any  # the StorageSource holding it
    handle: Any  # source-specific key (rosbags Connection, channel id, topic id)

    @property
    def source_path(self) -> Path:
        """The storage file of this connection."""
        return Path(self.owner.path)


class StorageSource(Protocol):
    """One storage file."""

    path: Path
    kind: str  # "ros1", "mcap", "sqlite3", or "rosbag2" (a compressed folder)
    connections: list[SourceConnection]
    start_ns: int | None  # first log time, None when empty
    end_ns: int | None  # last log time, None when empty
    damaged: list[DamagedRegion]  # parts of the file a scan skipped (always empty for an indexed read)
    lost: int  # messages known to be lost in the damage (sqlite3 row ids missing); 0 where unknown

    def messages(
        self, conns: list[SourceConnection], start: int | None, stop: int | None
    ) -> Iterator[tuple[SourceConnection, int, bytes | memoryview]]: ...

    def close(self) -> None: ...


def storage_kind(path: Path) -> str:
    """``"ros1"``, ``"mcap"``, ``"sqlite3"`` or ``"rosbag2"`` (a folder) for a storage path.

    Raises:
        BagError: the suffix is not a bag format robossl reads.
    """
    if path.is_dir():
        return "rosbag2"  # a compressed rosbag2 folder, read through its metadata.yaml
    kinds = {".bag": "ros1", ".mcap": "mcap", ".db3": "sqlite3"}
    if path.suffix not in kinds:
        raise BagError(
            path,
            f"unknown bag format (suffix {path.suffix!r}); robossl reads ROS 1 .bag files, rosbag2 folders, "
            ".mcap and .db3 files",
        )
    return kinds[path.suffix]


def select_messages(
    conns: list[SourceConnection], start: int | None, stop: int | None, records: Iterable[tuple[Any, int, T]]
) -> Iterator[tuple[SourceConnection, int, T]]:
    """The records of the wanted connections with ``start <= stamp < stop`` (None: unbounded).

    Args:
        conns: wanted connections; records are matched on their ``handle``.
        start: first log time in ns, inclusive.
        stop: end of the time range in ns, exclusive.
        records: ``(handle, log time ns, payload)`` in file order.

    Returns:
        ``(connection, log time ns, payload)`` for every selected record, in the order given.
    """
    wanted = {c.handle: c for c in conns}
    lo = -(2**63) if start is None else start
    hi = 2**63 if stop is None else stop
    for handle, stamp, payload in records:
        if handle in wanted and lo <= stamp < hi:
            yield wanted[handle], stamp, payload
