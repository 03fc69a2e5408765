"""Protocol messages: the versioned header and one dataclass per message body, with byte codecs.

Byte layouts are specified in ``firmware_bridge/PROTOCOL.md``; everything is little-endian. A payload (the
bytes COBS encodes) is ``header (16 B) + body (body_len B) + CRC-32C of header+body (4 B)``.
These are pure functions of bytes: no I/O.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar

import numpy as np

from firmware_bridge.crc import crc32c

PROTOCOL_VERSION = 1
HEADER = struct.Struct("<BBBBHHQ")  # version, type, device_id, flags, seq, body_len, device_time_us
HEADER_SIZE = HEADER.size  # 16
CRC_SIZE = 4
MAX_PAYLOAD_SIZE = 4096  # header + body + CRC; larger frames are rejected (resynchronises on garbage)
MAX_BODY_SIZE = MAX_PAYLOAD_SIZE - HEADER_SIZE - CRC_SIZE


_LE_INT16 = np.dtype("<i2")
_LE_FLOAT32 = np.dtype("<f4")


class ProtocolError(ValueError):
    """A payload that is not a valid message (bad CRC, version, length or body)."""


class MessageType(IntEnum):
    """Message type codes (header byte 1). 0x0_: device data, 0x1_: time sync, 0x2_: configuration."""

    IMU_BATCH = 0x01
    AUDIO_CHUNK = 0x02
    HEARTBEAT = 0x03
    TIME_SYNC_REQUEST = 0x10
    TIME_SYNC_RESPONSE = 0x11
    CONFIG_COMMAND = 0x20
    CONFIG_ACK = 0x21


class SampleFormat(IntEnum):
    """Encoding of IMU sample values."""

    INT16 = 1  # raw counts; physical value = raw * scale[channel]
    FLOAT32 = 2  # physical values directly


class ConfigKey(IntEnum):
    """Keys of configuration commands."""

    STREAMING = 1  # 1 = start sending IMU batches, 0 = stop
    IMU_RATE_HZ = 2  # sampling rate, 1..100000 Hz
    IMU_BATCH_SAMPLES = 3  # samples per IMU_BATCH frame, 1..128
    HEARTBEAT_PERIOD_MS = 4  # 0 disables heartbeats
    AUDIO_RATE_HZ = 5  # microphone sampling rate, 0 = no audio, up to 48000 Hz


class AckStatus(IntEnum):
    """Result codes of CONFIG_ACK."""

    OK = 0
    UNKNOWN_KEY = 1
    BAD_VALUE = 2


@dataclass(frozen=True)
class Header:
    """The 16-byte header every frame starts with."""

    msg_type: int  # MessageType code
    device_id: int  # 0..255, which device sent (or is addressed by) the frame
    seq: int  # 0..65535, per-sender frame counter, +1 per frame (wraps)
    device_time_us: int  # device clock at send time, microseconds (0 in host-to-device frames)
    body_len: int = 0  # filled in by encode_payload
    version: int = PROTOCOL_VERSION  # protocol version
    flags: int = 0  # reserved, 0


@dataclass
class ImuBatch:
    """N consecutive IMU samples of C channels taken every ``sample_period_us``.

    The first sample was taken at the header's ``device_time_us``; sample i at
    ``device_time_us + i * sample_period_us``. For 6 channels the order is accel x, y, z (m/s^2) then
    gyro x, y, z (rad/s).
    """

    MSG_TYPE: ClassVar[MessageType] = MessageType.IMU_BATCH
    FIXED: ClassVar[struct.Struct] = struct.Struct("<HBBI")  # n_samples, n_channels, format, period_us

    raw: np.ndarray  # (N, C) int16 counts (format INT16) or float32 physical values (format FLOAT32)
    sample_period_us: int  # time between consecutive samples, microseconds
    scale: np.ndarray | None = None  # (C,) float32 physical units per count; required for INT16

    @property
    def sample_format(self) -> SampleFormat:
        return SampleFormat.INT16 if self.raw.dtype == np.int16 else SampleFormat.FLOAT32

    @property
    def values(self) -> np.ndarray:
        """Physical values, (N, C) float32."""
        if self.sample_format == SampleFormat.INT16:
            assert self.scale is not None
            return self.raw.astype(np.float32) * self.scale.astype(np.float32)
        return self.raw.astype(np.float32, copy=False)

    def sample_times_us(self, first_time_us: int) -> np.ndarray:
        """Device time of each sample, (N,) int64 microseconds, given the header's device time."""
        return first_time_us + self.sample_period_us * np.arange(self.raw.shape[0], dtype=np.int64)

    def encode_body(self) -> bytes:
        raw = np.asarray(self.raw)
        if raw.ndim != 2 or raw.shape[0] < 1 or not 1 <= raw.shape[1] <= 32:
            raise ValueError(f"IMU batch must be (N>=1, 1<=C<=32), got shape {raw.shape}")
        if raw.dtype not in (np.int16, np.float32):
            raise ValueError(f"IMU batch dtype must be int16 or float32, got {raw.dtype}; convert first")
        fmt = SampleFormat.INT16 if raw.dtype == np.int16 else SampleFormat.FLOAT32
        parts = [self.FIXED.pack(raw.shape[0], raw.shape[1], fmt, self.sample_period_us)]
        if fmt == SampleFormat.INT16:
            if self.scale is None or np.shape(self.scale) != (raw.shape[1],):
                raise ValueError(
                    f"INT16 IMU batch needs scale of shape ({raw.shape[1]},), got {self.scale!r}"
                )
            parts.append(np.asarray(self.scale, dtype="<f4").tobytes())
        parts.append(np.ascontiguousarray(raw, dtype=raw.dtype.newbyteorder("<")).tobytes())
        return b"".join(parts)

    @classmethod
    def decode_body(cls, body: bytes) -> ImuBatch:
        if len(body) < cls.FIXED.size:
            raise ProtocolError(
                f"IMU batch body is {len(body)} bytes, shorter than its {cls.FIXED.size}-byte header"
            )
        n, c, fmt, period = cls.FIXED.unpack_from(body)
        offset = cls.FIXED.size
        scale = None
        dtype: np.dtype
        native: type
        if fmt == SampleFormat.INT16:
            if len(body) < offset + 4 * c:
                raise ProtocolError(f"INT16 IMU batch body of {len(body)} bytes cannot hold {c} scales")
            scale = np.frombuffer(body, dtype="<f4", count=c, offset=offset).astype(np.float32)
            offset += 4 * c
            dtype, native = _LE_INT16, np.int16
        elif fmt == SampleFormat.FLOAT32:
            dtype, native = _LE_FLOAT32, np.float32
        else:
            raise ProtocolError(f"IMU batch has unknown sample format {fmt} (expected 1=int16 or 2=float32)")
        expected = offset + n * c * dtype.itemsize
        if n < 1 or c < 1 or len(body) != expected:
            raise ProtocolError(
                f"IMU batch of {n} x {c} format {fmt} needs {expected} body bytes, got {len(body)}"
            )
        raw = np.frombuffer(body, dtype=dtype, offset=offset).reshape(n, c).astype(native)
        return cls(raw=raw, sample_period_us=period, scale=scale)


