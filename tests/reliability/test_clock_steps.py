"""Issue 23, items 1 and 10 (second half): clock steps and future stamps must not silence a stream.

The stamp policy of ``InputMonitor.accept_stamp`` (used by every node), the device clock mapping of the
serial bridge (``ClockSync`` and ``SerialBridge`` on a real pseudo-terminal), the bridge's stamps before a
clock fit exists, and one node end to end over loopback DDS (inside ``robossl-sandbox``).
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge import (
    ClockSync,
    DeviceClock,
    EmulatedDevices,
    ImuBatch,
    PtyDevices,
    ReceivedMessage,
    SerialBridge,
    open_pty,
)
from robossl_ros.diagnostics import InputMonitor

DAY_NS = 86_400 * 10**9
FUTURE_S = 11.6 * 86_400  # the future stamp the fault suite found: 11.6 days ahead
MS = 1_000_000  # nanoseconds per millisecond


class NodeClock:
    """The node's clock in nanoseconds, moved by the test (the real one would make the policy flaky)."""

    def __init__(self, now_ns: int = 1_700_000_000 * 10**9) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns


# -- the node-side policy (no ROS) --------------------------------------------------------------------------


def test_future_stamp_is_dropped_counted_and_never_becomes_the_reference() -> None:
    clock = NodeClock()
    monitor = InputMonitor(stamp_clock=clock, max_future_s=1.0)
    accepted = []
    for k in range(20):  # 50 Hz stream stamped with the node clock
        clock.now_ns += 20 * MS
        stamp = clock.now_ns + (int(FUTURE_S * 1e9) if k == 5 else 0)
        accepted.append(monitor.accept_stamp("imu", stamp))
    assert accepted == [True] * 5 + [False] + [True] * 14  # valid input accepted again right after
    assert monitor.dropped_counts() == {"imu": {"future_stamp": 1}}
    assert monitor.values()["dropped.imu.future_stamp"] == "1"
    # A source whose clock runs steadily 5 s ahead of ours (another machine, no NTP) is not silenced:
    # once three stamps agree it becomes the reference (a clock jump), and its stamps flow again.
    ahead = [monitor.accept_stamp("imu", clock.now_ns + 5 * 10**9 + k * 20 * MS) for k in range(10)]
    assert ahead == [False, False] + [True] * 8
    assert monitor.clock_jumps("imu") == 1 and monitor.values()["clock_jump.imu"] == "1"
    assert monitor.dropped_counts()["imu"] == {"future_stamp": 3}


def test_backwards_clock_step_reanchors_once_three_stamps_agree_and_counts_a_clock_jump() -> None:
    clock = NodeClock()
    monitor = InputMonitor(stamp_clock=clock, max_future_s=1.0)
    for _ in range(10):
        clock.now_ns += 20 * MS
        assert monitor.accept_stamp("audio", clock.now_ns)
    # One stale message 5 s old and a repeated stamp: ordinary out-of-order drops, no re-anchoring.
    assert not monitor.accept_stamp("audio", clock.now_ns - 5 * 10**9)
    assert not monitor.accept_stamp("audio", clock.now_ns)
    clock.now_ns += 20 * MS
    assert monitor.accept_stamp("audio", clock.now_ns)
    assert monitor.clock_jumps("audio") == 0
    # The source's clock steps back by an hour (a microcontroller reboot, an NTP/PTP correction) and stays.
    step_ns = 3600 * 10**9
    results = []
    for _ in range(10):
        clock.now_ns += 20 * MS
        results.append(monitor.accept_stamp("audio", clock.now_ns - step_ns))
    assert results == [False, False] + [True] * 8
    assert monitor.clock_jumps("audio") == 1
    assert monitor.dropped_counts() == {"audio": {"out_of_order": 4}}
    # Stamps that only disagree by less than max_future_s are ordinary reordering, never a clock jump.
    reference = clock.now_ns - step_ns
    assert [monitor.accept_stamp("audio", reference - k * MS) for k in (30, 20, 10)] == [False] * 3
    assert monitor.clock_jumps("audio") == 1


def test_clock_step_recovery_s_stays_under_one_second() -> None:
    from robossl_ros.diagnostics import clock_step_recovery_s

    rate_hz = 50.0
    # One stamp 11.6 days ahead: the very next message is accepted.
    assert clock_step_recovery_s(FUTURE_S, rate_hz) == pytest.approx(1.0 / rate_hz)
    # One stamp just inside the tolerance becomes the reference; the stream passes it within that time.
    assert clock_step_recovery_s(0.9, rate_hz) <= 0.9 + 1.0 / rate_hz
    # The source clock steps back an hour and stays there: the third agreeing stamp is accepted.
    assert clock_step_recovery_s(-3600.0, rate_hz) == pytest.approx(2.0 / rate_hz)
    assert all(clock_step_recovery_s(s, r) <= 1.0 for s in (FUTURE_S, -3600.0, 0.9) for r in (10.0, 100.0))


# -- the serial bridge: clock sync, device reboot, future device time, stamps before sync ------------------


