"""Storage files behind a bag: ``rosbags`` readers plus record-by-record scanners for damaged files.

A :class:`StorageSource` is one ``.bag``, ``.mcap`` or ``.db3`` file. :func:`open_storage` opens it with
``rosbags``; when that fails (truncated file, missing index or footer, broken sqlite pages) and salvage is on,
it falls back to a scanner (:func:`open_scanner`): :class:`McapScanSource`, :class:`Sqlite3ScanSource` or
:class:`robossl.data.ros1_scan.Ros1ScanSource`. The scanners read the whole file and step over damage:
mcap and ROS 1 resynchronise at the next well-formed record (a compressed chunk that does not decompress
is lost as a whole), sqlite3 reads every intact table page. What they skipped is in their ``damaged`` list.
:class:`robossl.data.bags.BagReader` also switches to a scanner when an indexed read fails half-way.
Used by :mod:`robossl.data.bags`; not meant to be used directly.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "BagError",
    "DamagedRegion",
    "McapScanSource",
    "RosbagsSource",
    "SourceConnection",
    "Sqlite3ScanSource",
    "StorageSource",
    "describe_damage",
    "open_scanner",
    "open_storage",
]


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


class _IndexMismatch(Exception):
    """The parts of a file's index disagree with each other."""


class RosbagsSource:
    """A storage file read by ``rosbags`` (index-based, fast)."""

    def __init__(self, path: Path) -> None:
        from rosbags.interfaces import ConnectionExtRosbag2, MessageDefinitionFormat
        from rosbags.rosbag1 import Reader as Reader1
        from rosbags.rosbag2 import Reader as Reader2

        self.path = path
        self.kind = _kind(path)
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


# ---------------------------------------------------------------------------------------------- mcap scan
_MAGIC = b"\x89MCAP0\r\n"
OP_HEADER, OP_FOOTER, OP_SCHEMA, OP_CHANNEL, OP_MESSAGE, OP_CHUNK, OP_MESSAGE_INDEX = 1, 2, 3, 4, 5, 6, 7
OP_STATISTICS, OP_DATA_END = 0x0B, 0x0F
# records a resynchronisation may land on: their layout is checked field by field
_RESYNC_AT = re.compile(rb"[\x03\x04\x05\x06\x07\x0f]")
_COMPRESSIONS = ("", "zstd", "lz4")

Message = tuple[int, int, bytes]  # channel id, log time ns, raw CDR bytes


class _Malformed(Exception):
    pass


def _string(data: bytes, pos: int, end: int) -> tuple[str, int]:
    if pos + 4 > end:
        raise _Malformed("string length cut off")
    (size,) = struct.unpack_from("<I", data, pos)
    if pos + 4 + size > end:
        raise _Malformed("string runs past its record")
    try:
        return data[pos + 4 : pos + 4 + size].decode(), pos + 4 + size
    except UnicodeDecodeError as exc:
        raise _Malformed("string is not UTF-8") from exc


def _sized(data: bytes, pos: int, end: int, width: str = "<I") -> int:
    """Offset just past a length-prefixed byte block at ``pos``."""
    if pos + struct.calcsize(width) > end:
        raise _Malformed("length cut off")
    (size,) = struct.unpack_from(width, data, pos)
    return pos + struct.calcsize(width) + size


def _check_body(data: bytes, opcode: int, start: int, stop: int) -> None:
    """Raise _Malformed unless the record body ``data[start:stop]`` has its opcode's layout."""
    length = stop - start
    if opcode == OP_SCHEMA:
        _, pos = _string(data, start + 2, stop)
        _, pos = _string(data, pos, stop)
        tiled = _sized(data, pos, stop) == stop
    elif opcode == OP_CHANNEL:
        _, pos = _string(data, start + 4, stop)
        _, pos = _string(data, pos, stop)
        tiled = _sized(data, pos, stop) == stop
    elif opcode == OP_MESSAGE:
        tiled = length >= 22
    elif opcode == OP_CHUNK:
        if length < 40:
            raise _Malformed("chunk header cut off")
        compression, pos = _string(data, start + 28, stop)
        tiled = compression in _COMPRESSIONS and _sized(data, pos, stop, "<Q") == stop
    elif opcode == OP_MESSAGE_INDEX:
        tiled = length >= 6 and _sized(data, start + 2, stop) == stop and (length - 6) % 16 == 0
    elif opcode == OP_DATA_END:
        tiled = length == 4
    elif opcode == OP_FOOTER:
        tiled = length == 20
    elif opcode == OP_HEADER:
        _, pos = _string(data, start, stop)
        _, pos = _string(data, pos, stop)
        tiled = pos == stop
    else:
        tiled = True  # summary records (indexes, statistics, metadata): only their length is checked
    if not tiled:
        raise _Malformed(f"record 0x{opcode:02x} does not have its layout")


