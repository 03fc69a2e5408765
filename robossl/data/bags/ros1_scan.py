"""A ROS 1 bag (format 2.0) read record by record, resynchronising after damaged bytes.

``rosbags`` needs the index at the end of a ROS 1 bag and stops at the first chunk it cannot read. This
scanner walks the records (bag header, connections, chunks, messages) in file order, like
``rosbag reindex`` does. Where a record does not parse (overwritten or missing bytes) it searches forward
for the next well-formed record and goes on from there; a compressed chunk that does not decompress is
skipped as a whole. Every skipped byte range is kept in :attr:`Ros1ScanSource.damaged`. Used by
:func:`robossl.data.bags.sources.open_scanner` when salvage is on.

Record layout (http://wiki.ros.org/Bags/Format/2.0): ``header_len u32, header, data_len u32, data``; the
header is a sequence of ``field_len u32, name=value`` fields with ``op`` giving the record type. A record
counts as well-formed only when its fields tile the header exactly and it has every field its type requires,
with the right sizes; random or zeroed bytes practically never pass.
"""

from __future__ import annotations

import bz2
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from robossl.data.bags.record_walk import Message, RecordWalker
from robossl.data.bags.storage import DamagedRegion, SourceConnection, select_messages

__all__ = ["Ros1ScanSource"]

_MAGIC = b"#ROSBAG V2.0\n"
OP_MESSAGE, OP_BAG_HEADER, OP_INDEX_DATA, OP_CHUNK, OP_CHUNK_INFO, OP_CONNECTION = 2, 3, 4, 5, 6, 7
# fields each record type must have, with their sizes in bytes (None: any size)
_REQUIRED: dict[int, dict[str, int | None]] = {
    OP_MESSAGE: {"conn": 4, "time": 8},
    OP_BAG_HEADER: {"index_pos": 8, "conn_count": 4, "chunk_count": 4},
    OP_INDEX_DATA: {"ver": 4, "conn": 4, "count": 4},
    OP_CHUNK: {"compression": None, "size": 4},
    OP_CHUNK_INFO: {"ver": 4, "chunk_pos": 8, "start_time": 8, "end_time": 8, "count": 4},
    OP_CONNECTION: {"conn": 4, "topic": None},
}
_MAX_HEADER = 1 << 16  # record headers are tens of bytes; anything longer is damage
_OP_SEARCH_BACK = 256  # how far before an "op=" field a record header may start


class _Cut(Exception):
    pass


def _fields(raw: bytes | memoryview) -> dict[str, bytes]:
    fields: dict[str, bytes] = {}
    pos = 0
    while pos + 4 <= len(raw):
        (size,) = struct.unpack_from("<I", raw, pos)
        if pos + 4 + size > len(raw):
            raise _Cut("header field runs past its record")
        name, sep, value = bytes(raw[pos + 4 : pos + 4 + size]).partition(b"=")
        if not sep:
            raise _Cut("header field without '='")
        fields[name.decode("latin-1")] = value
        pos += 4 + size
    if pos != len(raw):
        raise _Cut("header fields do not fill the header")
    return fields


def _record(data: bytes, pos: int, end: int) -> tuple[dict[str, bytes], int, int] | None:
    """``(fields, data start, data end)`` of a well-formed record at ``pos``, None when there is none."""
    if pos + 8 > end:
        return None
    (header_len,) = struct.unpack_from("<I", data, pos)
    if not 0 < header_len <= _MAX_HEADER or pos + 8 + header_len > end:
        return None
    try:
        fields = _fields(memoryview(data)[pos + 4 : pos + 4 + header_len])
    except _Cut:
        return None
    op = fields.get("op", b"")
    if len(op) != 1 or op[0] not in _REQUIRED:
        return None
    for name, size in _REQUIRED[op[0]].items():
        value = fields.get(name)
        if value is None or (size is not None and len(value) != size):
            return None
    (data_len,) = struct.unpack_from("<I", data, pos + 4 + header_len)
    start = pos + 8 + header_len
    if start + data_len > end:
        return None
    return fields, start, start + data_len


def _resync(data: bytes, start: int, end: int) -> int | None:
    """Offset of the first well-formed record at or after ``start`` (before ``end``), or None."""
    found = data.find(b"op=", start, end)
    while found >= 0:
        for pos in range(max(start, found - _OP_SEARCH_BACK), found - 7):
            (header_len,) = struct.unpack_from("<I", data, pos)
            if pos + 4 + header_len >= found + 4 and _record(data, pos, end) is not None:
                return pos
        found = data.find(b"op=", found + 1, end)
    return None


def _runs_past_end(data: bytes, pos: int, end: int) -> bool:
    """Whether the record at ``pos`` is cut off by ``end`` (a truncated file) rather than overwritten."""
    if pos + 4 > end:
        return True
    (header_len,) = struct.unpack_from("<I", data, pos)
    if not 0 < header_len <= _MAX_HEADER:
        return False
    if pos + 8 + header_len > end:
        return True
    (data_len,) = struct.unpack_from("<I", data, pos + 4 + header_len)
    return pos + 8 + header_len + data_len > end


def _msgtype(name: str) -> str:
    package, _, message = name.partition("/")
    return f"{package}/msg/{message}" if "/msg/" not in name else name


def _topic(name: str) -> str:
    return ("/" if name.startswith("/") else "") + "/".join(part for part in name.split("/") if part)


def _decompress(compression: str, data: bytes) -> bytes:
    if compression == "bz2":
        return bz2.decompress(data)
    if compression == "lz4":
        from lz4.frame import decompress  # rosbags depends on lz4

        return bytes(decompress(data))
    raise ValueError(f"unknown chunk compression {compression!r}")


