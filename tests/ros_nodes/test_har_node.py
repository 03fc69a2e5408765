"""har_node in its own process: 4 IMU devices (ActRecTut walk, or generated when the data is absent) over
real DDS -> activity, scores and embeddings; ColloSSL trains online; NaN and out-of-order samples are
dropped and counted; SIGINT saves the model."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from robossl.data.locate import require_data
from tests.ros_nodes.ros_harness import Probe, node_log, start_node, stop_node

NODE = "har_node"
RATE_HZ = 32.0
SECONDS = 8.0


def _recording() -> tuple[list[str], dict[str, np.ndarray], list[str]]:
    """(device names, device -> (T, 6) [accel xyz, gyro xyz], class names)."""
    n = int(SECONDS * RATE_HZ)
    try:
        root = require_data("har/actrectut")
    except FileNotFoundError:
        t = np.arange(n) / RATE_HZ
        names = ["hip", "lower_arm", "ankle", "upper_leg"]
        streams = {
            name: np.stack([np.sin(2 * np.pi * (1 + d) * t + c) for c in range(6)], axis=1).astype(np.float32)
            for d, name in enumerate(names)
        }
        return names, streams, ["still", "walk"]
    from robossl.data.datasets.actrectut import load_actrectut

    recording = load_actrectut(1, "walk", root=root, channels_per_imu=6)
    start = 2000  # inside a walking bout rather than the NULL start
    streams = {name: np.asarray(x[start : start + n], np.float32) for name, x in recording.devices.items()}
    return list(streams), streams, list(recording.class_names)


@pytest.mark.ros
@pytest.mark.slow
def test_har_node_end_to_end(tmp_path: Path) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Imu
    from std_msgs.msg import Float32MultiArray, String

    from robossl.online.checkpoint import load_checkpoint
    from robossl_ros.conversions import imu_msg
    from robossl_ros.har_node import array_stamp_ns

    names, streams, classes = _recording()
    topics = [f"{name}/imu" for name in names]
    model_path = tmp_path / "har_model.pt"
    proc = start_node(
        NODE,
        tmp_path,
        {
            "imu_topics": topics,
            "device_names": names,
            "anchor_device": names[0],
            "class_names": classes,
            "sample_rate_hz": RATE_HZ,
            "min_windows": 4,
            "batch_size": 4,
            "cpu_fraction": 0.5,
            "hot_swap_every_steps": 1,
            "predict_every_s": 0.25,
            "model_path": str(model_path),
            "diagnostics_period_s": 0.5,
        },
    )
    probe = Probe()
    try:
        for topic in topics:
            probe.publisher(Imu, topic, 100)
        labels = probe.publisher(String, "activity/label_in")
        probe.subscribe(String, "activity", 100)
        probe.subscribe(Float32MultiArray, "activity/scores", 100)
        probe.subscribe(Float32MultiArray, "activity/embedding", 100)
        probe.subscribe(DiagnosticArray, "/diagnostics")
        probe.wait_for_subscribers(topics, timeout=60)
        probe.spin_for(0.5)

        t0 = time.time_ns()
        n = next(iter(streams.values())).shape[0]
        stamps = [t0 + int(i * 1e9 / RATE_HZ) for i in range(n)]
        anchor_stamps = []
        for i in range(n):
            for d, name in enumerate(names):
                sample = streams[name][i].astype(np.float64)
                gyro_accel = np.concatenate([sample[3:], sample[:3]])
                if d == 1 and i == 40:
                    gyro_accel[0] = np.nan  # NaN gyro on one device
                probe.publishers[topics[d]].publish(imu_msg(gyro_accel, stamps[i], name))
                if d == 0:
                    anchor_stamps.append(stamps[i])
            if i == 60:  # a repeated old stamp on device 2
                probe.publishers[topics[2]].publish(imu_msg(np.ones(6), stamps[10], names[2]))
            if i % 8 == 0:
                labels.publish(String(data=classes[-1]))
            probe.spin_for(1.0 / (2 * RATE_HZ))  # twice real time
        labels.publish(String(data="no_such_activity"))

        def done() -> bool:
            values = probe.diagnostics(NODE)
            return (
                values is not None
                and int(values["training_steps"]) >= 2
                and values.get("dropped.activity/label_in.unknown_class") == "1"
                and int(values["predictions"]) == len(probe.received["activity/embedding"])
            )

        assert probe.spin_until(done, 60), f"{probe.diagnostics(NODE)}\n{node_log(tmp_path, NODE)}"
        values = probe.diagnostics(NODE)
        assert values is not None
        assert values[f"dropped.{topics[1]}.non_finite"] == "1"
        assert values[f"dropped.{topics[2]}.out_of_order"] == "1"
        assert int(values["windows"]) >= 8 and int(values["labelled_windows"]) >= 1
        assert int(values["model_version"]) >= 1

        embeddings = probe.received["activity/embedding"]
        scores = probe.received["activity/scores"]
        activities = probe.received["activity"]
        # One prediction per 0.25 s of anchor time after the first full second.
        expected = int((SECONDS - 1.0) / 0.25)
        assert expected - 2 <= len(embeddings) <= expected + 2
        assert len(scores) == len(activities) == len(embeddings)
        predicted_stamps = [array_stamp_ns(m) for m in embeddings]
        assert set(predicted_stamps) <= set(anchor_stamps) and predicted_stamps == sorted(predicted_stamps)
        assert predicted_stamps[0] >= anchor_stamps[0] + 0.99e9
        assert len(embeddings[-1].data) == embeddings[-1].layout.dim[0].size > 0
        assert np.isfinite(np.asarray(embeddings[-1].data)).all()
        probabilities = np.asarray(scores[-1].data)
        assert probabilities.shape == (len(classes),) and probabilities.sum() == pytest.approx(1.0, abs=1e-4)
        assert activities[-1].data == classes[int(probabilities.argmax())]
        steps_seen = int(values["training_steps"])
    finally:
        probe.close()
        rc = stop_node(proc)
    log = node_log(tmp_path, NODE)
    assert rc == 0, log
    assert "saved model to" in log
    state = load_checkpoint(model_path)
    assert state["steps"] >= steps_seen and state["learner"]["steps"] == state["steps"]


@pytest.mark.ros
def test_lockstep_trains_n_steps_per_window_and_labels_follow_the_sample_clock(tmp_path: Path) -> None:
    """train_steps_per_window=3: exactly 3 steps per aligned window once min_windows exist, whatever the
    input rate (samples arrive 4x faster than real time). The samples are a log of 2001 (far from the wall
    clock, as a replayed bag is): labels still land on the windows, because the node stamps a label with
    its newest anchor sample, not with the wall clock."""
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Imu
    from std_msgs.msg import Float32MultiArray, String

    from robossl_ros.conversions import imu_msg

    names, streams, classes = _recording()
    topics = [f"{name}/imu" for name in names]
    steps_per_window, min_windows = 3, 4
    proc = start_node(
        NODE,
        tmp_path,
        {
            "imu_topics": topics,
            "device_names": names,
            "anchor_device": names[0],
            "class_names": classes,
            "sample_rate_hz": RATE_HZ,
            "min_windows": min_windows,
            "batch_size": 4,
            "train_steps_per_window": steps_per_window,
            "hot_swap_every_steps": steps_per_window,
            "predict_every_s": 0.25,
            "diagnostics_period_s": 0.5,
        },
    )
    probe = Probe()
    try:
        for topic in topics:
            probe.publisher(Imu, topic, 100)
        labels = probe.publisher(String, "activity/label_in")
        probe.subscribe(Float32MultiArray, "activity/scores", 100)
        probe.subscribe(DiagnosticArray, "/diagnostics")
        probe.wait_for_subscribers([*topics, "activity/label_in"], timeout=60)
        probe.spin_for(0.5)
        t0 = 1_000_000_000 * 1_000_000_000  # 2001-09-09, in ns
        n = next(iter(streams.values())).shape[0]
        for i in range(n):
            stamp = t0 + int(i * 1e9 / RATE_HZ)
            for name in names:
                sample = streams[name][i].astype(np.float64)
                probe.publishers[f"{name}/imu"].publish(
                    imu_msg(np.concatenate([sample[3:], sample[:3]]), stamp, name)
                )
            if i % 8 == 7:
                labels.publish(String(data=classes[-1]))
            probe.spin_for(1.0 / (4 * RATE_HZ))
        # 8 s, 1 s windows every 0.5 s: 15 windows (the last one needs the final sample of every device)
        expected_windows = int((n / RATE_HZ - 1.0) / 0.5) + 1

        def done() -> bool:
            values = probe.diagnostics(NODE)
            return (
                values is not None
                and int(values["windows"]) >= expected_windows - 1
                and values.get("input_backlog") == "0"
                and int(values["predictions"]) == len(probe.received["activity/scores"])
            )

        assert probe.spin_until(done, 120), f"{probe.diagnostics(NODE)}\n{node_log(tmp_path, NODE)}"
        probe.spin_for(1.0)
        values = probe.diagnostics(NODE)
        assert values is not None
        windows = int(values["windows"])
        assert windows in (expected_windows - 1, expected_windows) and values["gap_windows"] == "0"
        # no step before min_windows windows exist (their credit is forfeited), then exactly 3 per window
        assert int(values["training_steps"]) == steps_per_window * (windows - min_windows + 1)
        # labels every 0.25 s from the first second on: every window after the first gets one
        assert int(values["labelled_windows"]) >= windows - 2
    finally:
        probe.close()
        rc = stop_node(proc)
    assert rc == 0, node_log(tmp_path, NODE)
