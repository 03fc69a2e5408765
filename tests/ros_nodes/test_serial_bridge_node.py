"""serial_bridge_node in its own process: emulated devices on a real pseudo-terminal (firmware_bridge
protocol) -> sensor_msgs/Imu per device, stamped in host time, with bad samples dropped and counted."""

from __future__ import annotations

import os
import select
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.ros_nodes.ros_harness import Probe, node_log, start_node, stop_node

NODE = "serial_bridge_node"
RATE_HZ = 50.0


class PtyServer:
    """Emulated devices (firmware_bridge.EmulatedDevices) on a pty master; answers host commands."""

    def __init__(self, device_ids: list[int]) -> None:
        from firmware_bridge import EmulatedDevices, open_pty

        self.master, self.slave, self.port = open_pty()
        self.devices = EmulatedDevices(self.master, device_ids)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    self.devices.handle_host_bytes(os.read(self.master, 4096))
                except OSError:
                    return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        os.close(self.master)
        os.close(self.slave)


@pytest.mark.ros
def test_serial_bridge_publishes_host_stamped_imu_and_counts_bad_samples(tmp_path: Path) -> None:
    from sensor_msgs.msg import Imu

    from firmware_bridge.synthetic import synthetic_imu_raw

    server = PtyServer([1, 2])
    proc = start_node(
        NODE,
        tmp_path,
        {
            "port": server.port,
            "device_ids": [1, 2],
            "device_names": ["left_wrist", "hip"],
            "sync_interval_s": 0.05,
            "diagnostics_period_s": 0.5,
        },
    )
    probe = Probe()
    try:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        deep = QoSProfile(depth=2000, reliability=ReliabilityPolicy.BEST_EFFORT)
        probe.subscribe(Imu, "left_wrist/imu", deep)
        probe.subscribe(Imu, "hip/imu", deep)
        probe.subscribe(DiagnosticArray, "/diagnostics")
        assert server.devices.streaming_event.wait(60), node_log(tmp_path, NODE)
        assert probe.spin_until(
            lambda: (
                probe.node.count_publishers("left_wrist/imu") > 0
                and probe.node.count_publishers("hip/imu") > 0
            ),
            30,
        )

        def synced() -> bool:
            values = probe.diagnostics(NODE)
            return values is not None and values.get("clock.1.synced") == "True"

        assert probe.spin_until(synced, 30), node_log(tmp_path, NODE)
        probe.spin_for(0.5)  # let DDS finish matching both readers

        n = 100
        wrist = synthetic_imu_raw(0, n).astype(np.float32) / 100.0  # (n, 6) accel xyz, gyro xyz
        hip = synthetic_imu_raw(1000, n).astype(np.float32) / 100.0
        wrist[10, 4] = np.nan  # one NaN gyro sample
        sent_at = time.time()
        replay = threading.Thread(
            target=server.devices.replay, args=({1: wrist, 2: hip}, RATE_HZ), kwargs={"batch_samples": 5}
        )
        replay.start()
        while replay.is_alive():
            probe.spin_for(0.05)
        replay.join()
        # A batch from device 2 stamped 1 s in the past: its samples go backwards in host time.
        now_us = server.devices.clock.now_us()
        server.devices.send_imu(2, hip[:3], int(1e6 / RATE_HZ), now_us - 1_000_000)
        os.write(server.master, b"\x00\x05garbage-bytes\x13\x00")  # line noise: one bad frame
        server.devices.send_imu(2, hip[:2] + 1.0, int(1e6 / RATE_HZ), now_us + 50_000)

        def all_received() -> bool:
            return len(probe.received["left_wrist/imu"]) >= n - 1 and len(probe.received["hip/imu"]) >= n + 2

        assert probe.spin_until(all_received, 30), (
            f"{len(probe.received['left_wrist/imu'])} wrist, {len(probe.received['hip/imu'])} hip\n"
            + node_log(tmp_path, NODE)
        )

        def counted() -> bool:
            values = probe.diagnostics(NODE)
            return values is not None and values.get("dropped.hip/imu.out_of_order") == "3"

        assert probe.spin_until(counted, 20), probe.diagnostics(NODE)
        values = probe.diagnostics(NODE)
        assert values is not None
        assert values["dropped.left_wrist/imu.non_finite"] == "1"
        assert int(values["frames_bad"]) >= 1 and int(values["crc_errors"]) + int(values["resyncs"]) >= 1
        assert values["published.left_wrist"] == str(n - 1) and values["published.hip"] == str(n + 2)
        assert values["clock.2.synced"] == "True"

        wrist_msgs = probe.received["left_wrist/imu"]
        assert len(wrist_msgs) == n - 1
        assert {m.header.frame_id for m in wrist_msgs} == {"left_wrist"}
        kept = np.delete(wrist, 10, axis=0)
        accel = np.array(
            [[m.linear_acceleration.x, m.linear_acceleration.y, m.linear_acceleration.z] for m in wrist_msgs]
        )
        gyro = np.array(
            [[m.angular_velocity.x, m.angular_velocity.y, m.angular_velocity.z] for m in wrist_msgs]
        )
        np.testing.assert_allclose(accel, kept[:, :3], rtol=1e-6)
        np.testing.assert_allclose(gyro, kept[:, 3:], rtol=1e-6)
        assert all(m.orientation_covariance[0] == -1.0 for m in wrist_msgs)
        stamps = np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in wrist_msgs])
        assert np.all(np.diff(stamps) > 0)
        # Host-time stamps: the sample period survives the clock mapping, and stamps lie in wall time.
        assert np.median(np.diff(stamps)) == pytest.approx(1.0 / RATE_HZ, abs=1e-3)
        assert sent_at - 1.0 < stamps[0] < sent_at + 2.0
        hip_last = probe.received["hip/imu"][-1]
        assert hip_last.linear_acceleration.x == pytest.approx(float(hip[1, 0] + 1.0), rel=1e-6)
    finally:
        probe.close()
        rc = stop_node(proc)
        server.close()
    assert rc == 0, node_log(tmp_path, NODE)
