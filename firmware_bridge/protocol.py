"""Streaming protocol layer: a frame encoder that keeps the sequence counter, and a streaming decoder
that resynchronises after garbage or lost bytes and counts everything it throws away. No I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from firmware_bridge import fastpath
from firmware_bridge.framing import frame
from firmware_bridge.messages import (
    BODY_TYPES,
    HEADER_SIZE,
    MAX_PAYLOAD_SIZE,
    Body,
    Header,
    Message,
    ProtocolError,
    encode_payload,
)

# Longest run of non-zero bytes a valid frame can have on the wire (COBS adds one byte per 254).
MAX_ENCODED_SIZE = MAX_PAYLOAD_SIZE + MAX_PAYLOAD_SIZE // 254 + 1


def encode_frame(body: Body, device_id: int, seq: int, device_time_us: int = 0) -> bytes:
    """Return the wire bytes of one message: ``0x00 + COBS(header + body + CRC) + 0x00``."""
    return frame(encode_payload(body, device_id, seq, device_time_us))


class FrameEncoder:
    """Encodes messages of one sender, numbering them 0, 1, 2, ... (mod 65536)."""

    def __init__(self, device_id: int) -> None:
        if not 0 <= device_id <= 255:
            raise ValueError(f"device_id must be 0..255, got {device_id}")
        self.device_id = device_id  # id written into every header
        self.seq = 0  # sequence number of the next frame

    def encode(self, body: Body, device_time_us: int = 0) -> bytes:
        """Wire bytes of ``body`` with the next sequence number."""
        data = encode_frame(body, self.device_id, self.seq, device_time_us)
        self.seq = (self.seq + 1) & 0xFFFF
        return data


@dataclass
class DecoderStats:
    """Counters of a :class:`StreamDecoder` (all monotonically increasing)."""

    bytes_received: int = 0  # bytes fed in
    frames_ok: int = 0  # frames that passed every check and were returned
    cobs_errors: int = 0  # fragments whose COBS code bytes were inconsistent
    crc_errors: int = 0  # fragments whose CRC-32C did not match
    too_short: int = 0  # fragments shorter than header + CRC
    too_long: int = 0  # fragments longer than the maximum frame (garbage without delimiters included)
    header_errors: int = 0  # CRC fine but wrong protocol version or body length
    body_errors: int = 0  # CRC fine but unknown message type or malformed body
    seq_gaps: int = 0  # times a device's sequence number jumped forward by more than one
    frames_lost: int = 0  # frames missing according to those jumps
    seq_backwards: int = 0  # sequence jumps backwards (duplicates, reorders or device restarts)
    overflow_bytes: int = 0  # bytes discarded because no delimiter came within the maximum frame size

    @property
    def frames_bad(self) -> int:
        """Fragments between delimiters that were dropped, for any reason."""
        return (
            self.cobs_errors
            + self.crc_errors
            + self.too_short
            + self.too_long
            + self.header_errors
            + self.body_errors
        )

    @property
    def resyncs(self) -> int:
        """Times the decoder threw data away and restarted at the next delimiter."""
        return self.frames_bad

    def as_dict(self) -> dict[str, int]:
        out = asdict(self)
        out["frames_bad"] = self.frames_bad
        out["resyncs"] = self.resyncs
        return out


class StreamDecoder:
    """Turns arbitrary chunks of the byte stream into :class:`Message` objects.

    Frames may be split across chunks in any way. Anything that is not a valid frame (garbage, a frame
    with flipped bits or lost bytes) is dropped and counted in :attr:`stats`; decoding restarts at the
    next 0x00 delimiter, so one damaged frame never costs more than itself. ``feed`` never raises for
    bad input.
    """

    def __init__(self) -> None:
        self.stats = DecoderStats()  # counters, see DecoderStats
        self._pending = b""  # bytes after the last delimiter seen
        self._last_seq: dict[int, int] = {}  # device_id -> last sequence number seen
        self._discarding = False  # inside an over-long run: drop bytes until the next delimiter
        self._workspace = fastpath.DecodeWorkspace()  # reused decode buffers

    def feed(self, data: bytes | bytearray | memoryview) -> list[Message]:
        """Decode a chunk and return the messages completed by it, in stream order."""
        chunk = bytes(data)
        self.stats.bytes_received += len(chunk)
        if self._discarding:
            zero = chunk.find(b"\x00")
            if zero < 0:
                self.stats.overflow_bytes += len(chunk)
                return []
            self.stats.overflow_bytes += zero
            chunk = chunk[zero:]
            self._discarding = False
        buf = self._pending + chunk if self._pending else chunk
        table = fastpath.decode_frames(buf, self._workspace)
        self._pending = buf[table.consumed :]
        if len(self._pending) > MAX_ENCODED_SIZE:
            self.stats.overflow_bytes += len(self._pending)
            self.stats.too_long += 1
            self._pending = b""
            self._discarding = True
        errors = table.errors
        self.stats.cobs_errors += int(errors[fastpath.COBS_ERROR])
        self.stats.crc_errors += int(errors[fastpath.CRC_ERROR])
        self.stats.too_short += int(errors[fastpath.TOO_SHORT])
        self.stats.too_long += int(errors[fastpath.TOO_LONG])
        self.stats.header_errors += int(errors[fastpath.HEADER_ERROR])
        messages = []
        # The kernel already checked CRC, version and body_len and parsed the headers; only bodies remain.
        payload = table.payload.data
        for row, start, length in zip(table.headers.tolist(), table.starts.tolist(), table.lengths.tolist()):
            version, msg_type, device_id, flags, seq, body_len, t_us = row
            body_cls = BODY_TYPES.get(msg_type)
            try:
                if body_cls is None:
                    raise ProtocolError(f"unknown message type {msg_type:#04x}")
                body = body_cls.decode_body(payload[start + HEADER_SIZE : start + length])
            except ValueError:  # ProtocolError, or any body the parser could not take
                self.stats.body_errors += 1
                continue
            self._track_seq(device_id, seq)
            self.stats.frames_ok += 1
            messages.append(Message(Header(msg_type, device_id, seq, t_us, body_len, version, flags), body))
        return messages

    def _track_seq(self, device_id: int, seq: int) -> None:
        last = self._last_seq.get(device_id)
        self._last_seq[device_id] = seq
        if last is None:
            return
        jump = (seq - last - 1) & 0xFFFF
        if jump == 0:
            return
        if jump < 0x8000:
            self.stats.seq_gaps += 1
            self.stats.frames_lost += jump
        else:
            self.stats.seq_backwards += 1
