"""Python device emulator: N IMU devices on one serial link, speaking the same protocol as the C firmware.

Use it to replay recorded multi-device IMU streams (numpy arrays) THROUGH the protocol, into a
pseudo-terminal that a :class:`~firmware_bridge.bridge.SerialBridge` (or a ROS node) opens, or into any
file object (to record a byte stream)::

    with PtyDevices(device_ids=[1, 2, 3]) as link:            # link.port is e.g. /dev/pts/7
        bridge = SerialBridge(link.port).start()
        link.devices.replay({1: hand, 2: arm, 3: upper_arm}, rate_hz=32.0, batch_samples=4)

The emulated devices answer time-sync requests (with a device clock that may have an offset and drift)
and configuration commands, like the firmware does.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from firmware_bridge.messages import (
    AckStatus,
    AudioChunk,
    Body,
    ConfigAck,
    ConfigCommand,
    ConfigKey,
    Heartbeat,
    ImuBatch,
    TimeSyncRequest,
    TimeSyncResponse,
)
from firmware_bridge.protocol import FrameEncoder, StreamDecoder

BROADCAST_DEVICE = 0xFF


@dataclass
class ReplayStats:
    """What a replay sent."""

    frames: int = 0  # IMU batch frames written
    samples: int = 0  # samples written, all devices together
    bytes: int = 0  # bytes written
    duration_s: float = 0.0  # wall time the replay took


class DeviceClock:
    """A simulated device clock: ``offset_us + elapsed_us * (1 + drift_ppm * 1e-6)`` since creation."""

    def __init__(
        self, offset_us: int = 0, drift_ppm: float = 0.0, host_clock: Callable[[], float] = time.monotonic
    ):
        self.offset_us = offset_us  # device time at creation, microseconds
        self.drift_ppm = drift_ppm  # device clock runs this many ppm fast
        self._host_clock = host_clock
        self._start = host_clock()

    def now_us(self) -> int:
        return self.offset_us + int((self._host_clock() - self._start) * 1e6 * (1.0 + self.drift_ppm * 1e-6))


class EmulatedDevices:
    """Frames IMU batches for several devices onto one byte sink, and answers host commands.

    Args:
        sink: a file object opened in binary mode, or a file descriptor (e.g. a pty master).
        device_ids: ids of the emulated devices (0..254; 255 is broadcast).
        clock: the devices' clock (one for all, as if they shared a hub's timer).
    """

    def __init__(
        self, sink: BinaryIO | int, device_ids: Sequence[int], clock: DeviceClock | None = None
    ) -> None:
        if not device_ids or any(not 0 <= d < BROADCAST_DEVICE for d in device_ids):
            raise ValueError(f"device_ids must be a non-empty list of ids in 0..254, got {list(device_ids)}")
        self._sink = sink
        self.clock = clock or DeviceClock()
        self.encoders = {d: FrameEncoder(d) for d in device_ids}  # per-device sequence counters
        self.streaming = {d: False for d in device_ids}  # set by CONFIG STREAMING commands
        self.streaming_event = threading.Event()  # set when any device was told to stream
        self._decoder = StreamDecoder()
        self._lock = threading.Lock()
        self.bytes_written = 0

    @property
    def host_decoder_stats(self) -> dict[str, int]:
        """Counters of the decoder that reads host-to-device frames."""
        return self._decoder.stats.as_dict()

    def send(self, device_id: int, body: Body, device_time_us: int | None = None) -> None:
        """Frame and write one message from ``device_id`` (stamped now unless a time is given).

        Thread-safe: numbering and writing happen under one lock, so frames leave in sequence order.
        """
        with self._lock:
            t_us = self.clock.now_us() if device_time_us is None else device_time_us
            data = self.encoders[device_id].encode(body, t_us)
            if isinstance(self._sink, int):
                view = memoryview(data)
                while view:
                    view = view[os.write(self._sink, view) :]
            else:
                self._sink.write(data)
                self._sink.flush()
            self.bytes_written += len(data)

    def send_imu(
        self,
        device_id: int,
        samples: np.ndarray,
        sample_period_us: int,
        device_time_us: int,
        scale: np.ndarray | None = None,
    ) -> None:
        """Write one IMU batch.

        Args:
            device_id: sender.
            samples: (N, C) float32 physical values, or int16 counts (then ``scale`` (C,) is required).
            sample_period_us: time between samples, microseconds.
            device_time_us: device time of the first sample, microseconds.
            scale: (C,) physical units per count for int16 samples.
        """
        raw = np.asarray(samples)
        if raw.dtype != np.int16:
            raw = raw.astype(np.float32)
        self.send(device_id, ImuBatch(raw, sample_period_us, scale), device_time_us)

    def send_audio(self, device_id: int, pcm: np.ndarray, sample_rate_hz: int, device_time_us: int) -> None:
        """Write one audio chunk: ``pcm`` (N,) or (N, C) int16, first frame at ``device_time_us``."""
        frames = np.asarray(pcm)
        if frames.dtype != np.int16:
            raise ValueError(f"audio must be int16 PCM, got {frames.dtype}; scale and convert it first")
        self.send(device_id, AudioChunk(frames.reshape(frames.shape[0], -1), sample_rate_hz), device_time_us)

    def handle_host_bytes(self, data: bytes) -> None:
        """Decode host-to-device bytes and answer time-sync requests and configuration commands."""
        rx_time = self.clock.now_us()
        for message in self._decoder.feed(data):
            target = message.header.device_id
            devices = list(self.encoders) if target == BROADCAST_DEVICE else [target]
            for device in (d for d in devices if d in self.encoders):
                body = message.body
                if isinstance(body, TimeSyncRequest):
                    self.send(device, TimeSyncResponse(body.request_id, body.host_time_us, rx_time))
                elif isinstance(body, ConfigCommand):
                    self.send(device, self._configure(device, body))

    def _configure(self, device: int, command: ConfigCommand) -> ConfigAck:
        if command.key != ConfigKey.STREAMING:
            return ConfigAck(command.command_id, command.key, AckStatus.UNKNOWN_KEY, 0)
        if command.value not in (0, 1):
            return ConfigAck(
                command.command_id, command.key, AckStatus.BAD_VALUE, int(self.streaming[device])
            )
        self.streaming[device] = bool(command.value)
        if command.value:
            self.streaming_event.set()
        return ConfigAck(command.command_id, command.key, AckStatus.OK, command.value)

    def replay(
        self,
        streams: Mapping[int, np.ndarray],
        rate_hz: float,
        batch_samples: int = 8,
        speed: float = 1.0,
        realtime: bool = True,
        stop: threading.Event | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> ReplayStats:
        """Send time-aligned multi-device IMU recordings as IMU batches, interleaved by time.

        Row t of every stream was sampled at the same instant (as in ActRecTut); batch k of each device
        is stamped ``start + k * batch_samples / rate_hz`` in device time.

        Args:
            streams: device id -> (T, C) samples (float -> float32 format; int16 needs no scale here and is
                sent with scale 1).
            rate_hz: sampling rate of the recordings, Hz.
            batch_samples: samples per frame (1..128).
            speed: replay speed factor when ``realtime`` (2.0 = twice as fast).
            realtime: pace the writes by the wall clock; False writes as fast as the sink accepts.
            stop: optional event that ends the replay early.
            progress: optional callback with the number of samples (per device) sent so far.

        Raises:
            ValueError: for unknown device ids, streams of different lengths, or bad rates/batch sizes.
        """
        if not streams or set(streams) - set(self.encoders):
            raise ValueError(
                f"streams must be keyed by emulated device ids {sorted(self.encoders)}, got {sorted(streams)}"
            )
        lengths = {d: np.shape(s)[0] for d, s in streams.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(
                f"streams must be time-aligned with equal lengths, got {lengths}; trim them first"
            )
        if rate_hz <= 0 or speed <= 0 or not 1 <= batch_samples <= 128:
            raise ValueError(
                f"need rate_hz > 0, speed > 0, 1 <= batch_samples <= 128; got {rate_hz}, {speed}, {batch_samples}"
            )
        n_total = next(iter(lengths.values()))
        period_us = int(round(1e6 / rate_hz))
        stats = ReplayStats()
        wall_start = time.monotonic()
        device_start = self.clock.now_us()
        written_before = self.bytes_written
        for first in range(0, n_total, batch_samples):
            if stop is not None and stop.is_set():
                break
            last = min(first + batch_samples, n_total)
            if realtime:  # a batch can be sent once its last sample exists
                due = wall_start + (last / rate_hz) / speed
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            for device, data in streams.items():
                block = np.asarray(data[first:last])
                scale = np.ones(block.shape[1], np.float32) if block.dtype == np.int16 else None
                self.send_imu(device, block, period_us, device_start + first * period_us, scale)
                stats.frames += 1
                stats.samples += last - first
            if progress is not None:
                progress(last)
        stats.bytes = self.bytes_written - written_before
        stats.duration_s = time.monotonic() - wall_start
        return stats

    def send_heartbeats(self) -> None:
        """One heartbeat from every device."""
        for device, encoder in self.encoders.items():
            self.send(
                device, Heartbeat(frames_sent=encoder.seq + 1, status_flags=int(self.streaming[device]))
            )


def open_pty() -> tuple[int, int, str]:
    """Open a pseudo-terminal in raw mode.

    Returns:
        (master fd, slave fd, slave path). Give the path to the bridge; keep the slave fd open until the
        bridge has opened the path (otherwise the first bytes may meet a cooked terminal).
    """
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, slave, os.ttyname(slave)


class PtyDevices:
    """Emulated devices on a fresh pseudo-terminal, answering host commands from a background thread.

    Attributes (after ``open()`` / entering the context): ``port`` (path for the bridge) and ``devices``
    (the :class:`EmulatedDevices`, for replay and sending).
    """

    def __init__(self, device_ids: Sequence[int], clock: DeviceClock | None = None) -> None:
        self._device_ids = list(device_ids)
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.port = ""
        self.devices: EmulatedDevices | None = None
        self._fds: tuple[int, int] | None = None

    def open(self) -> PtyDevices:
        master, slave, path = open_pty()
        self._fds = (master, slave)
        self.port = path
        self.devices = EmulatedDevices(master, self._device_ids, self._clock)
        self._thread = threading.Thread(target=self._serve, name="emulated-devices", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._fds is not None and self.devices is not None
        master = self._fds[0]
        while not self._stop.is_set():
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    data = os.read(master, 4096)
                except OSError:
                    return
                self.devices.handle_host_bytes(data)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._fds is not None:
            for fd in self._fds:
                os.close(fd)
            self._fds = None

    def __enter__(self) -> PtyDevices:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["DeviceClock", "EmulatedDevices", "PtyDevices", "ReplayStats", "open_pty"]
