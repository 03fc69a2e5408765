"""`robossl launch`: serial_bridge_node + har_node in ONE process (MultiThreadedExecutor) from a parameter
file; emulated IMU devices on a real pseudo-terminal feed the bridge, whose topics feed ColloSSL; SIGINT
stops both and saves the HAR model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.ros_nodes.ros_harness import Probe
from tests.ros_nodes.test_serial_bridge_node import PtyServer

NAMES = ["hip", "wrist", "ankle", "thigh"]


@pytest.mark.ros
@pytest.mark.slow
def test_launch_runs_bridge_and_har_in_one_process(tmp_path: Path) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float32MultiArray

    from robossl.online.checkpoint import load_checkpoint

    server = PtyServer([1, 2, 3, 4])
    model = tmp_path / "har.pt"
    names = ", ".join(NAMES)
    config = tmp_path / "launch.yaml"
    config.write_text(
        f"serial_bridge_node:\n  ros__parameters:\n    port: {server.port}\n    device_ids: [1, 2, 3, 4]\n"
        f"    device_names: [{names}]\n"
        f"har_node:\n  ros__parameters:\n    imu_topics: [{', '.join(n + '/imu' for n in NAMES)}]\n"
        f"    device_names: [{names}]\n    anchor_device: hip\n    class_names: [rest, move]\n"
        f"    sample_rate_hz: 50.0\n    min_windows: 4\n    batch_size: 4\n    predict_every_s: 0.2\n"
        f"    model_path: {model}\n"
    )
    log = open(tmp_path / "launch.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "robossl.cli.main", "launch", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    probe = Probe()
    try:
        probe.subscribe(Float32MultiArray, "activity/embedding", 200)
        probe.subscribe(DiagnosticArray, "/diagnostics")
        assert server.devices.streaming_event.wait(90), (tmp_path / "launch.log").read_text()
        # The bridge streams as soon as it starts; replay once har_node (created second) is up too.
        assert probe.spin_until(lambda: probe.diagnostics("har_node") is not None, 60)
        probe.spin_for(0.5)
        t = np.arange(250) / 50.0
        streams = {
            d + 1: np.stack([np.sin(2 * np.pi * (d + 1) * t + c) for c in range(6)], axis=1).astype(
                np.float32
            )
            for d in range(4)
        }
        replay = threading.Thread(
            target=server.devices.replay, args=(streams, 50.0), kwargs={"batch_samples": 5}
        )
        replay.start()
        while replay.is_alive():
            probe.spin_for(0.05)
        assert probe.spin_until(lambda: len(probe.received["activity/embedding"]) >= 10, 30), (
            tmp_path / "launch.log"
        ).read_text()
    finally:
        probe.close()
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
        server.close()
    text = (tmp_path / "launch.log").read_text()
    assert rc == 0, text
    assert "starting serial_bridge_node, har_node" in text
    assert "saved model to" in text and tuple(
        load_checkpoint(model)["learner"]["config"]["device_names"]
    ) == tuple(NAMES)
    assert not os.path.exists(str(model) + ".tmp")


@pytest.mark.ros
def test_launch_refuses_a_config_with_an_unknown_parameter_before_starting(tmp_path: Path) -> None:
    config = tmp_path / "launch.yaml"
    config.write_text(
        "/**:\n  ros__parameters:\n    diagnostics_period_s: 2.0\n"
        "har_node:\n  ros__parameters:\n    class_names: [rest, move]\n    cpu_fractoin: 0.5\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "robossl.cli.main", "launch", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout.startswith(
        f"robossl launch: {config}: har_node (for har_node): unknown parameter 'cpu_fractoin' "
        "(did you mean 'cpu_fraction'?); known: anchor_device, batch_size, "
    ), proc.stdout
    assert "starting" not in proc.stdout  # refused before any node started
    wildcard = tmp_path / "wildcard.yaml"
    wildcard.write_text("/**:\n  ros__parameters:\n    port: /dev/null\nhar_node:\n  ros__parameters: {}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "robossl.cli.main", "launch", str(wildcard)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "/** (for har_node): unknown parameter 'port'" in proc.stdout, proc.stdout