def _record(data: bytes, pos: int, end: int, strict: bool) -> tuple[int, int, int] | None:
    """``(opcode, body start, body end)`` of a well-formed record at ``pos``, None when there is none.

    ``strict`` (used when searching for the next record after damage) accepts only the record types whose
    layout can be checked, and a message only when a plausible record or the end follows it.
    """
    if pos + 9 > end:
        return None
    opcode = data[pos]
    (length,) = struct.unpack_from("<Q", data, pos + 1)
    start, stop = pos + 9, pos + 9 + length
    if not 1 <= opcode <= 0x0F or stop > end:
        return None
    if strict and _RESYNC_AT.fullmatch(data, pos, pos + 1) is None:
        return None
    try:
        _check_body(data, opcode, start, stop)
    except (_Malformed, struct.error):
        return None
    if strict and opcode == OP_MESSAGE and stop != end:
        if stop + 9 > end or not 1 <= data[stop] <= 0x0F:
            return None
        if stop + 9 + struct.unpack_from("<Q", data, stop + 1)[0] > end:
            return None
    return opcode, start, stop


def _resync(data: bytes, start: int, end: int) -> int | None:
    """Offset of the first well-formed record at or after ``start`` (before ``end``), or None."""
    found = _RESYNC_AT.search(data, start, end)
    while found is not None:
        if _record(data, found.start(), end, strict=True) is not None:
            return found.start()
        found = _RESYNC_AT.search(data, found.start() + 1, end)
    return None


def _decompress_prefix(compression: str, data: bytes) -> bytes:
    """As much of a cut-off compressed chunk as decompresses (whole zstd / lz4 blocks), b"" if nothing."""
    try:
        if compression == "zstd":
            try:
                from compression import zstd  # type: ignore[import-not-found]  # Python >= 3.14
            except ImportError:
                from backports import zstd  # type: ignore[no-redef]  # rosbags depends on it before 3.14
            return bytes(zstd.ZstdDecompressor().decompress(data))
        from lz4.frame import LZ4FrameDecompressor  # type: ignore[import-untyped]

        return bytes(LZ4FrameDecompressor().decompress(data))
    except Exception:  # noqa: BLE001  zstd.ZstdError, lz4 RuntimeError: garbage where a frame should start
        return b""


