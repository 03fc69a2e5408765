"""What the serial bridge hands out: a decoded message with host-time stamps, and the device-time spans of
message bodies that stamping and repeat detection use."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from firmware_bridge.clock_sync import ClockFit
from firmware_bridge.messages import AudioChunk, Body, Header, ImuBatch, MessageType


@dataclass
class ReceivedMessage:
    """A decoded message with host-time stamps."""

    device_id: int  # sender
    msg_type: MessageType  # what the body is
    seq: int  # sender's frame counter
    device_time_us: int  # sender's clock at the first sample / at send, microseconds
    host_time_s: float  # device_time_us in host seconds (clock sync; see `synced`)
    receive_time_s: float  # host clock when the bytes were read, seconds
    synced: bool  # False: no usable time sync, host_time_s is estimated from arrival times
    body: Body  # ImuBatch, AudioChunk, Heartbeat, ...
    clock_fit: ClockFit | None = field(default=None, repr=False)  # the device clock estimate used here
    # True where a sample repeats one delivered before (same device, stream and device time: the device
    # sent it again); (N,) per sample of an IMU batch, (1,) for other messages. Drop those as duplicates.
    repeated: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=bool), repr=False)

    def sample_host_times(self) -> np.ndarray:
        """Host time of each sample of an IMU batch, (N,) float64 seconds.

        Raises:
            TypeError: if the message is not an IMU batch.
        """
        if not isinstance(self.body, ImuBatch):
            raise TypeError(f"sample_host_times needs an IMU batch, this is {self.msg_type.name}")
        offsets_us = self.body.sample_period_us * np.arange(self.body.raw.shape[0], dtype=np.int64)
        if self.synced and self.clock_fit is not None:
            return np.asarray(
                self.clock_fit.device_to_host(self.device_time_us + offsets_us), dtype=np.float64
            )
        return self.host_time_s + offsets_us * 1e-6


def sample_times_us(header: Header, body: Body) -> np.ndarray:
    """Device time of each sample of an IMU batch, or the first frame of another message, microseconds."""
    if isinstance(body, ImuBatch):
        return header.device_time_us + int(body.sample_period_us) * np.arange(
            body.raw.shape[0], dtype=np.int64
        )
    return np.array([header.device_time_us], dtype=np.int64)


def span_us(body: Body) -> int:
    """Device time from a message's first to its last sample, microseconds (0 for single-instant bodies)."""
    if isinstance(body, ImuBatch):
        return int(body.sample_period_us) * max(int(body.raw.shape[0]) - 1, 0)
    if isinstance(body, AudioChunk) and body.sample_rate_hz > 0:
        return int((body.pcm.shape[0] - 1) * 1_000_000 // body.sample_rate_hz)
    return 0
