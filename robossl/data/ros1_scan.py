"""A ROS 1 bag (format 2.0) read record by record from the start, up to the first damaged record.

``rosbags`` needs the index at the end of a ROS 1 bag; a bag cut off by a crash or a full disk has none.
This scanner walks the records (bag header, connections, chunks, messages) in file order, like
``rosbag reindex`` does, and stops at the first record that does not fit. Used by
:mod:`robossl.data.bag_sources` when salvage is on.

Record layout (http://wiki.ros.org/Bags/Format/2.0): ``header_len u32, header, data_len u32, data``; the
header is a sequence of ``field_len u32, name=value`` fields with ``op`` giving the record type.
"""

from __future__ import annotations

import bz2
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from robossl.data.bag_sources import BagError, SourceConnection

__all__ = ["Ros1ScanSource"]

_MAGIC = b"#ROSBAG V2.0\n"
OP_MESSAGE, OP_BAG_HEADER, OP_CHUNK, OP_CONNECTION = 0x02, 0x03, 0x05, 0x07


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
        fields[name.decode()] = value
        pos += 4 + size
    return fields


def _msgtype(name: str) -> str:
    package, _, message = name.partition("/")
    return f"{package}/msg/{message}" if "/msg/" not in name else name


def _topic(name: str) -> str:
    return ("/" if name.startswith("/") else "") + "/".join(part for part in name.split("/") if part)


class Ros1ScanSource:
    """Readable messages of a damaged ROS 1 bag (chunks compressed with none, bz2 or lz4)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kind = "ros1"
        self.data = path.read_bytes()
        if not self.data.startswith(_MAGIC):
            raise BagError(path, "does not start with '#ROSBAG V2.0'; not a ROS 1 bag (format 2.0)")
        self.error: str | None = None
        self.by_conn: dict[int, SourceConnection] = {}
        self.start_ns: int | None = None
        self.end_ns: int | None = None
        for conn_id, stamp, _ in self._messages():
            if conn_id in self.by_conn:
                self.by_conn[conn_id].count += 1
            self.start_ns = stamp if self.start_ns is None else min(self.start_ns, stamp)
            self.end_ns = stamp if self.end_ns is None else max(self.end_ns, stamp)
        self.connections = list(self.by_conn.values())

    def _records(self, buf: memoryview, pos: int, end: int) -> Iterator[tuple[dict[str, bytes], memoryview]]:
        while pos < end:
            if pos + 4 > end:
                raise _Cut(f"record header length cut off at byte {pos}")
            (header_len,) = struct.unpack_from("<I", buf, pos)
            header_end = pos + 4 + header_len
            if header_end + 4 > end:
                raise _Cut(f"record header at byte {pos} runs past the end")
            header = _fields(buf[pos + 4 : header_end])
            (data_len,) = struct.unpack_from("<I", buf, header_end)
            data_end = header_end + 4 + data_len
            if data_end > end:
                op = header.get("op", b"\0")[0]
                if op == OP_CHUNK and header.get("compression") == b"none":
                    # an uncompressed chunk cut off: its complete records are still good
                    yield header, buf[header_end + 4 : end]
                raise _Cut(f"record at byte {pos} ({data_len} data bytes) runs past the end of the file")
            yield header, buf[header_end + 4 : data_end]
            pos = data_end

    def _chunk(self, header: dict[str, bytes], data: memoryview) -> memoryview:
        compression = header.get("compression", b"none").decode()
        if compression == "none":
            return data
        if compression == "bz2":
            return memoryview(bz2.decompress(data))
        if compression == "lz4":
            from lz4.frame import decompress  # rosbags depends on lz4

            return memoryview(decompress(bytes(data)))
        raise _Cut(f"unknown chunk compression {compression!r}")

    def _handle(self, header: dict[str, bytes], data: memoryview) -> Iterator[tuple[int, int, bytes]]:
        op = header.get("op", b"\0")[0]
        if op == OP_CONNECTION:
            conn_id = struct.unpack("<I", header["conn"])[0]
            if conn_id not in self.by_conn:
                info = _fields(data)
                self.by_conn[conn_id] = SourceConnection(
                    _topic(header["topic"].decode()),
                    _msgtype(info["type"].decode()),
                    "ros1",
                    0,
                    "msg",
                    info.get("message_definition", b"").decode(),
                    self,
                    conn_id,
                )
        elif op == OP_MESSAGE:
            conn_id = struct.unpack("<I", header["conn"])[0]
            sec, nsec = struct.unpack("<II", header["time"])
            yield conn_id, sec * 1_000_000_000 + nsec, bytes(data)

    def _messages(self) -> Iterator[tuple[int, int, bytes]]:
        buf = memoryview(self.data)
        try:
            for header, data in self._records(buf, len(_MAGIC), len(buf)):
                if header.get("op", b"\0")[0] == OP_CHUNK:
                    inner = self._chunk(header, data)
                    try:
                        for inner_header, inner_data in self._records(inner, 0, len(inner)):
                            yield from self._handle(inner_header, inner_data)
                    except _Cut as exc:
                        raise _Cut(f"inside the chunk: {exc}") from exc
                else:
                    yield from self._handle(header, data)
        except (_Cut, KeyError, struct.error, UnicodeDecodeError, OSError, ValueError) as exc:
            self.error = f"damaged at {exc}" if isinstance(exc, _Cut) else f"damaged record ({exc!r})"

    def messages(
        self, conns: list[SourceConnection], start: int | None, stop: int | None
    ) -> Iterator[tuple[SourceConnection, int, Any]]:
        wanted = {c.handle: c for c in conns}
        lo = -(2**63) if start is None else start
        hi = 2**63 if stop is None else stop
        for conn_id, stamp, data in self._messages():
            if conn_id in wanted and lo <= stamp < hi:
                yield wanted[conn_id], stamp, data

    def close(self) -> None:
        self.data = b""