def test_clock_sync_reanchors_after_a_device_reboot_and_ignores_one_future_device_time() -> None:
    sync = ClockSync()
    offset_s = -5000.0  # host clock minus device clock before the reboot
    for k in range(100):  # 10 Hz for 10 s, 1 ms round trips
        t1 = 100.0 + 0.1 * k
        device_us = int((t1 + 0.0005 - offset_s) * 1e6)
        sync.add_round_trip(t1, device_us, device_us + 20, t1 + 0.001)
    assert sync.device_to_host(int((110.0 - offset_s) * 1e6)) == pytest.approx(110.0, abs=1e-3)
    # One CRC-valid response with a device time 11.6 days ahead: held back, the mapping does not move.
    t1 = 110.0
    bogus_us = int((t1 - offset_s + FUTURE_S) * 1e6)
    sync.add_round_trip(t1, bogus_us, bogus_us + 20, t1 + 0.001)
    assert sync.device_to_host(int((110.1 - offset_s) * 1e6)) == pytest.approx(110.1, abs=1e-3)
    assert sync.clock_jumps == 0
    # The device reboots at host time 110.2 s: its counter restarts at zero.
    reboot_s = 110.2
    for k in range(3):
        t1 = reboot_s + 0.1 * k
        device_us = int((t1 + 0.0005 - reboot_s) * 1e6)
        sync.add_round_trip(t1, device_us, device_us + 20, t1 + 0.001)
    assert sync.clock_jumps == 1
    assert sync.device_to_host(300_000) == pytest.approx(reboot_s + 0.3, abs=1e-3)


