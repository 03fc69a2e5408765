"""An mcap file read record by record, resynchronising at the next well-formed record after damage.

Used by :func:`robossl.data.bags.sources.open_scanner` when the index of an ``.mcap`` file cannot be read
(a recording cut off by a crash or a full disk, overwritten bytes). File format:
https://mcap.dev/spec (records: ``opcode u8, length u64, body``).
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from robossl.data.bags.record_walk import Message, RecordWalker
from robossl.data.bags.storage import DamagedRegion, SourceConnection, select_messages

__all__ = ["McapScanSource"]

_MAGIC = b"\x89MCAP0\r\n"
OP_HEADER, OP_FOOTER, OP_SCHEMA, OP_CHANNEL, OP_MESSAGE, OP_CHUNK, OP_MESSAGE_INDEX = 1, 2, 3, 4, 5, 6, 7
OP_STATISTICS, OP_DATA_END = 0x0B, 0x0F
# records a resynchronisation may land on: their layout is checked field by field
_RESYNC_AT = re.compile(rb"[\x03\x04\x05\x06\x07\x0f]")
_COMPRESSIONS = ("", "zstd", "lz4")


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


class McapScanSource(RecordWalker):
    """An mcap file read record by record, resynchronising at the next well-formed record after damage.

    Needs no summary, index or footer, so it reads files cut off by a crash or a full disk. A compressed
    chunk that does not decompress (or fails its checksum) is lost as a whole; a chunk cut off by the end
    of the file gives the messages of its first, complete compression blocks. Holds the channel table in
    memory; :meth:`messages` scans again.

    Attributes:
        damaged: byte ranges of the file that could not be read (empty for an intact file).
    """

    MAGIC = _MAGIC
    NOT_A_FILE = "does not start with the mcap magic bytes and holds no mcap record"
    HEADER_LOST = "file magic and header unreadable"

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

    def _read(self, data: bytes, pos: int, end: int) -> tuple[int, int, int] | None:
        return _record(data, pos, end, strict=False)

    def _resync(self, data: bytes, start: int, end: int) -> int | None:
        return _resync(data, start, end)

    def _runs_past_end(self, data: bytes, pos: int, end: int) -> bool:
        # a record cut off by the end of the file, with a length that is not garbage
        return pos + 9 > end or _length(data, pos) < 2**32

    def _handle(
        self,
        record: tuple[int, int, int],
        data: bytes,
        pos: int,
        chunk: tuple[int, int] | None,
        damaged: list[DamagedRegion],
    ) -> tuple[Message | None, Iterable[Message], bool]:
        opcode, start, stop = record
        if opcode == OP_FOOTER:
            return None, (), True
        if opcode == OP_SCHEMA:
            self._schema(data, start, stop)
        elif opcode == OP_CHANNEL:
            self._channel(data, start, stop)
        elif opcode == OP_MESSAGE:
            cid, _seq, log_time, _pub = struct.unpack_from("<HIQQ", data, start)
            return (cid, log_time, data[start + 22 : stop]), (), False
        elif opcode == OP_CHUNK and chunk is None:
            return None, self._chunk(pos, start, stop, damaged), False
        elif opcode == OP_STATISTICS and stop - start >= 8:
            self._statistics_count = struct.unpack_from("<Q", data, start)[0]
        return None, (), False

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
        return select_messages(conns, start, stop, self._messages([]))

    def close(self) -> None:
        self.data = b""


def _length(data: bytes, pos: int) -> int:
    return int(struct.unpack_from("<Q", data, pos + 1)[0]) if pos + 9 <= len(data) else 0
