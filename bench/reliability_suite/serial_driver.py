"""Reliability driver for serial_bridge_node: firmware frames written into a pseudo-terminal: valid traffic and the malformed cases."""

from __future__ import annotations

import math
import os
import select
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.reliability_suite.drivers import FUTURE_S, Case, Driver, Stream
from bench.reliability_suite.ros import NodeProcess, Session


class PtyLink:
    """Emulated devices on a pseudo-terminal master (answering time sync and config), plus raw writes."""

    def __init__(self, device_ids: list[int]) -> None:
        from firmware_bridge import DeviceClock, EmulatedDevices, open_pty

        self.master, self.slave, self.port = open_pty()
        # a device that has been up for a while (its clock far from 0, so earlier stamps exist)
        self.devices = EmulatedDevices(self.master, device_ids, DeviceClock(offset_us=1_000_000_000))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="reliability-pty", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    self.devices.handle_host_bytes(os.read(self.master, 4096))
                except OSError:
                    return

    def write_raw(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view) :]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        os.close(self.master)
        os.close(self.slave)


def serial_driver(session: Session, log_dir: Path) -> Driver:
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Imu

    from firmware_bridge.crc import crc32c
    from firmware_bridge.framing import cobs_encode
    from firmware_bridge.messages import HEADER, PROTOCOL_VERSION, ImuBatch, MessageType, encode_payload

    link = PtyLink([1])
    topic = "wrist/imu"
    process = NodeProcess(
        "serial_bridge_node",
        {
            "port": link.port,
            "device_ids": [1],
            "device_names": ["wrist"],
            "sync_interval_s": 0.05,
            "diagnostics_period_s": 0.1,
        },
        log_dir,
        "serial_bridge_node",
    )
    best_effort = QoSProfile(depth=1000, reliability=ReliabilityPolicy.BEST_EFFORT)
    session.watch(Imu, topic, lambda m: m.header.stamp.sec * 10**9 + m.header.stamp.nanosec, best_effort)
    driver = Driver(session, process, topic, [topic], topic)
    devices = link.devices
    rng = np.random.default_rng(3)
    period_us, batch = 20_000, 5

    def samples(n: int = batch, channels: int = 6) -> np.ndarray:
        return rng.normal(size=(n, channels)).astype(np.float32)

    def first_sample_us(period: int = period_us, n: int = batch) -> int:
        return devices.clock.now_us() - (n - 1) * period

    def publish_batch(_: int) -> None:
        period = int(period_us / driver.rate)
        devices.send_imu(1, samples(), period, first_sample_us(period))
        for _ in range(batch):  # the node counts samples
            driver.count(topic)

    driver.streams.append(Stream(0.1, publish_batch))

    def bad_sample(value: float) -> Callable[[], None]:
        def inject() -> None:
            values = samples()
            values[2, 4] = value
            devices.send_imu(1, values, period_us, first_sample_us())

        return inject

    def crafted(body: bytes, body_len: int | None = None) -> bytes:
        head = HEADER.pack(
            PROTOCOL_VERSION,
            int(MessageType.IMU_BATCH),
            1,
            0,
            0,
            len(body) if body_len is None else body_len,
            devices.clock.now_us(),
        )
        data = head + body
        return b"\x00" + cobs_encode(data + crc32c(data).to_bytes(4, "little")) + b"\x00"

    def crc_error() -> None:
        payload = bytearray(encode_payload(ImuBatch(samples(), period_us), 1, 0, first_sample_us()))
        payload[20] ^= 0x01 if payload[20] != 0x01 else 0x02
        link.write_raw(b"\x00" + cobs_encode(bytes(payload)) + b"\x00")

    def ordered(offset_us: int) -> Callable[[], None]:
        def inject() -> None:
            t = first_sample_us()
            devices.send_imu(1, samples(), period_us, t)
            session.spin_for(0.05)
            devices.send_imu(1, samples(), period_us, t + offset_us)

        return inject

    def future(stamp: int) -> None:
        devices.send_imu(1, samples(), period_us, first_sample_us() + int(FUTURE_S * 1e6))

    good_body = ImuBatch(samples(), period_us).encode_body()
    zero_body = bytearray(good_body[:8])
    zero_body[0:2] = (0).to_bytes(2, "little")  # n_samples = 0
    driver.cases = lambda: [
        Case("sample nan", bad_sample(math.nan), [topic]),
        Case("sample inf", bad_sample(math.inf), [topic]),
        Case(
            "wrong layout (3 channels)",
            lambda: devices.send_imu(1, samples(channels=3), period_us, first_sample_us()),
            [topic],
            batch,
        ),
        Case(
            "wire garbage bytes",
            lambda: link.write_raw(b"\x00\x05garbage-bytes\x13\x00"),
            [topic],
            1,
            ("frames_bad",),
        ),
        Case("wire crc error (one bit flipped)", crc_error, [topic], 1, ("frames_bad",)),
        Case(
            "size_mismatch (body_len != body, CRC valid)",
            lambda: link.write_raw(crafted(good_body, len(good_body) + 6)),
            [topic],
            1,
            ("frames_bad",),
        ),
        Case(
            "zero_size batch (0 samples, CRC valid)",
            lambda: link.write_raw(crafted(bytes(zero_body))),
            [topic],
            1,
            ("frames_bad",),
        ),
        Case("out_of_order (batch 300 ms older)", ordered(-300_000), [topic], batch),
        Case("duplicate stamps (batch sent twice)", ordered(0), [topic], batch),
    ]
    driver.future = future
    driver.close = link.close
    return driver
