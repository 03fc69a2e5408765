"""SerialBridge robustness on a real pseudo-terminal: bad input is dropped and counted, never fatal."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from firmware_bridge import (
    BridgeConfig,
    Heartbeat,
    ImuBatch,
    PtyDevices,
    ReceivedMessage,
    SerialBridge,
    TimeSyncResponse,
    encode_frame,
)


def _wait_for(predicate, timeout_s: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_garbage_absurd_times_and_a_failing_callback_do_not_stop_the_reader() -> None:
    calls: list[int] = []

    def callback(message: ReceivedMessage) -> None:
        calls.append(message.seq)
        raise RuntimeError("user bug")

    with PtyDevices([1]) as link:
        assert link.devices is not None and link._fds is not None
        master = link._fds[0]
        with SerialBridge(link.port, config=BridgeConfig(sync_interval_s=0), on_message=callback) as bridge:
            os.write(master, os.urandom(3000) + b"\x00")
            # CRC-valid frames with impossible device times: a sync response, then (once a sane response
            # has synced the clock) a heartbeat whose time cannot be mapped.
            os.write(master, encode_frame(TimeSyncResponse(1, 10, 2**64 - 1), 1, 0, 2**64 - 1))
            now_us = int(time.monotonic() * 1e6)
            os.write(master, encode_frame(TimeSyncResponse(2, now_us, 1000), 1, 1, 1000))
            os.write(master, encode_frame(Heartbeat(frames_sent=99), 1, 2, 2**64 - 1))
            link.devices.encoders[1].seq = 3
            link.devices.send(1, Heartbeat(frames_sent=5))
            message = bridge.get(timeout_s=5.0)
            assert message is not None and isinstance(message.body, Heartbeat)
            assert message.body.frames_sent == 5
            assert bridge.running and bridge.error is None
            stats = bridge.stats()
    assert stats["frames_bad"] >= 1 and stats["sync_rejected"] == 1 and stats["handler_errors"] == 1
    assert stats["callback_errors"] == 1 and calls


def test_imu_host_times_fall_back_to_receive_time_before_sync() -> None:
    with PtyDevices([2]) as link:
        assert link.devices is not None
        with SerialBridge(link.port, config=BridgeConfig(sync_interval_s=0)) as bridge:
            link.devices.send_imu(2, np.ones((5, 3), np.float32), 10_000, device_time_us=123)
            message = bridge.get(timeout_s=5.0)
    assert message is not None and not message.synced
    times = message.sample_host_times()
    np.testing.assert_allclose(np.diff(times), 0.01)
    assert abs(times[-1] - message.receive_time_s) < 1e-9  # last sample stamped at arrival
    with pytest.raises(TypeError, match="IMU batch"):
        ReceivedMessage(2, message.msg_type, 0, 0, 0.0, 0.0, False, Heartbeat()).sample_host_times()


def test_full_queue_drops_oldest_and_counts() -> None:
    with PtyDevices([3]) as link:
        assert link.devices is not None
        config = BridgeConfig(sync_interval_s=0, queue_size=5)
        with SerialBridge(link.port, config=config) as bridge:
            for k in range(20):
                link.devices.send_imu(3, np.full((1, 3), k, np.float32), 1000, device_time_us=k)
            assert _wait_for(lambda: bridge.stats()["frames_ok"] == 20)
            kept = [m.body.raw[0, 0] for m in bridge.messages(timeout_s=0.2) if isinstance(m.body, ImuBatch)]
            assert bridge.stats()["queue_dropped"] == 15
    assert kept == [15, 16, 17, 18, 19]


def test_opening_a_missing_port_says_what_to_check() -> None:
    bridge = SerialBridge("/dev/does-not-exist-robossl")
    with pytest.raises(OSError, match="cannot open serial port"):
        bridge.start()


def test_bad_config_is_rejected_with_a_fix() -> None:
    with pytest.raises(ValueError, match="queue_size"):
        BridgeConfig(queue_size=0)