@dataclass
class AudioChunk:
    """Interleaved int16 PCM: N frames of C channels at ``sample_rate_hz``, first frame at device time."""

    MSG_TYPE: ClassVar[MessageType] = MessageType.AUDIO_CHUNK
    FIXED: ClassVar[struct.Struct] = struct.Struct("<HBBI")  # n_frames, n_channels, reserved, rate_hz

    pcm: np.ndarray  # (N, C) int16
    sample_rate_hz: int  # audio sampling rate, Hz

    def encode_body(self) -> bytes:
        pcm = np.asarray(self.pcm)
        if pcm.ndim != 2 or pcm.dtype != np.int16 or pcm.shape[0] < 1 or not 1 <= pcm.shape[1] <= 8:
            raise ValueError(f"audio chunk must be int16 (N>=1, 1<=C<=8), got {pcm.dtype} {pcm.shape}")
        head = self.FIXED.pack(pcm.shape[0], pcm.shape[1], 0, self.sample_rate_hz)
        return head + np.ascontiguousarray(pcm, dtype="<i2").tobytes()

    @classmethod
    def decode_body(cls, body: bytes) -> AudioChunk:
        if len(body) < cls.FIXED.size:
            raise ProtocolError(f"audio chunk body is {len(body)} bytes, shorter than {cls.FIXED.size}")
        n, c, _, rate = cls.FIXED.unpack_from(body)
        if n < 1 or c < 1 or len(body) != cls.FIXED.size + 2 * n * c:
            raise ProtocolError(
                f"audio chunk of {n} x {c} needs {cls.FIXED.size + 2 * n * c} bytes, got {len(body)}"
            )
        pcm = np.frombuffer(body, dtype="<i2", offset=cls.FIXED.size).reshape(n, c).astype(np.int16)
        return cls(pcm=pcm, sample_rate_hz=rate)


