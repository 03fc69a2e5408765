"""Fast decoder path: one numba pass that splits a byte stream on 0x00, COBS-decodes each fragment,
checks its CRC-32C (slicing-by-8) and header, and returns a table of good frames plus error counts.

:class:`firmware_bridge.protocol.StreamDecoder` uses it for every chunk it is fed; :func:`decode_frames`
is also usable on its own for bulk decoding of recorded streams (see ``bench/serial_decode.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from firmware_bridge.crc import CRC32C_TABLES
from firmware_bridge.messages import CRC_SIZE, HEADER_SIZE, MAX_PAYLOAD_SIZE, PROTOCOL_VERSION

# Per-fragment status codes written by the kernel.
OK = 0
COBS_ERROR = 1  # a code byte points past the fragment end
TOO_SHORT = 2  # shorter than header + CRC
CRC_ERROR = 3  # CRC-32C mismatch
TOO_LONG = 4  # decoded payload longer than MAX_PAYLOAD_SIZE
HEADER_ERROR = 5  # CRC fine but wrong version or body_len (a sender bug, not line noise)
STATUS_NAMES = ("ok", "cobs_error", "too_short", "crc_error", "too_long", "header_error")

HEADER_DTYPE = np.dtype(
    [
        ("version", "u1"),
        ("msg_type", "u1"),
        ("device_id", "u1"),
        ("flags", "u1"),
        ("seq", "<u2"),
        ("body_len", "<u2"),
        ("device_time_us", "<u8"),
    ]
)


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _crc32c(buf: np.ndarray, start: int, end: int, tables: np.ndarray) -> int:
    crc = np.int64(0xFFFFFFFF)
    i = start
    t0 = tables[0]
    t1 = tables[1]
    t2 = tables[2]
    t3 = tables[3]
    t4 = tables[4]
    t5 = tables[5]
    t6 = tables[6]
    t7 = tables[7]
    while i + 8 <= end:
        lo = crc ^ (
            np.int64(buf[i])
            | (np.int64(buf[i + 1]) << 8)
            | (np.int64(buf[i + 2]) << 16)
            | (np.int64(buf[i + 3]) << 24)
        )
        crc = (
            np.int64(t7[lo & 0xFF])
            ^ np.int64(t6[(lo >> 8) & 0xFF])
            ^ np.int64(t5[(lo >> 16) & 0xFF])
            ^ np.int64(t4[(lo >> 24) & 0xFF])
            ^ np.int64(t3[buf[i + 4]])
            ^ np.int64(t2[buf[i + 5]])
            ^ np.int64(t1[buf[i + 6]])
            ^ np.int64(t0[buf[i + 7]])
        )
        i += 8
    while i < end:
        crc = (crc >> 8) ^ np.int64(t0[(crc ^ np.int64(buf[i])) & 0xFF])
        i += 1
    return int(crc ^ 0xFFFFFFFF)


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _scan(
    src: np.ndarray,
    dst: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    errors: np.ndarray,
    tables: np.ndarray,
    max_payload: int,
    version: int,
) -> tuple[int, int]:
    """Decode every complete fragment of ``src`` (those followed by a 0x00).

    Good payloads (header + body, CRC stripped) are written to ``dst``; their offsets and lengths to
    ``starts``/``lengths``. ``errors[status]`` counts bad fragments by status. Returns (number of good
    frames, number of bytes consumed = index after the last 0x00).
    """
    n = src.shape[0]
    n_frames = 0
    consumed = 0
    out = 0
    i = 0
    while i < n:
        # One fragment: src[i:j] with src[j] == 0.
        j: int = i
        while j < n and src[j] != 0:
            j += 1
        if j == n:
            break  # incomplete fragment: keep it for the next chunk
        consumed = j + 1
        if j == i:
            i = j + 1
            continue  # empty fragment between two delimiters
        frag_start = out
        status = OK
        k = i
        if j - i - 1 > max_payload + max_payload // 254 + 1:
            status = TOO_LONG
        while k < j and status == OK:
            code = int(src[k])
            block_end = k + code
            if block_end > j:
                status = COBS_ERROR
                break
            m = k + 1
            while m < block_end:
                dst[out] = src[m]
                out += 1
                m += 1
            k = block_end
            if code != 0xFF and k < j:
                dst[out] = 0
                out += 1
        length = out - frag_start
        if status == OK and length > max_payload:
            status = TOO_LONG
        if status == OK and length < 20:
            status = TOO_SHORT
        if status == OK:
            body_end = frag_start + length - 4
            expected = (
                np.int64(dst[body_end])
                | (np.int64(dst[body_end + 1]) << 8)
                | (np.int64(dst[body_end + 2]) << 16)
                | (np.int64(dst[body_end + 3]) << 24)
            )
            if _crc32c(dst, frag_start, body_end, tables) != expected:
                status = CRC_ERROR
            else:
                body_len = np.int64(dst[frag_start + 6]) | (np.int64(dst[frag_start + 7]) << 8)
                if dst[frag_start] != version or body_len != length - 20:
                    status = HEADER_ERROR
        if status == OK:
            starts[n_frames] = frag_start
            lengths[n_frames] = length - 4
            n_frames += 1
        else:
            errors[status] += 1
            out = frag_start  # discard the partial output
        i = j + 1
    return n_frames, consumed


@dataclass
class FrameTable:
    """Good frames found in a buffer, as arrays (F = number of frames)."""

    payload: np.ndarray  # (P,) uint8 decoded payloads back to back (header + body, no CRC)
    starts: np.ndarray  # (F,) int64 offset of each frame's header in ``payload``
    lengths: np.ndarray  # (F,) int64 header + body length of each frame, bytes
    headers: np.ndarray  # (F,) HEADER_DTYPE structured array of the parsed headers
    errors: np.ndarray  # (6,) int64 count of bad fragments per status code (index = status)
    consumed: int  # bytes of the input up to and including the last 0x00 delimiter

    def body(self, index: int) -> bytes:
        """Body bytes of frame ``index``."""
        start = int(self.starts[index]) + HEADER_SIZE
        return self.payload[start : int(self.starts[index] + self.lengths[index])].tobytes()

    def payload_bytes(self, index: int) -> bytes:
        """Header + body bytes of frame ``index``."""
        start = int(self.starts[index])
        return self.payload[start : start + int(self.lengths[index])].tobytes()


_HEADER_OFFSETS = np.arange(HEADER_SIZE, dtype=np.int64)


def decode_frames(data: bytes | bytearray | memoryview | np.ndarray) -> FrameTable:
    """Decode all complete frames in ``data`` (a chunk of the byte stream).

    Bytes after the last 0x00 are not consumed (``FrameTable.consumed`` says how many were); a streaming
    caller keeps them and prepends them to the next chunk.

    Args:
        data: raw bytes from the wire, (n,) uint8 when given as an array.

    Returns:
        The table of good frames with their parsed headers and per-status error counts.
    """
    src = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8)
    dst = np.empty(src.shape[0], dtype=np.uint8)
    cap = src.shape[0] // (HEADER_SIZE + CRC_SIZE + 2) + 1
    starts = np.empty(cap, dtype=np.int64)
    lengths = np.empty(cap, dtype=np.int64)
    errors = np.zeros(len(STATUS_NAMES), dtype=np.int64)
    n_frames, consumed = _scan(
        src, dst, starts, lengths, errors, CRC32C_TABLES, MAX_PAYLOAD_SIZE, PROTOCOL_VERSION
    )
    starts = starts[:n_frames]
    headers = dst[starts[:, None] + _HEADER_OFFSETS].reshape(-1).view(HEADER_DTYPE)
    return FrameTable(dst, starts, lengths[:n_frames], headers, errors, int(consumed))


def warm_up() -> None:
    """Compile (or load from the numba cache) the kernels now rather than on the first chunk."""
    decode_frames(b"\x00\x01\x00")