class McapScanSource:
    """An mcap file read record by record, resynchronising at the next well-formed record after damage.

    Needs no summary, index or footer, so it reads files cut off by a crash or a full disk. A compressed
    chunk that does not decompress (or fails its checksum) is lost as a whole; a chunk cut off by the end
    of the file gives the messages of its first, complete compression blocks. Holds the channel table in
    memory; :meth:`messages` scans again.

    Attributes:
        damaged: byte ranges of the file that could not be read (empty for an intact file).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kind = "mcap"
        self.data = path.read_bytes()
        self.damaged: list[DamagedRegion] = []
        self._statistics_count: int | None = None  # messages the summary's statistics record lists
        self.schemas: dict[int, tuple[str, str, str]] = {}  # id -> (name, encoding, definition)
        self.channel_info: dict[int, tuple[str, str, int]] = {}  # id -> (topic, encoding, schema id)
        self.start_ns: int | None = None
        self.end_ns: int | None = None
        counts: dict[int, int] = {}
        for cid, stamp, _ in self._messages(self.damaged):
            counts[cid] = counts.get(cid, 0) + 1
            self.start_ns = stamp if self.start_ns is None else min(self.start_ns, stamp)
            self.end_ns = stamp if self.end_ns is None else max(self.end_ns, stamp)
        # messages lost, when the summary survived to say how many there were (else 0: unknown)
        self.lost = max(0, (self._statistics_count or 0) - sum(counts.values()))
        self.channels: dict[int, SourceConnection] = {}
        for cid, (topic, encoding, sid) in self.channel_info.items():
            name, schema_encoding, definition = self.schemas.get(sid, ("", "", ""))
            fmt = {"ros2msg": "msg", "ros2idl": "idl"}.get(schema_encoding, "none")
            count = counts.get(cid, 0)
            self.channels[cid] = SourceConnection(topic, name, encoding, count, fmt, definition, self, cid)
        self.connections = list(self.channels.values())

    def _messages(self, damaged: list[DamagedRegion]) -> Iterator[Message]:
        start = len(_MAGIC)
        if not self.data.startswith(_MAGIC):
            first = _resync(self.data, 0, len(self.data))
            if first is None:
                raise BagError(self.path, "does not start with the mcap magic bytes and holds no mcap record")
            damaged.append(DamagedRegion(0, first, "file magic and header unreadable"))
            start = first
        yield from self._walk(self.data, start, len(self.data), None, damaged)

    def _walk(
        self, data: bytes, pos: int, end: int, chunk: tuple[int, int] | None, damaged: list[DamagedRegion]
    ) -> Iterator[Message]:
        """Messages of the records in ``data[pos:end]``.

        ``chunk`` is the file range of the compressed chunk ``data`` was unpacked from (None: ``data`` is
        the file). The message just before overwritten bytes is dropped too: an uncompressed chunk written
        without a checksum cannot tell whether the damage began inside it.
        """
        pending: Message | None = None
        while pos < end:
            record = _record(data, pos, end, strict=False)
            if record is None:
                if chunk is None:
                    cut = self._cut_chunk(pos, end, damaged)
                    if cut is not None:
                        if pending is not None:
                            yield pending
                            pending = None
                        messages, resume = cut
                        yield from messages
                        if resume is None:
                            break
                        pos = resume
                        continue
                resume = _resync(data, pos + 1, end)
                # truncation (keep the message before) only at the end of the file, with a length that is
                # not garbage; elsewhere, unreadable bytes are overwritten ones
                at_file_end = data is self.data and end == len(data) and resume is None
                cut_off = at_file_end and (pos + 9 > end or _length(data, pos) < 2**32)
                if not cut_off:
                    pending = None  # overwritten bytes, which may have begun inside the pending message
                what = (
                    "records unreadable" if resume is not None else "records cut off or unreadable to the end"
                )
                stop = end if resume is None else resume
                region = (pos, stop) if chunk is None else chunk
                damaged.append(DamagedRegion(*region, what if chunk is None else f"inside the chunk: {what}"))
                if resume is None:
                    break
                pos = resume
                continue
            if pending is not None:
                yield pending
                pending = None
            opcode, start, stop = record
            if opcode == OP_FOOTER:
                break
            if opcode == OP_SCHEMA:
                self._schema(data, start, stop)
            elif opcode == OP_CHANNEL:
                self._channel(data, start, stop)
            elif opcode == OP_MESSAGE:
                cid, _seq, log_time, _pub = struct.unpack_from("<HIQQ", data, start)
                pending = (cid, log_time, data[start + 22 : stop])
            elif opcode == OP_CHUNK and chunk is None:
                yield from self._chunk(pos, start, stop, damaged)
            elif opcode == OP_STATISTICS and stop - start >= 8:
                self._statistics_count = struct.unpack_from("<Q", data, start)[0]
            pos = stop
        if pending is not None:
            yield pending

    def _schema(self, data: bytes, start: int, stop: int) -> None:
        (sid,) = struct.unpack_from("<H", data, start)
        name, pos = _string(data, start + 2, stop)
        encoding, pos = _string(data, pos, stop)
        definition = data[pos + 4 : stop].decode(errors="replace")
        self.schemas.setdefault(sid, (name, encoding, definition))

    def _channel(self, data: bytes, start: int, stop: int) -> None:
        cid, sid = struct.unpack_from("<HH", data, start)
        topic, pos = _string(data, start + 4, stop)
        encoding, _ = _string(data, pos, stop)
        self.channel_info.setdefault(cid, (topic, encoding, sid))

    def _chunk(self, pos: int, start: int, stop: int, damaged: list[DamagedRegion]) -> Iterator[Message]:
        data = self.data
        first_ns, last_ns, uncompressed_size, crc = struct.unpack_from("<QQQI", data, start)
        compression, records = _string(data, start + 28, stop)
        records += 8
        if compression == "":
            if crc and zlib.crc32(data[records:stop]) != crc:
                damaged.append(
                    DamagedRegion(
                        pos, stop, "uncompressed chunk fails its checksum; its readable records are kept"
                    )
                )
            messages = list(self._walk(data, records, stop, None, damaged))
        else:
            from rosbags.rosbag2.storage_mcap import decompress

            try:
                inner = decompress(data[records:stop], compression, uncompressed_size, crc)
            except Exception as exc:  # noqa: BLE001  rosbags ReaderError, zstd / lz4 errors on damaged bytes
                damaged.append(DamagedRegion(pos, stop, f"{compression} chunk does not decompress ({exc})"))
                return
            inside: list[DamagedRegion] = []
            messages = list(self._walk(inner, 0, len(inner), (pos, stop), inside))
            if inside or any(not first_ns <= m[1] <= last_ns for m in messages):
                # damaged compressed bytes can decompress to plausible garbage (no checksum was written):
                # nothing from such a chunk can be trusted
                damaged.append(
                    DamagedRegion(pos, stop, f"{compression} chunk decompresses to damaged records")
                )
                return
        outside = [m for m in messages if not first_ns <= m[1] <= last_ns]
        if outside:
            damaged.append(
                DamagedRegion(pos, stop, f"{len(outside)} message(s) outside the chunk's time range dropped")
            )
            messages = [m for m in messages if first_ns <= m[1] <= last_ns]
        messages.sort(key=lambda message: message[1])  # time order inside a chunk, as its index gives it
        yield from messages

    def _cut_chunk(
        self, pos: int, end: int, damaged: list[DamagedRegion]
    ) -> tuple[list[Message], int | None] | None:
        """Messages of a chunk that runs past the end of the file, and where to go on (None: the end).

        None when ``pos`` does not hold such a chunk.
        """
        data = self.data
        if pos + 9 + 40 > end or data[pos] != OP_CHUNK or pos + 9 + _length(data, pos) <= end:
            return None
        try:
            compression, records = _string(data, pos + 9 + 28, end)
        except _Malformed:
            return None
        if compression not in _COMPRESSIONS or records + 8 > end:
            return None
        records += 8
        scratch: list[DamagedRegion] = []  # the one region below describes the cut
        if compression == "":
            messages = list(self._walk(data, records, end, None, scratch))
            resume = None
        else:
            inner = _decompress_prefix(compression, data[records:end])
            messages = list(self._walk(inner, 0, len(inner), (pos, end), scratch))
            resume = _resync(data, pos + 1, end)  # a chunk length overwritten, rather than a cut file?
        messages.sort(key=lambda message: message[1])
        what = (
            f"{compression or 'uncompressed'} chunk runs past the end of the file (cut off); "
            f"{len(messages)} message(s) read from its first bytes"
        )
        damaged.append(DamagedRegion(pos, end if resume is None else resume, what))
        return messages, resume

    def messages(
        self, conns: list[SourceConnection], start: int | None, stop: int | None
    ) -> Iterator[tuple[SourceConnection, int, bytes | memoryview]]:
        wanted = {c.handle: c for c in conns}
        lo = -(2**63) if start is None else start
        hi = 2**63 if stop is None else stop
        for cid, stamp, raw in self._messages([]):
            if cid in wanted and lo <= stamp < hi:
                yield wanted[cid], stamp, raw

    def close(self) -> None:
        self.data = b""


def _length(data: bytes, pos: int) -> int:
    return int(struct.unpack_from("<Q", data, pos + 1)[0]) if pos + 9 <= len(data) else 0


# ---------------------------------------------------------------------------------------------- sqlite3 scan
class Sqlite3ScanSource:
    """A rosbag2 sqlite3 file read page by page: every row of ``messages`` on an intact page.

    SQLite refuses files cut short and stops at the first malformed page; this reads the B-tree leaf pages
    directly (:mod:`robossl.data.sqlite_pages`). ``topics`` (and ``message_definitions``) are found through
    the schema on page 1; message rows are recognised by their shape, so rows whose B-tree parents were
    lost are still found. Row ids are consecutive in a rosbag2 file, so missing ids count lost messages.

    Attributes:
        damaged: the runs of missing rows, and the part of the file that is cut off.
        lost: messages whose rows are missing between the first and the last row read.
    """

    def __init__(self, path: Path) -> None:
        from robossl.data.sqlite_pages import SqlitePages

        self.path = path
        self.kind = "sqlite3"
        try:
            self.pages = SqlitePages(path.read_bytes())
        except ValueError as exc:
            raise BagError(path, f"{exc}; nothing can be recovered") from exc
        tables = self.pages.tables()
        if "topics" not in tables:
            raise BagError(
                path,
                "the topics table cannot be found (the schema on page 1 is damaged); nothing can be recovered",
            )
        definitions: dict[str, tuple[str, str]] = {}
        for _, values in self.pages.tree_rows(tables.get("message_definitions", 0)):
            if len(values) >= 4 and all(isinstance(v, str) for v in values[1:4]):
                definitions[values[1]] = (
                    {"ros2msg": "msg", "ros2idl": "idl"}.get(values[2], "none"),
                    values[3],
                )
        self.by_id: dict[int, SourceConnection] = {}
        for rowid, values in self.pages.tree_rows(tables["topics"]):
            if len(values) >= 4 and all(isinstance(v, str) for v in values[1:4]):
                dfmt, text = definitions.get(values[2], ("none", ""))
                self.by_id[rowid] = SourceConnection(
                    values[1], values[2], values[3], 0, dfmt, text, self, rowid
                )
        if not self.by_id:
            raise BagError(path, "the topics table is unreadable; nothing can be recovered")
        self.connections = list(self.by_id.values())
        self.rows = self._locate_rows()  # (timestamp, rowid, topic id, page, cell offset), in time order
        for _, _, tid, _, _ in self.rows:
            if tid in self.by_id:
                self.by_id[tid].count += 1
        self.start_ns = self.rows[0][0] if self.rows else None
        self.end_ns = max(row[0] for row in self.rows) if self.rows else None
        self.damaged, self.lost = self._damage()

    def _locate_rows(self) -> list[tuple[int, int, int, int, int]]:
        rows: dict[int, tuple[int, int, int, int, int]] = {}
        for number in self.pages.leaf_pages():
            for offset, rowid, values in self.pages.intact_cells(number):
                if (
                    len(values) == 4
                    and isinstance(values[1], int)
                    and isinstance(values[2], int)
                    and isinstance(values[3], bytes)
                ):
                    rows.setdefault(rowid, (values[2], rowid, values[1], number, offset))
        return sorted(rows.values())

    def _damage(self) -> tuple[list[DamagedRegion], int]:
        """Damaged pages (or, where none is seen, runs of missing rows), a cut-off end, and lost rows."""
        size, page_size = len(self.pages.data), self.pages.page_size
        damaged = []
        for first, last in _runs(self.pages.damaged_pages()):
            what = f"page(s) {first}-{last} zeroed or overwritten"
            damaged.append(DamagedRegion((first - 1) * page_size, last * page_size, what))
        gaps, lost, previous = [], 0, 0
        for rowid in sorted(row[1] for row in self.rows):
            if rowid > previous + 1:
                gaps.append(DamagedRegion(None, None, f"message rows {previous + 1}-{rowid - 1} unreadable"))
                lost += rowid - previous - 1
            previous = rowid
        damaged += gaps if not damaged else []
        declared = self.pages.declared_pages * page_size
        if size < declared or size % page_size:
            what = f"file cut off at byte {size}: rows after message row {previous} lost"
            damaged.append(DamagedRegion(size, max(size, declared), what))
        listed = self._listed_by_sqlite()
        if listed is not None:
            lost = max(lost, listed - len(self.rows))
        return damaged, lost

    def _listed_by_sqlite(self) -> int | None:
        """Rows of ``messages`` by SQLite's own count (its index B-tree may survive), None if it fails."""
        import sqlite3
        from contextlib import closing

        try:
            uri = self.path.resolve().as_uri() + "?mode=ro&immutable=1"
            with closing(sqlite3.connect(uri, uri=True)) as db:
                return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])
        except sqlite3.Error:
            return None

    def messages(
        self, conns: list[SourceConnection], start: int | None, stop: int | None
    ) -> Iterator[tuple[SourceConnection, int, bytes | memoryview]]:
        wanted = {c.handle: c for c in conns}
        lo = -(2**63) if start is None else start
        hi = 2**63 if stop is None else stop
        for stamp, _, tid, number, offset in self.rows:
            if tid in wanted and lo <= stamp < hi:
                _, values = self.pages.cell(number, offset)
                yield wanted[tid], stamp, values[3]

    def close(self) -> None:
        self.pages.data = b""


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs ``(first, last)`` of sorted integers."""
    runs: list[tuple[int, int]] = []
    for number in numbers:
        if runs and number == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    return runs


def open_scanner(path: Path) -> StorageSource:
    """The record / page scanner for a storage file (reads damaged files; slower than the index).

    Raises:
        BagError: nothing in the file can be read.
    """
    kind = _kind(path)
    try:
        if kind == "ros1":
            from robossl.data.ros1_scan import Ros1ScanSource

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
