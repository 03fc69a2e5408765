"""Storage files behind a bag: ``rosbags`` readers plus record-by-record scanners for damaged files.

A :class:`StorageSource` is one ``.bag``, ``.mcap`` or ``.db3`` file. :func:`open_storage` opens it with
``rosbags``; when that fails (truncated file, missing index or footer, broken sqlite pages) and salvage is on,
it falls back to :class:`McapScanSource` / :class:`Sqlite3ScanSource` /
:class:`robossl.data.ros1_scan.Ros1ScanSource`, which read every record up to the damage. Used by :mod:`robossl.data.bags`; not meant to be used directly.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "BagError",
    "McapScanSource",
    "RosbagsSource",
    "SourceConnection",
    "Sqlite3ScanSource",
    "StorageSource",
    "open_storage",
]


class BagError(ValueError):
    """A bag cannot be read as asked; the message names the file and the problem."""

    def __init__(self, path: Path | str | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{path}: {problem}")


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

    def messages(
        self, conns: list[SourceConnection], start: int | None, stop: int | None
    ) -> Iterator[tuple[SourceConnection, int, bytes | memoryview]]: ...

    def close(self) -> None: ...


def _kind(path: Path) -> str:
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


class RosbagsSource:
    """A storage file read by ``rosbags`` (index-based, fast)."""

    def __init__(self, path: Path) -> None:
        from rosbags.interfaces import ConnectionExtRosbag2, MessageDefinitionFormat
        from rosbags.rosbag1 import Reader as Reader1
        from rosbags.rosbag2 import Reader as Reader2

        self.path = path
        self.kind = _kind(path)
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


# ---------------------------------------------------------------------------------------------- mcap scan
_MAGIC = b"\x89MCAP0\r\n"


class _Truncated(Exception):
    pass


def _take(buf: memoryview, pos: int, size: int) -> tuple[memoryview, int]:
    if pos + size > len(buf):
        raise _Truncated(f"record needs {size} bytes at offset {pos}, only {len(buf) - pos} left")
    return buf[pos : pos + size], pos + size


def _string(buf: memoryview, pos: int) -> tuple[str, int]:
    (size,) = struct.unpack_from("<I", buf, pos)
    raw, pos = _take(buf, pos + 4, size)
    return bytes(raw).decode(), pos


class McapScanSource:
    """An mcap file read record by record from the start, up to the first damaged record.

    Needs no summary, index or footer, so it reads files cut off by a crash or a full disk. Holds only
    the channel table in memory; :meth:`messages` scans again.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kind = "mcap"
        self.data = path.read_bytes()
        self.error: str | None = None
        self.schemas: dict[int, tuple[str, str, str]] = {}  # id -> (name, encoding, definition)
        self.channels: dict[int, SourceConnection] = {}
        self.start_ns: int | None = None
        self.end_ns: int | None = None
        for record in self._records():
            if record[0] == "message":
                _, cid, stamp, _ = record
                if cid in self.channels:
                    self.channels[cid].count += 1
                self.start_ns = stamp if self.start_ns is None else min(self.start_ns, stamp)
                self.end_ns = stamp if self.end_ns is None else max(self.end_ns, stamp)
        self.connections = list(self.channels.values())

    def _records(self) -> Iterator[tuple[Any, ...]]:
        buf = memoryview(self.data)
        if bytes(buf[:8]) != _MAGIC:
            self.error = "does not start with the mcap magic bytes; not an mcap file"
            return
        try:
            yield from self._parse(buf, 8, len(buf), top=True)
        except (_Truncated, struct.error, UnicodeDecodeError, ValueError) as exc:
            self.error = (
                f"damaged at byte {exc}" if isinstance(exc, _Truncated) else f"damaged record ({exc})"
            )

    def _parse(self, buf: memoryview, pos: int, end: int, top: bool) -> Iterator[tuple[Any, ...]]:
        while pos < end:
            if pos + 9 > end:
                raise _Truncated(f"{pos}: record header cut off")
            opcode = buf[pos]
            (length,) = struct.unpack_from("<Q", buf, pos + 1)
            body_start = pos + 9
            body_end = body_start + length
            if opcode == 0x02:  # footer: end of data
                return
            if body_end > end:
                if opcode == 0x06 and top:  # a cut-off uncompressed chunk still holds whole records
                    yield from self._chunk(buf, body_start, end, partial=True)
                raise _Truncated(f"{pos}: record of {length} bytes runs past the end of the file")
            if opcode == 0x03:
                (sid,) = struct.unpack_from("<H", buf, body_start)
                name, p = _string(buf, body_start + 2)
                encoding, p = _string(buf, p)
                (size,) = struct.unpack_from("<I", buf, p)
                definition = bytes(buf[p + 4 : p + 4 + size]).decode()
                self.schemas[sid] = (name, encoding, definition)
            elif opcode == 0x04:
                self._channel(buf, body_start)
            elif opcode == 0x05:
                cid, _seq, log_time, _pub = struct.unpack_from("<HIQQ", buf, body_start)
                yield ("message", cid, log_time, buf[body_start + 22 : body_end])
            elif opcode == 0x06 and top:
                yield from self._chunk(buf, body_start, body_end, partial=False)
            pos = body_end

    def _channel(self, buf: memoryview, pos: int) -> None:
        cid, sid = struct.unpack_from("<HH", buf, pos)
        topic, p = _string(buf, pos + 4)
        encoding, p = _string(buf, p)
        if cid in self.channels:
            return
        name, schema_encoding, definition = self.schemas.get(sid, ("", "", ""))
        fmt = {"ros2msg": "msg", "ros2idl": "idl"}.get(schema_encoding, "none")
        self.channels[cid] = SourceConnection(topic, name, encoding, 0, fmt, definition, self, cid)

    def _chunk(self, buf: memoryview, pos: int, end: int, partial: bool) -> Iterator[tuple[Any, ...]]:
        _start, _end, uncompressed_size, crc = struct.unpack_from("<QQQI", buf, pos)
        compression, p = _string(buf, pos + 28)
        (size,) = struct.unpack_from("<Q", buf, p)
        p += 8
        if compression == "":
            yield from self._parse(buf, p, min(p + size, end), top=False)
            if partial:
                return
        else:
            if partial or p + size > end:
                raise _Truncated(f"{pos}: compressed chunk cut off; its messages are lost")
            from rosbags.rosbag2.storage_mcap import decompress

            inner = memoryview(decompress(bytes(buf[p : p + size]), compression, uncompressed_size, crc))
            yield from self._parse(inner, 0, len(inner), top=False)

    def messages(
        self, conns: list[SourceConnection], start: int | None, stop: int | None
    ) -> Iterator[tuple[SourceConnection, int, bytes | memoryview]]:
        wanted = {c.handle: c for c in conns}
        lo = -(2**63) if start is None else start
        hi = 2**63 if stop is None else stop
        for record in self._records():
            if record[0] == "message" and record[1] in wanted and lo <= record[2] < hi:
                yield wanted[record[1]], record[2], bytes(record[3])

    def close(self) -> None:
        self.data = b""


