"""SerialBridge: one reader thread owns the port, decodes frames, keeps each device's clock in sync and
hands out :class:`ReceivedMessage` objects stamped in host time.

Example::

    from firmware_bridge import SerialBridge, ImuBatch

    with SerialBridge("/dev/ttyACM0", baudrate=921600) as bridge:
        bridge.start_streaming()
        for msg in bridge.messages(timeout_s=1.0):
            if isinstance(msg.body, ImuBatch):
                times = msg.sample_host_times()   # (N,) host seconds
                values = msg.body.values          # (N, C) float32, m/s^2 and rad/s
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from firmware_bridge import fastpath
from firmware_bridge.clock_sync import ClockSync, ClockSyncConfig
from firmware_bridge.messages import (
    AudioChunk,
    Body,
    ConfigAck,
    ConfigCommand,
    ConfigKey,
    ImuBatch,
    Message,
    MessageType,
    TimeSyncRequest,
    TimeSyncResponse,
)
from firmware_bridge.protocol import FrameEncoder, StreamDecoder
from firmware_bridge.received import ReceivedMessage, sample_times_us, span_us
from firmware_bridge.repeats import RepeatFilter
from firmware_bridge.stamping import HostStamper

log = logging.getLogger(__name__)

BROADCAST_DEVICE = 0xFF  # device id every device accepts commands for
MAX_READ_BYTES = 1 << 16  # most bytes gathered into one read (one receive time)
HOST_ID = 0  # device id written into host-to-device frames' sender counter (frames are addressed by id)


@dataclass
class BridgeConfig:
    """Settings of :class:`SerialBridge`."""

    baudrate: int = 921600  # bit/s (pseudo-terminals and USB CDC ignore it)
    read_timeout_s: float = 0.02  # longest the reader waits for a byte before doing housekeeping
    sync_interval_s: float = 0.1  # time-sync request period per device, seconds; 0 turns sync off
    queue_size: int = (
        100_000  # messages held for get()/messages(); when full the oldest is dropped and counted
    )
    clock_sync: ClockSyncConfig = field(default_factory=ClockSyncConfig)  # per-device clock estimator
    deliver_sync_responses: bool = False  # also hand TIME_SYNC_RESPONSE messages to get()/on_message
    max_future_s: float = 1.0  # a message stamped this long after it arrived is dropped, seconds
    max_age_s: float = 5.0  # a message whose last sample is stamped this long before arrival is dropped
    clock_step_confirmations: int = 3  # consecutive implausible messages that drop a device's clock fit
    repeat_window_samples: int = 4096  # device times remembered per device and stream to mark re-sent samples

    def __post_init__(self) -> None:
        if self.read_timeout_s <= 0 or self.sync_interval_s < 0 or self.queue_size < 1:
            raise ValueError(
                "read_timeout_s must be > 0, sync_interval_s >= 0 and queue_size >= 1, got "
                f"{self.read_timeout_s}, {self.sync_interval_s}, {self.queue_size}"
            )
        if not (self.max_future_s > 0 and self.max_age_s > 0 and self.clock_step_confirmations >= 1):
            raise ValueError(
                "max_future_s and max_age_s must be > 0 s and clock_step_confirmations >= 1, got "
                f"{self.max_future_s}, {self.max_age_s}, {self.clock_step_confirmations}"
            )
        if self.repeat_window_samples < 1:
            raise ValueError(f"repeat_window_samples must be >= 1, got {self.repeat_window_samples}")


class SerialBridge:
    """Reads a serial link in a background thread and yields decoded, host-stamped messages.

    Args:
        port: a device path or pyserial URL (opened with pyserial), or an already open object with
            ``read``/``write``/``close``/``in_waiting`` (e.g. for tests).
        baudrate: line speed, bit/s; overrides ``config.baudrate``.
        config: bridge settings.
        on_message: optional callback run in the reader thread for every message (keep it short);
            its exceptions are logged and counted, never raised into the reader.
        clock: host clock in seconds used for all stamps (``time.monotonic`` by default; pass
            ``time.time`` or a ROS clock for wall time).
    """

    def __init__(
        self,
        port: Any,
        baudrate: int | None = None,
        config: BridgeConfig | None = None,
        on_message: Callable[[ReceivedMessage], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or BridgeConfig()
        if baudrate is not None:
            self.config.baudrate = baudrate
        self._port_arg = port
        self._port: Any = None
        self._on_message = on_message
        self._clock = clock
        self._decoder = StreamDecoder()
        self._encoder = FrameEncoder(HOST_ID)
        self._write_lock = threading.Lock()
        self._queue: queue.Queue[ReceivedMessage] = queue.Queue(self.config.queue_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._clocks: dict[int, ClockSync] = {}
        self._stamper = HostStamper(
            self.clock_sync,
            self.config.max_future_s,
            self.config.max_age_s,
            self.config.clock_step_confirmations,
        )
        self._repeats = RepeatFilter(self.config.repeat_window_samples)
        self._acks: dict[int, ConfigAck] = {}
        self._ack_cond = threading.Condition()
        self._next_command_id = 1
        self._next_request_id = 1
        self._next_sync_s = 0.0
        self._counters = {
            "queue_dropped": 0,  # messages dropped because nobody emptied the queue
            "callback_errors": 0,  # on_message raised
            "handler_errors": 0,  # valid frames whose content could not be used (e.g. absurd times)
            "sync_requests": 0,  # time-sync requests sent
            "sync_responses": 0,  # time-sync responses received
            "sync_rejected": 0,  # time-sync responses with impossible stamps
            "repeated_samples": 0,  # delivered samples marked `repeated` (sent again with the same time)
        }
        self.error: BaseException | None = None  # what stopped the reader, if it stopped by itself

    # lifecycle -------------------------------------------------------------------------------------
    def start(self) -> SerialBridge:
        """Open the port (if given as a path) and start the reader thread."""
        if self._thread is not None:
            raise RuntimeError("bridge already started; create a new SerialBridge to reconnect")
        fastpath.warm_up()  # compile / load the decoder before bytes pile up in the port
        if isinstance(self._port_arg, str):
            from firmware_bridge.transport import open_serial  # the only pyserial user

            self._port = open_serial(self._port_arg, self.config.baudrate, self.config.read_timeout_s)
        else:
            self._port = self._port_arg
        self._thread = threading.Thread(target=self._run, name="firmware-bridge-reader", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the reader thread and close the port (when the bridge opened it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        if self._port is not None and isinstance(self._port_arg, str):
            self._port.close()

    def __enter__(self) -> SerialBridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # receiving -------------------------------------------------------------------------------------
    def get(self, timeout_s: float | None = None) -> ReceivedMessage | None:
        """Next message, or None after ``timeout_s`` seconds without one."""
        try:
            return self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def messages(self, timeout_s: float = 1.0) -> Iterator[ReceivedMessage]:
        """Yield messages until none arrives for ``timeout_s`` seconds or the bridge stops."""
        while True:
            message = self.get(timeout_s)
            if message is None:
                return
            yield message

    def clock_sync(self, device_id: int) -> ClockSync:
        """The clock mapping of one device (created on its first frame)."""
        return self._clocks.setdefault(device_id, ClockSync(self.config.clock_sync))

    def stats(self) -> dict[str, Any]:
        """Decoder counters (CRC failures, sequence gaps, resyncs, ...) plus bridge counters and the
        per-device clock state."""
        out: dict[str, Any] = {**self._decoder.stats.as_dict(), **self._counters, **self._stamper.dropped}
        out["devices"] = {
            device: {
                "synced": c.is_synced,
                "drift_ppm": c.drift_ppm,
                "last_rtt_s": c.last_rtt_s,
                "clock_jumps": c.clock_jumps + self._stamper.clock_jumps(device),
            }
            for device, c in sorted(self._clocks.items())
        }
        return out

    # sending ---------------------------------------------------------------------------------------
    def send(self, body: Body, device_id: int = BROADCAST_DEVICE) -> None:
        """Send a host-to-device message (thread-safe). ``device_id`` addresses the device."""
        with self._write_lock:
            self._encoder.device_id = device_id
            data = self._encoder.encode(body, 0)
            self._port.write(data)

    def send_raw(self, data: bytes) -> None:
        """Write bytes to the port unchanged (thread-safe); for link tests, e.g. injecting garbage."""
        with self._write_lock:
            self._port.write(bytes(data))

    def configure(
        self, key: ConfigKey | int, value: int, device_id: int = BROADCAST_DEVICE, timeout_s: float = 1.0
    ) -> ConfigAck:
        """Send a configuration command and wait for its acknowledgement.

        Raises:
            TimeoutError: no ack within ``timeout_s`` (device absent, wrong id, or link down).
        """
        with self._ack_cond:
            command_id = self._next_command_id
            self._next_command_id = (self._next_command_id % 0xFFFF) + 1
        self.send(ConfigCommand(command_id, int(key), 0, value), device_id)
        deadline = time.monotonic() + timeout_s
        with self._ack_cond:
            while command_id not in self._acks:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.running:
                    raise TimeoutError(
                        f"no CONFIG_ACK for {ConfigKey(key).name}={value} from device {device_id} within "
                        f"{timeout_s} s: check the device id, that it is powered, and the port"
                    )
                self._ack_cond.wait(remaining)
            return self._acks.pop(command_id)

    def start_streaming(self, device_id: int = BROADCAST_DEVICE, timeout_s: float = 1.0) -> ConfigAck:
        """Ask the device(s) to start sending IMU batches."""
        return self.configure(ConfigKey.STREAMING, 1, device_id, timeout_s)

    def request_time_sync(self, device_id: int = BROADCAST_DEVICE) -> None:
        """Send one time-sync request now (the reader also sends them every ``sync_interval_s``)."""
        request_id = self._next_request_id
        self._next_request_id = (self._next_request_id + 1) & 0xFFFFFFFF
        host_us = int(round(self._clock() * 1e6))
        self.send(TimeSyncRequest(request_id, host_us & 0xFFFFFFFFFFFFFFFF), device_id)
        self._counters["sync_requests"] += 1

    # reader thread ---------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self.config.sync_interval_s > 0 and self._clock() >= self._next_sync_s:
                    self._next_sync_s = self._clock() + self.config.sync_interval_s
                    for device in list(self._clocks) or [BROADCAST_DEVICE]:
                        self.request_time_sync(device)
                data = self._read_burst()
                if data:
                    self._handle(self._decoder.feed(data), self._clock())
        except OSError as exc:  # port vanished (unplugged, closed); pyserial's errors are OSErrors
            self.error = exc
            log.error("serial bridge reader stopped: %s", exc)

    def _read_burst(self) -> bytes:
        """Bytes that arrived together: what is waiting, plus the rest of a frame cut off by the driver.

        A device writes whole frames; a read that ends inside a frame (not on a 0x00 delimiter) was cut
        by a buffer on the way, so the reader waits (up to ``read_timeout_s``) for the rest. The frames
        then share one receive time, which the arrival-time stamps before clock sync rely on.
        """
        data = self._port.read(self._port.in_waiting or 1)
        while data and len(data) < MAX_READ_BYTES:
            waiting = self._port.in_waiting or (1 if data[-1] != 0 else 0)
            more = self._port.read(waiting) if waiting else b""
            if not more:
                break
            data += more
        return bytes(data)

    def _handle(self, messages: list[Message], receive_time_s: float) -> None:
        self._stamper.observe_arrivals(messages, receive_time_s)
        for message in messages:
            try:
                self._handle_one(message, receive_time_s)
            except (ValueError, OverflowError, TypeError) as exc:  # e.g. absurd device times: drop, count
                self._counters["handler_errors"] += 1
                log.warning("dropped message from device %d: %s", message.header.device_id, exc)

    def _handle_one(self, message: Message, receive_time_s: float) -> None:
        header, body = message.header, message.body
        clock = self.clock_sync(header.device_id)
        if isinstance(body, TimeSyncResponse):
            self._counters["sync_responses"] += 1
            try:
                clock.add_round_trip(
                    body.host_time_us * 1e-6,
                    body.device_rx_time_us,
                    header.device_time_us,
                    receive_time_s,
                )
            except ValueError as exc:  # out-of-order or absurd stamps: drop this round trip, keep going
                self._counters["sync_rejected"] += 1
                log.warning("dropped time-sync round trip: %s", exc)
            if not self.config.deliver_sync_responses:
                return
        if isinstance(body, ConfigAck):
            with self._ack_cond:
                self._acks[body.command_id] = body
                self._ack_cond.notify_all()
        stamp = self._stamper.stamp(header.device_id, header.device_time_us, span_us(body), receive_time_s)
        if stamp is None:
            return
        host_time, fit = stamp
        repeated = np.zeros(1, dtype=bool)
        if isinstance(body, ImuBatch | AudioChunk):
            repeated = self._repeats.mark((header.device_id, header.msg_type), sample_times_us(header, body))
            self._counters["repeated_samples"] += int(repeated.sum())
        received = ReceivedMessage(
            header.device_id,
            MessageType(header.msg_type),
            header.seq,
            header.device_time_us,
            host_time,
            receive_time_s,
            fit is not None,
            body,
            fit,
            repeated,
        )
        self._deliver(received)

    def _deliver(self, received: ReceivedMessage) -> None:
        if self._on_message is not None:
            try:
                self._on_message(received)
            except Exception:  # a user callback must never kill the reader
                self._counters["callback_errors"] += 1
                log.exception("on_message callback failed")
        while True:
            try:
                self._queue.put_nowait(received)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self._counters["queue_dropped"] += 1
                except queue.Empty:
                    pass