@dataclass
class _FixedBody:
    """Base for bodies that are one fixed struct; subclasses list their fields in order."""

    FIXED: ClassVar[struct.Struct]

    def encode_body(self) -> bytes:
        return self.FIXED.pack(*self.__dict__.values())

    @classmethod
    def decode_body(cls, body: bytes):  # type: ignore[no-untyped-def]
        if len(body) != cls.FIXED.size:
            raise ProtocolError(f"{cls.__name__} body must be {cls.FIXED.size} bytes, got {len(body)}")
        return cls(*cls.FIXED.unpack(body))


@dataclass
class Heartbeat(_FixedBody):
    """Periodic device status."""

    MSG_TYPE: ClassVar[MessageType] = MessageType.HEARTBEAT
    FIXED: ClassVar[struct.Struct] = struct.Struct("<IIIHH")

    frames_sent: int = 0  # frames the device has sent since boot
    samples_dropped: int = 0  # IMU samples lost on the device (buffer full)
    rx_errors: int = 0  # host-to-device frames the device rejected (COBS/CRC/header)
    status_flags: int = 0  # bit 0: streaming
    reserved: int = 0  # 0


@dataclass
class TimeSyncRequest(_FixedBody):
    """Host -> device: please answer with your clock. ``host_time_us`` is echoed back unchanged."""

    MSG_TYPE: ClassVar[MessageType] = MessageType.TIME_SYNC_REQUEST
    FIXED: ClassVar[struct.Struct] = struct.Struct("<IQ")

    request_id: int = 0  # matches the response to its request
    host_time_us: int = 0  # host send time (t1), opaque to the device


@dataclass
class TimeSyncResponse(_FixedBody):
    """Device -> host. The device's receive time t2 is in the body; its send time t3 is the header time."""

    MSG_TYPE: ClassVar[MessageType] = MessageType.TIME_SYNC_RESPONSE
    FIXED: ClassVar[struct.Struct] = struct.Struct("<IQQ")

    request_id: int = 0  # copied from the request
    host_time_us: int = 0  # copied from the request (t1)
    device_rx_time_us: int = 0  # device clock when the request arrived (t2)


@dataclass
class ConfigCommand(_FixedBody):
    """Host -> device: set ``key`` to ``value``; answered by a CONFIG_ACK with the same command_id."""

    MSG_TYPE: ClassVar[MessageType] = MessageType.CONFIG_COMMAND
    FIXED: ClassVar[struct.Struct] = struct.Struct("<HBBI")

    command_id: int = 0  # chosen by the host, echoed in the ack
    key: int = 0  # ConfigKey
    reserved: int = 0  # 0
    value: int = 0  # new value