# ---------------------------------------------------------------------------------------------- sqlite3 scan
def _pad_truncated_sqlite(path: Path) -> Any:
    """A temporary copy of a truncated sqlite file padded with zero pages to its declared size, or None.

    SQLite refuses a file shorter than the page count in its header ("malformed") even though the pages
    before the cut are intact; with the missing pages zeroed, rows up to the cut read normally.
    """
    import tempfile

    data = path.read_bytes()
    if len(data) < 100 or not data.startswith(b"SQLite format 3\0"):
        raise BagError(path, "is not an sqlite3 database (bad header); nothing can be recovered")
    page_size = int.from_bytes(data[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(data[28:32], "big")
    if len(data) >= page_size * pages:
        return None
    padded = tempfile.NamedTemporaryFile(prefix="robossl_salvage_", suffix=".db3")  # noqa: SIM115
    padded.write(data + bytes(page_size * pages - len(data)))
    padded.flush()
    return padded


class Sqlite3ScanSource:
    """A rosbag2 sqlite3 file read row by row in insertion order, up to the first unreadable page."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kind = "sqlite3"
        self._padded = _pad_truncated_sqlite(path)
        target = self._padded.name if self._padded is not None else str(path)
        self.db = sqlite3.connect(f"file:{target}?mode=ro&immutable=1", uri=True)
        try:
            rows = self.db.execute("SELECT id, name, type, serialization_format FROM topics").fetchall()
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise BagError(path, f"topics table unreadable ({exc}); nothing can be recovered") from exc
        definitions: dict[str, tuple[str, str]] = {}
        try:
            for typ, enc, text in self.db.execute(
                "SELECT topic_type, encoding, encoded_message_definition FROM message_definitions"
            ):
                definitions[typ] = ({"ros2msg": "msg", "ros2idl": "idl"}.get(enc, "none"), text)
        except sqlite3.DatabaseError:
            pass  # older bags have no definitions table; the type store supplies standard types
        self.by_id = {}
        for tid, name, typ, fmt in rows:
            dfmt, text = definitions.get(typ, ("none", ""))
            self.by_id[tid] = SourceConnection(name, typ, fmt, 0, dfmt, text, self, tid)
        self.connections = list(self.by_id.values())
        self.start_ns: int | None = None
        self.end_ns: int | None = None
        self.error: str | None = None
        for tid, stamp, _ in self._rows():
            if tid in self.by_id:
                self.by_id[tid].count += 1
            self.start_ns = stamp if self.start_ns is None else min(self.start_ns, stamp)
            self.end_ns = stamp if self.end_ns is None else max(self.end_ns, stamp)

    def _rows(self) -> Iterator[tuple[int, int, bytes]]:
        cursor = self.db.execute("SELECT topic_id, timestamp, data FROM messages ORDER BY id")
        try:
            for tid, stamp, data in cursor:
                if not isinstance(stamp, int) or not isinstance(data, bytes):
                    self.error = f"corrupted row (timestamp {stamp!r})"
                    return
                yield tid, stamp, data
        except sqlite3.DatabaseError as exc:
            self.error = f"unreadable after some rows ({exc})"

    def messages(
        self, conns: list[SourceConnection], start: int | None, stop: int | None
    ) -> Iterator[tuple[SourceConnection, int, bytes | memoryview]]:
        wanted = {c.handle: c for c in conns}
        lo = -(2**63) if start is None else start
        hi = 2**63 if stop is None else stop
        for tid, stamp, data in self._rows():
            if tid in wanted and lo <= stamp < hi:
                yield wanted[tid], stamp, data

    def close(self) -> None:
        self.db.close()
        if self._padded is not None:
            self._padded.close()


def open_storage(path: Path, salvage: bool) -> tuple[StorageSource | None, str | None]:
    """Open one storage file.

    Returns:
        ``(source, problem)``: the source (None when nothing is readable) and a description of any damage.

    Raises:
        BagError: unknown format, or any damage when ``salvage`` is False.
    """
    kind = _kind(path)
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
                "(the CLI default; --strict turns it off) to recover the messages before the damage",
            ) from exc
    scanner: Any
    try:
        if kind == "ros1":
            from robossl.data.ros1_scan import Ros1ScanSource

            scanner = Ros1ScanSource(path)
        else:
            scanner = McapScanSource(path) if kind == "mcap" else Sqlite3ScanSource(path)
    except (BagError, sqlite3.DatabaseError, OSError) as exc:
        return None, f"{path}: cannot be opened ({reason}) and scanning failed too ({exc})"
    recovered = sum(c.count for c in scanner.connections)
    damage = f"; scan stopped: {scanner.error}" if scanner.error else ""
    problem = (
        f"{path}: index unreadable ({reason}){damage}. Recovered {recovered} message(s) by scanning "
        "the file; messages after the damage are lost"
    )
    return scanner, problem