class Ros1ScanSource(RecordWalker):
    """Readable messages of a damaged ROS 1 bag (chunks compressed with none, bz2 or lz4).

    Attributes:
        damaged: byte ranges of the file that could not be read (empty for an intact bag).
    """

    MAGIC = _MAGIC
    NOT_A_FILE = "does not start with '#ROSBAG V2.0' and holds no ROS 1 record; not a ROS 1 bag"
    HEADER_LOST = "file magic and bag header unreadable"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kind = "ros1"
        self.data = path.read_bytes()
        self.by_conn: dict[int, SourceConnection] = {}
        self.damaged: list[DamagedRegion] = []
        self.start_ns: int | None = None
        self.end_ns: int | None = None
        self._chunk_count: int | None = None  # chunks the bag header announces
        self._listed: dict[int, int] = {}  # chunk position -> messages its chunk info record lists
        counts: dict[int, int] = {}
        for conn_id, stamp, _ in self._messages(self.damaged):
            counts[conn_id] = counts.get(conn_id, 0) + 1
            self.start_ns = stamp if self.start_ns is None else min(self.start_ns, stamp)
            self.end_ns = stamp if self.end_ns is None else max(self.end_ns, stamp)
        # messages lost, when the index at the end survived to say how many there were (else 0: unknown)
        complete = self._chunk_count is not None and len(self._listed) == self._chunk_count
        self.lost = max(0, sum(self._listed.values()) - sum(counts.values())) if complete else 0
        for conn_id, count in counts.items():
            if conn_id in self.by_conn:  # messages whose connection record was lost cannot be typed
                self.by_conn[conn_id].count = count
        self.connections = list(self.by_conn.values())

    def _read(self, data: bytes, pos: int, end: int) -> tuple[dict[str, bytes], int, int] | None:
        return _record(data, pos, end)

    def _resync(self, data: bytes, start: int, end: int) -> int | None:
        return _resync(data, start, end)

    def _runs_past_end(self, data: bytes, pos: int, end: int) -> bool:
        return _runs_past_end(data, pos, end)

    def _handle(
        self,
        record: tuple[dict[str, bytes], int, int],
        data: bytes,
        pos: int,
        chunk: tuple[int, int] | None,
        damaged: list[DamagedRegion],
    ) -> tuple[Message | None, Iterable[Message], bool]:
        fields, start, stop = record
        op = fields["op"][0]
        if op == OP_CHUNK and chunk is None:
            return None, self._chunk(fields, data, pos, start, stop, damaged), False
        if op == OP_CONNECTION:
            self._connection(fields, data[start:stop], chunk or (pos, stop), damaged)
        elif op == OP_BAG_HEADER:
            self._chunk_count = struct.unpack("<I", fields["chunk_count"])[0]
        elif op == OP_CHUNK_INFO:
            pairs = data[start:stop]
            listed = sum(struct.unpack_from("<I", pairs, i + 4)[0] for i in range(0, len(pairs) - 7, 8))
            self._listed[struct.unpack("<Q", fields["chunk_pos"])[0]] = listed
        elif op == OP_MESSAGE:
            conn_id = struct.unpack("<I", fields["conn"])[0]
            sec, nsec = struct.unpack("<II", fields["time"])
            return (conn_id, sec * 1_000_000_000 + nsec, bytes(data[start:stop])), (), False
        return None, (), False

    def _chunk(
        self,
        fields: dict[str, bytes],
        data: bytes,
        pos: int,
        start: int,
        stop: int,
        damaged: list[DamagedRegion],
    ) -> Iterator[Message]:
        compression = fields["compression"].decode("latin-1")
        if compression == "none":
            messages = list(self._walk(data, start, stop, None, damaged))
        else:
            try:
                inner = _decompress(compression, data[start:stop])
            except (
                OSError,
                EOFError,
                ValueError,
                RuntimeError,
            ) as exc:  # bz2 OSError / EOFError, lz4 RuntimeError
                damaged.append(DamagedRegion(pos, stop, f"{compression} chunk does not decompress ({exc})"))
                return
            inside: list[DamagedRegion] = []
            messages = list(self._walk(inner, 0, len(inner), (pos, stop), inside))
            if inside:  # damaged compressed bytes that still decompress give garbage: trust none of it
                damaged.append(
                    DamagedRegion(pos, stop, f"{compression} chunk decompresses to damaged records")
                )
                return
        # time order inside a chunk, as the bag's index would give it
        messages.sort(key=lambda message: message[1])
        yield from messages

    def _connection(
        self, fields: dict[str, bytes], data: bytes, where: tuple[int, int], damaged: list[DamagedRegion]
    ) -> None:
        conn_id = struct.unpack("<I", fields["conn"])[0]
        if conn_id in self.by_conn:
            return
        try:
            info = _fields(data)
            msgtype = _msgtype(info["type"].decode())
            definition = info.get("message_definition", b"").decode()
            topic = _topic(fields["topic"].decode())
        except (_Cut, KeyError, UnicodeDecodeError) as exc:
            damaged.append(
                DamagedRegion(where[0], where[1], f"connection record {conn_id} unreadable ({exc})")
            )
            return
        self.by_conn[conn_id] = SourceConnection(topic, msgtype, "ros1", 0, "msg", definition, self, conn_id)

    def messages(
        self, conns: list[SourceConnection], start: int | None, stop: int | None
    ) -> Iterator[tuple[SourceConnection, int, Any]]:
        return select_messages(conns, start, stop, self._messages([]))

    def close(self) -> None:
        self.data = b""
