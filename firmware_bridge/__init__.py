"""Microcontroller sensor link: framing, messages, protocol, serial transport, clock sync.

Public API (see firmware_bridge/README.md and PROTOCOL.md):

- :class:`SerialBridge`, :class:`BridgeConfig`, :class:`ReceivedMessage`: the host side with a reader thread.
- :class:`StreamDecoder`, :class:`FrameEncoder`, :func:`encode_frame`, :func:`decode_frames`: pure protocol code.
- :class:`ClockSync`: device-to-host time mapping.
- :class:`EmulatedDevices`, :class:`PtyDevices`, :class:`DeviceClock`: replay IMU streams through the protocol.
- message bodies: :class:`ImuBatch`, :class:`AudioChunk`, :class:`Heartbeat`, :class:`TimeSyncRequest`,
  :class:`TimeSyncResponse`, :class:`ConfigCommand`, :class:`ConfigAck`.

pyserial is imported only by :mod:`firmware_bridge.transport`, and only when a bridge opens a port by name.
"""

from firmware_bridge.bridge import BridgeConfig, ReceivedMessage, SerialBridge
from firmware_bridge.clock_sync import ClockFit, ClockSync, ClockSyncConfig
from firmware_bridge.emulator import DeviceClock, EmulatedDevices, PtyDevices, ReplayStats, open_pty
from firmware_bridge.fastpath import FrameTable, decode_frames
from firmware_bridge.messages import (
    AckStatus,
    AudioChunk,
    ConfigAck,
    ConfigCommand,
    ConfigKey,
    Header,
    Heartbeat,
    ImuBatch,
    Message,
    MessageType,
    ProtocolError,
    SampleFormat,
    TimeSyncRequest,
    TimeSyncResponse,
    decode_payload,
    encode_payload,
)
from firmware_bridge.protocol import DecoderStats, FrameEncoder, StreamDecoder, encode_frame

__all__ = [
    "AckStatus",
    "AudioChunk",
    "BridgeConfig",
    "ClockFit",
    "ClockSync",
    "ClockSyncConfig",
    "ConfigAck",
    "ConfigCommand",
    "ConfigKey",
    "DecoderStats",
    "DeviceClock",
    "EmulatedDevices",
    "FrameEncoder",
    "FrameTable",
    "Header",
    "Heartbeat",
    "ImuBatch",
    "Message",
    "MessageType",
    "ProtocolError",
    "PtyDevices",
    "ReceivedMessage",
    "ReplayStats",
    "SampleFormat",
    "SerialBridge",
    "StreamDecoder",
    "TimeSyncRequest",
    "TimeSyncResponse",
    "decode_frames",
    "decode_payload",
    "encode_frame",
    "encode_payload",
    "open_pty",
]