@dataclass
class ConfigAck(_FixedBody):
    """Device -> host: result of a configuration command."""

    MSG_TYPE: ClassVar[MessageType] = MessageType.CONFIG_ACK
    FIXED: ClassVar[struct.Struct] = struct.Struct("<HBBI")

    command_id: int = 0  # copied from the command
    key: int = 0  # copied from the command
    status: int = 0  # AckStatus
    value: int = 0  # value now in force


Body = ImuBatch | AudioChunk | Heartbeat | TimeSyncRequest | TimeSyncResponse | ConfigCommand | ConfigAck
BODY_TYPES: dict[int, Any] = {
    cls.MSG_TYPE: cls
    for cls in (ImuBatch, AudioChunk, Heartbeat, TimeSyncRequest, TimeSyncResponse, ConfigCommand, ConfigAck)
}


@dataclass
class Message:
    """One decoded frame: its header and its parsed body."""

    header: Header
    body: Body = field(repr=False)

    @property
    def msg_type(self) -> MessageType:
        return MessageType(self.header.msg_type)


def encode_payload(body: Body, device_id: int, seq: int, device_time_us: int = 0) -> bytes:
    """Build ``header + body + CRC-32C`` for one message (the bytes that COBS then frames).

    Args:
        body: the message body dataclass.
        device_id: 0..255.
        seq: 0..65535 (callers pass their counter modulo 65536).
        device_time_us: sender's clock in microseconds, 0..2**64-1.

    Raises:
        ValueError: if a field is out of range or the body is larger than MAX_BODY_SIZE.
    """
    body_bytes = body.encode_body()
    if len(body_bytes) > MAX_BODY_SIZE:
        raise ValueError(
            f"message body is {len(body_bytes)} bytes, over {MAX_BODY_SIZE}; send smaller batches"
        )
    if not 0 <= device_id <= 255 or not 0 <= seq <= 0xFFFF:
        raise ValueError(f"device_id must be 0..255 and seq 0..65535, got {device_id} and {seq}")
    head = HEADER.pack(
        PROTOCOL_VERSION, int(body.MSG_TYPE), device_id, 0, seq, len(body_bytes), device_time_us
    )
    data = head + body_bytes
    return data + crc32c(data).to_bytes(4, "little")


def decode_payload(payload: bytes | bytearray | memoryview) -> Message:
    """Check and parse one payload (COBS already removed).

    Raises:
        ProtocolError: with the reason (short, CRC mismatch, version, length, unknown type, bad body).
    """
    data = bytes(payload)
    if len(data) < HEADER_SIZE + CRC_SIZE:
        raise ProtocolError(
            f"payload of {len(data)} bytes is shorter than header + CRC ({HEADER_SIZE + CRC_SIZE})"
        )
    expected = int.from_bytes(data[-4:], "little")
    actual = crc32c(data[:-4])
    if actual != expected:
        raise ProtocolError(f"CRC mismatch: frame says {expected:#010x}, computed {actual:#010x}")
    return parse_checked_payload(data[:-4])


def parse_checked_payload(data: bytes) -> Message:
    """Parse ``header + body`` whose CRC was already verified (the fast path uses this)."""
    version, msg_type, device_id, flags, seq, body_len, t_us = HEADER.unpack_from(data)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            f"protocol version {version}, this host speaks {PROTOCOL_VERSION}; update the firmware"
        )
    if body_len != len(data) - HEADER_SIZE:
        raise ProtocolError(f"header says body_len {body_len}, frame carries {len(data) - HEADER_SIZE}")
    body_cls = BODY_TYPES.get(msg_type)
    if body_cls is None:
        raise ProtocolError(f"unknown message type {msg_type:#04x}")
    header = Header(msg_type, device_id, seq, t_us, body_len, version, flags)
    return Message(header, body_cls.decode_body(data[HEADER_SIZE:]))
