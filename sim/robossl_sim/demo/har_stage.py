"""Demo stage 3: body-worn IMU streams through the serial protocol into ``serial_bridge_node`` and
``har_node`` (ColloSSL online learning), all over loopback DDS.

The IMU streams (ActRecTut "walk" when the real data is present, otherwise :mod:`robossl_sim.har_synth`)
are replayed in real time by emulated devices on a real pseudo-terminal, framed exactly as the firmware
frames them. serial_bridge_node decodes them, maps device time to host time with its clock sync and
publishes one sensor_msgs/Imu topic per device; har_node learns ColloSSL online from all devices. For the
first ``labelled_fraction`` of the stream the demo publishes the true activity on ``activity/label_in``
(a few labels for the classifier head); afterwards it only listens, and scores every prediction against
the activity the window really contained.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class HarStageConfig:
    """Settings of the activity-recognition stage."""

    seed: int = 0  # stream excerpt / synthetic stream seed
    wall_budget_s: float = 60.0  # length of the replayed stream = wall-clock time, seconds
    labelled_fraction: float = 0.5  # labels are published for this first part of the stream
    label_period_s: float = 0.25  # label message period while labelling, seconds
    segment_s: float = 6.0  # ActRecTut excerpt: seconds taken from each activity segment


@dataclass
class HarStream:
    """What is replayed: per-device (N, 6) float32 streams, labels (N,), rate and names."""

    streams: dict[str, np.ndarray]
    labels: np.ndarray
    rate_hz: float
    class_names: tuple[str, ...]
    source: str  # "actrectut walk subject 1" or "synthetic"


def excerpt_indices(labels: np.ndarray, take: int, needed: int, seed: int) -> np.ndarray:
    """Row indices of a replay excerpt that shows every activity in every pass.

    Each pass takes ``take`` samples of each non-NULL activity (in a seeded order), each time from another
    contiguous segment of that activity when it has several, until ``needed`` samples are reached. With the
    demo's defaults (6 s per activity, 5 activities, a 60 s stream labelled for its first half) the
    labelled half holds one pass and the scored half a second pass over other segments: every activity the
    classifier is scored on was labelled, and no scored window was seen with its label.
    """
    change = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(labels)]])
    rng = np.random.default_rng(seed)
    segments: dict[int, list[int]] = {}
    for k in rng.permutation(len(starts)):
        if labels[starts[k]] != 0 and ends[k] - starts[k] >= take // 2:
            segments.setdefault(int(labels[starts[k]]), []).append(int(k))
    if not segments:
        raise ValueError("no activity segment is long enough for the excerpt; lower segment_s")
    classes = [int(c) for c in rng.permutation(sorted(segments))]
    pieces: list[np.ndarray] = []
    total, turn = 0, 0
    while total < needed:
        for c in classes:
            k = segments[c][turn % len(segments[c])]
            offset = starts[k] + int(rng.integers(0, max(1, ends[k] - starts[k] - take)))
            pieces.append(np.arange(offset, min(offset + take, ends[k])))
            total += len(pieces[-1])
        turn += 1
    return np.concatenate(pieces)[:needed]


def make_stream(config: HarStageConfig) -> HarStream:
    """ActRecTut walk (real) excerpt cycling through all activities (:func:`excerpt_indices`), or a
    synthetic stream without data."""
    from robossl.data import data_root

    if data_root() is not None and (data_root() / "har" / "actrectut").is_dir():  # type: ignore[operator]
        from robossl.data.actrectut import load_actrectut

        recording = load_actrectut(1, "walk", channels_per_imu=6)
        rate = float(recording.sample_rate_hz)
        labels = np.asarray(recording.labels)
        index = excerpt_indices(
            labels, int(config.segment_s * rate), int(config.wall_budget_s * rate), config.seed
        )
        streams = {name: np.asarray(a)[index] for name, a in recording.devices.items()}
        return HarStream(
            streams, labels[index], rate, tuple(recording.class_names), "ActRecTut walk, subject 1"
        )
    from robossl_sim.har_synth import synthetic_har

    synthetic = synthetic_har(config.wall_budget_s, seed=config.seed)
    return HarStream(
        synthetic.streams, synthetic.labels, synthetic.rate_hz, synthetic.class_names, "synthetic"
    )


def node_parameters(stream: HarStream, port: str, model_path: str) -> dict[str, dict[str, Any]]:
    names = list(stream.streams)
    return {
        "serial_bridge_node": {
            "port": port,
            "device_ids": list(range(1, len(names) + 1)),
            "device_names": names,
            "start_streaming": True,
            "sync_interval_s": 0.1,
            "imu_layout": "accel_gyro",
        },
        "har_node": {
            "imu_topics": [f"{n}/imu" for n in names],
            "device_names": names,
            "anchor_device": names[0],
            "class_names": list(stream.class_names),
            "sample_rate_hz": float(stream.rate_hz),
            "window_s": 1.0,
            "overlap_s": 0.5,
            "predict_every_s": 0.25,
            "min_windows": 12,
            "batch_size": 32,
            "cpu_fraction": 0.5,
            "model_path": model_path,
            "save_on_shutdown": True,
        },
    }


@dataclass
class HarStageResult:
    """Predictions scored against the true activity (times are seconds since the stream started)."""

    source: str = ""
    class_names: tuple[str, ...] = ()
    samples_sent: int = 0
    labels_published: int = 0
    labelled_until_s: float = 0.0
    predictions: list[tuple[float, int, int]] = field(default_factory=list)  # (t, true, predicted)
    latencies_ms: list[float] = field(default_factory=list)  # newest anchor sample -> prediction received
    imu_messages: dict[str, int] = field(default_factory=dict)

    def evaluation(self) -> list[tuple[float, int, int]]:
        """Predictions made after labelling stopped (the honest part)."""
        return [p for p in self.predictions if p[0] > self.labelled_until_s]


def run(
    ros: Any, config: HarStageConfig, stream: HarStream, link: Any, progress: Callable[[float, str], None]
) -> HarStageResult:
    """Replay ``stream`` through the emulated devices of ``link`` (an open PtyDevices) and score har_node."""
    from sensor_msgs.msg import Imu
    from std_msgs.msg import Float32MultiArray, String

    from robossl_ros.qos import RESULT_QOS, SENSOR_QOS

    result = HarStageResult(source=stream.source, class_names=stream.class_names)
    names = list(stream.streams)
    n = len(stream.labels)
    lock = threading.Lock()
    sent_log: list[tuple[float, int]] = [(time.time(), 0)]  # (host time, samples sent)
    counts = {name: 0 for name in names}

    def on_imu(name: str, msg: Imu) -> None:
        counts[name] += 1

    def sample_index_at(host_time: float) -> float:
        with lock:
            times, samples = zip(*sent_log)
        return float(np.interp(host_time, times, samples))

    def on_scores(msg: Float32MultiArray) -> None:
        received = time.time()
        scores = np.asarray(msg.data, dtype=np.float32)
        if len(scores) != len(stream.class_names) or not msg.layout.dim:
            return
        label = msg.layout.dim[0].label
        if "stamp_ns=" not in label:
            return
        stamp_s = int(label.split("stamp_ns=")[1].split(";")[0]) * 1e-9
        end = int(round(sample_index_at(stamp_s)))
        window = stream.labels[max(0, end - int(stream.rate_hz)) : max(1, end)]
        if len(window) == 0:
            return
        truth = int(np.bincount(window).argmax())
        with lock:
            result.predictions.append((end / stream.rate_hz, truth, int(np.argmax(scores))))
            result.latencies_ms.append((received - stamp_s) * 1e3)

    for name in names:
        ros.subscribe(Imu, f"{name}/imu", lambda msg, name=name: on_imu(name, msg), SENSOR_QOS)
        ros.record(Imu, f"{name}/imu", SENSOR_QOS)
    ros.subscribe(Float32MultiArray, "activity/scores", on_scores, RESULT_QOS)
    for msg_type, topic in (
        (String, "activity"),
        (Float32MultiArray, "activity/scores"),
        (String, "activity/label_in"),
    ):
        ros.record(msg_type, topic, RESULT_QOS)
    label_pub = ros.publisher(String, "activity/label_in", RESULT_QOS)
    if not ros.wait_for_subscribers(label_pub, timeout_s=60.0):
        raise RuntimeError("har_node did not subscribe to activity/label_in within 60 s (see its log)")
    deadline = time.monotonic() + 30.0
    while any(ros.node.count_subscribers(f"{name}/imu") < 2 for name in names):  # har_node and the demo
        if time.monotonic() > deadline:
            raise RuntimeError("har_node / demo did not subscribe to every IMU topic within 30 s")
        time.sleep(0.05)

    stop = threading.Event()
    sent_now = [0]

    def on_progress(samples: int) -> None:
        sent_now[0] = samples
        with lock:
            sent_log.append((time.time(), samples))

    device_streams = {i + 1: stream.streams[name] for i, name in enumerate(names)}
    replay = threading.Thread(
        target=lambda: link.devices.replay(
            device_streams, rate_hz=stream.rate_hz, batch_samples=4, stop=stop, progress=on_progress
        ),
        name="imu-replay",
        daemon=True,
    )
    labelled_samples = int(config.labelled_fraction * n)
    result.labelled_until_s = labelled_samples / stream.rate_hz
    start = time.monotonic()
    replay.start()
    try:
        next_label = 0.0
        while replay.is_alive():
            elapsed = time.monotonic() - start
            samples = sent_now[0]
            if samples < labelled_samples and elapsed >= next_label and samples > 0:
                label_pub.publish(String(data=stream.class_names[int(stream.labels[samples - 1])]))
                result.labels_published += 1
                next_label += config.label_period_s
            with lock:
                recent = result.predictions[-40:]
            accuracy = np.mean([p[1] == p[2] for p in recent]) if recent else float("nan")
            phase = "labelled" if samples < labelled_samples else "unlabelled"
            progress(
                samples / n,
                f"{phase} t={samples / stream.rate_hz:5.1f}s predictions {len(result.predictions)} recent acc {accuracy:.2f}",
            )
            time.sleep(0.05)
    finally:
        stop.set()
        replay.join(timeout=5)
    time.sleep(1.5)  # predictions for the last windows
    result.samples_sent = sent_now[0]
    result.imu_messages = dict(counts)
    return result