class Streamer:
    """Sends 5-sample IMU batches at 100 Hz in real time from a thread, like a device streaming.

    Each batch is stamped with the device clock at send time (last sample = now). Sample values carry the
    batch number, so each received sample maps back to the host time it was sent at.
    """

    PERIOD_US = 10_000
    SAMPLES = 5

    def __init__(self, devices: EmulatedDevices, device_id: int = 1) -> None:
        self.devices = devices
        self.device_id = device_id
        self.sent_at: list[float] = []  # host time (time.monotonic) when batch k was sent

    def batch(self, device_time_us: int | None = None) -> None:
        k = len(self.sent_at)
        last_us = self.devices.clock.now_us() if device_time_us is None else device_time_us
        raw = np.full((self.SAMPLES, 6), float(k), np.float32)
        self.sent_at.append(time.monotonic())
        first_us = last_us - (self.SAMPLES - 1) * self.PERIOD_US
        self.devices.send_imu(self.device_id, raw, self.PERIOD_US, first_us)

    def stream(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(self.SAMPLES * self.PERIOD_US * 1e-6)  # batches never overlap in device time
            self.batch()


def _collect(bridge: SerialBridge, timeout_s: float = 1.0) -> list[ReceivedMessage]:
    return [m for m in bridge.messages(timeout_s) if isinstance(m.body, ImuBatch)]


def _accept_all(messages: list[ReceivedMessage]) -> list[tuple[int, float, float, bool]]:
    """Run every sample through a node's stamp policy, as serial_bridge_node does on arrival.

    Returns (batch number, stamp [s], receive time [s], accepted) per sample.
    """
    now = NodeClock(0)
    monitor = InputMonitor(stamp_clock=now)
    out = []
    for message in messages:
        now.now_ns = int(message.receive_time_s * 1e9)
        assert isinstance(message.body, ImuBatch)
        batch = int(message.body.values[0, 0])
        for stamp in message.sample_host_times():
            out.append(
                (batch, float(stamp), message.receive_time_s, monitor.accept_stamp("imu", int(stamp * 1e9)))
            )
    return out


def _wait_synced(bridge: SerialBridge, device: int = 1, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not bridge.clock_sync(device).is_synced:
        time.sleep(0.02)
    assert bridge.clock_sync(device).is_synced, "emulated device never answered time sync"


def test_bridge_stamps_recover_within_a_second_of_a_device_reboot() -> None:
    with PtyDevices([1], clock=DeviceClock(offset_us=5_000_000_000)) as link:
        assert link.devices is not None
        streamer = Streamer(link.devices)
        with SerialBridge(link.port) as bridge:
            streamer.batch()
            _wait_synced(bridge)
            streamer.stream(1.0)
            reboot_batch, reboot_at = len(streamer.sent_at), time.monotonic()
            link.devices.clock = DeviceClock(offset_us=50_000)  # the counter restarts from zero
            streamer.stream(2.0)
            messages = _collect(bridge)
            stats = bridge.stats()
    samples = _accept_all(messages)
    before = [s for s in samples if s[0] < reboot_batch]
    assert len(before) == Streamer.SAMPLES * reboot_batch and all(ok for *_, ok in before)
    late = [b for b, sent in enumerate(streamer.sent_at) if sent > reboot_at + 1.0]
    settled = [s for s in samples if s[0] in late]
    assert len(late) >= 10 and len(settled) == Streamer.SAMPLES * len(late)
    assert all(accepted for _, _, _, accepted in settled), "samples still dropped 1 s after the reboot"
    # Accepted samples are stamped in true host time (not 5000 s in the past): the last sample of each
    # batch was taken when the batch was sent.
    errors = [abs(stamp - streamer.sent_at[b]) for b, stamp, _, ok in settled if ok]
    assert max(errors) < 0.1
    assert stats["devices"][1]["clock_jumps"] >= 1


def test_bridge_drops_one_frame_with_a_future_device_time_and_keeps_stamping() -> None:
    with PtyDevices([1], clock=DeviceClock(offset_us=10_000_000)) as link:
        assert link.devices is not None
        streamer = Streamer(link.devices)
        with SerialBridge(link.port) as bridge:
            streamer.batch()
            _wait_synced(bridge)
            streamer.stream(0.5)
            bogus = len(streamer.sent_at)
            streamer.batch(link.devices.clock.now_us() + int(FUTURE_S * 1e6))  # CRC-valid, 11.6 days ahead
            streamer.stream(1.0)
            messages = _collect(bridge)
            stats = bridge.stats()
    samples = _accept_all(messages)
    assert {b for b, *_ in samples} == set(range(len(streamer.sent_at))) - {bogus}
    assert all(accepted for *_, accepted in samples), "valid samples dropped after the future frame"
    assert stats["future_device_time"] == 1


def test_bridge_stamps_a_backlog_in_device_order_before_any_time_sync() -> None:
    """160 samples from a device that never answers time sync arrive in one burst (the bridge started
    late): each sample must get its own increasing stamp, at or before the arrival."""
    master, slave, port = open_pty()  # nobody reads the master: time-sync requests stay unanswered
    burst = io.BytesIO()
    streamer = Streamer(EmulatedDevices(burst, [1], DeviceClock(offset_us=10_000_000)))
    batches = 160 // Streamer.SAMPLES
    try:
        with SerialBridge(port) as bridge:
            time.sleep(0.2)
            now_us = streamer.devices.clock.now_us()
            for k in range(batches):  # the last 1.6 s of samples, held back by the device, in one write
                streamer.batch(now_us - (batches - 1 - k) * Streamer.SAMPLES * Streamer.PERIOD_US)
            os.write(master, burst.getvalue())
            messages = _collect(bridge)
            synced = bridge.clock_sync(1).is_synced
    finally:
        os.close(master)
        os.close(slave)
    assert not synced and len(messages) == batches
    samples = _accept_all(messages)
    accepted = sum(ok for *_, ok in samples)
    assert accepted >= 155, f"only {accepted} of 160 samples accepted"
    stamps = np.array([stamp for _, stamp, _, ok in samples if ok])
    assert np.allclose(np.diff(stamps), Streamer.PERIOD_US * 1e-6, atol=1e-6)  # the device's spacing kept
    assert all(stamp <= receive + 1e-6 for _, stamp, receive, _ in samples)  # never after the arrival


# -- one node end to end over loopback DDS --------------------------------------------------------------------


@pytest.mark.ros
@pytest.mark.slow
def test_har_node_accepts_valid_imu_right_after_a_stamp_11_6_days_ahead(tmp_path: Path) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Imu

    from robossl_ros.conversions import imu_msg
    from tests.ros_nodes.ros_harness import Probe, node_log, start_node, stop_node

    node, topics = "har_node", ["wrist/imu", "ankle/imu"]
    proc = start_node(
        node,
        tmp_path,
        {
            "imu_topics": topics,
            "device_names": ["wrist", "ankle"],
            "anchor_device": "wrist",
            "sample_rate_hz": 50.0,
            "min_windows": 512,  # no training: this test is about input acceptance
            "diagnostics_period_s": 0.2,
        },
    )
    probe = Probe()
    try:
        for topic in topics:
            probe.publisher(Imu, topic, 100)
        probe.subscribe(DiagnosticArray, "/diagnostics")
        probe.wait_for_subscribers(topics, timeout=60)
        probe.spin_for(0.5)
        sample = np.array([0.1, 0.2, 0.3, 0.0, 0.0, 9.81])
        sent = 0
        for k in range(60):
            stamp = time.time_ns() + (int(FUTURE_S * 1e9) if k == 20 else 0)
            probe.publishers["wrist/imu"].publish(imu_msg(sample, stamp, "wrist"))
            sent += 1
            probe.spin_for(0.02)

        def counted() -> bool:
            values = probe.diagnostics(node)
            return values is not None and values.get("received.wrist/imu") == str(sent)

        assert probe.spin_until(counted, 20), f"{probe.diagnostics(node)}\n{node_log(tmp_path, node)}"
        probe.spin_for(0.5)
        values = probe.diagnostics(node)
        assert values is not None
        dropped = {k: v for k, v in values.items() if k.startswith("dropped.wrist/imu.")}
        assert dropped == {"dropped.wrist/imu.future_stamp": "1"}, values
    finally:
        probe.close()
        rc = stop_node(proc)
    assert rc == 0, node_log(tmp_path, node)
