"""Demo stage 3: body-worn IMU streams through the serial protocol into ``serial_bridge_node`` and
``har_node`` (ColloSSL online learning), all over loopback DDS.

Before the live stage, :func:`prepare` records the logs of the OTHER ActRecTut subject (subject 2, "walk",
unlabelled) as a rosbag2 of one sensor_msgs/Imu topic per device, reads them back through
:func:`robossl.data.streams.multi_device_recording`, pretrains har_node's own learner on them (ColloSSL, no
labels) and saves a checkpoint in har_node's format; har_node starts from it (cached under the demo's cache
folder, so a second run reuses it).

The live IMU streams (an ActRecTut "walk" excerpt of subject 1 when the real data is present, otherwise
:mod:`robossl_sim.har_synth`) are replayed in real time by emulated devices on a real pseudo-terminal,
framed exactly as the firmware frames them. serial_bridge_node decodes them, maps device time to host time
with its clock sync and publishes one sensor_msgs/Imu topic per device; har_node keeps learning ColloSSL
online from all devices, lock-step (``train_steps_per_window`` steps per aligned window, taken before it
predicts), so its figures depend on the stream, not on the machine's speed. For the first
``labelled_fraction`` of the stream the demo publishes the true activity on ``activity/label_in`` (a few
labels for the classifier head); afterwards it only listens, and scores every prediction against the
activity of the window it was made for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robossl_ros.demo.har_config import HarStageConfig, HarStream, learner_config, node_parameters
from robossl_ros.demo.har_pretrain import prepare
from robossl_ros.demo.har_stream import excerpt_indices, make_stream

# The stage's settings, stream and parameters (har_config), its data (har_stream) and its pretrained start
# (har_pretrain) live in their own modules; the runner and the tests use them from here.
__all__ = [
    "HarStageConfig",
    "HarStageResult",
    "HarStream",
    "excerpt_indices",
    "learner_config",
    "macro_f1",
    "make_stream",
    "node_parameters",
    "prepare",
    "run",
]

QUIET_S = 5.0  # after the replay: no prediction for this long means har_node has answered everything


@dataclass
class HarStageResult:
    """Predictions scored against the true activity (times are seconds of stream time)."""

    source: str = ""
    class_names: tuple[str, ...] = ()
    samples_sent: int = 0
    labels_published: int = 0
    labelled_until_s: float = 0.0
    predictions: list[tuple[float, int, int]] = field(default_factory=list)  # (t, true, predicted)
    latencies_ms: list[float] = field(default_factory=list)  # newest anchor sample -> prediction received
    imu_messages: dict[str, int] = field(default_factory=dict)
    unanswered: bool = False  # har_node had not predicted up to the end of the stream within the timeout
    unmatched_predictions: int = 0  # predictions whose stamp is no anchor sample the demo received

    def evaluation(self) -> list[tuple[float, int, int]]:
        """Predictions made after labelling stopped (the honest part)."""
        return [p for p in self.predictions if p[0] > self.labelled_until_s]

    @property
    def macro_f1(self) -> float:
        """Macro-F1 over the scored part (classes that occur in it; NaN without predictions)."""
        return macro_f1(self.evaluation())

    @property
    def accuracy(self) -> float:
        """Share of correct predictions in the scored part (NaN without predictions)."""
        scored = self.evaluation()
        return float(np.mean([p[1] == p[2] for p in scored])) if scored else float("nan")


def macro_f1(pairs: list[tuple[float, int, int]]) -> float:
    """Macro-F1 of ``(t, true, predicted)`` over the true classes present (NaN for no pairs)."""
    if not pairs:
        return float("nan")
    true = np.array([p[1] for p in pairs])
    predicted = np.array([p[2] for p in pairs])
    scores = []
    for c in np.unique(true):
        hits = int(np.sum((true == c) & (predicted == c)))
        denominator = int(np.sum(true == c) + np.sum(predicted == c))
        scores.append(2 * hits / denominator)
    return float(np.mean(scores))


def _wait_for_endpoints(ros: Any, node_name: str, topics: list[str], subscriptions: bool) -> None:
    """Wait until ``node_name`` subscribes to (publishes) every topic in ``topics``, by the ROS graph."""
    deadline = time.monotonic() + 60.0
    node = ros.node
    while True:
        missing = []
        for topic in topics:
            full = node.resolve_topic_name(topic)
            info = (
                node.get_subscriptions_info_by_topic(full)
                if subscriptions
                else node.get_publishers_info_by_topic(full)
            )
            if not any(endpoint.node_name == node_name for endpoint in info):
                missing.append(topic)
        if not missing:
            return
        if time.monotonic() > deadline:
            what = "subscribe to" if subscriptions else "publish"
            raise RuntimeError(f"{node_name} did not {what} {missing} within 60 s (see its log)")
        time.sleep(0.05)


def run(
    ros: Any, config: HarStageConfig, stream: HarStream, link: Any, progress: Callable[[float, str], None]
) -> HarStageResult:
    """Replay ``stream`` through the emulated devices of ``link`` (an open PtyDevices) and score har_node.

    Each prediction is matched to the stream by its stamp, the stamp of the anchor sample it ends at (row r
    is stamped r sample periods after row 0), so the truth is the majority activity of the window that ends
    at that row. After the replay the demo waits for har_node's predictions up to the end of the stream (a
    lock-step node may lag behind the link on a slow machine).
    """
    from sensor_msgs.msg import Imu
    from std_msgs.msg import Float32MultiArray, String

    from robossl_ros.qos import RESULT_QOS, SENSOR_QOS

    result = HarStageResult(source=stream.source, class_names=stream.class_names)
    names = list(stream.streams)
    anchor = config.anchor_device
    n = len(stream.labels)
    window = int(round(stream.rate_hz))  # har_node's window_s = 1 s
    lock = threading.Lock()
    counts = {name: 0 for name in names}
    # Stamps of stream row r are row_zero_s + r / rate (the devices stamp row r at their start + r sample
    # periods; the bridge maps that to host time). row_zero_s: the wall clock at the replay's start, then
    # the phase of the first anchor stamp received.
    row_zero_s = [0.0, False]  # (seconds, refined from a received stamp)
    newest_row = [-1]  # newest stream row har_node has predicted for
    answered_at = [time.monotonic()]  # when the newest prediction arrived

    def row_of(stamp_ns: int) -> int:
        return int(round((stamp_ns * 1e-9 - row_zero_s[0]) * stream.rate_hz))

    def on_imu(name: str, msg: Imu) -> None:
        with lock:
            counts[name] += 1
            if name == anchor and not row_zero_s[1] and row_zero_s[0] > 0:
                stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
                row_zero_s[0] = stamp_ns * 1e-9 - row_of(stamp_ns) / stream.rate_hz
                row_zero_s[1] = True

    def on_scores(msg: Float32MultiArray) -> None:
        received = time.time()
        scores = np.asarray(msg.data, dtype=np.float32)
        if len(scores) != len(stream.class_names) or not msg.layout.dim:
            return
        label = msg.layout.dim[0].label
        if "stamp_ns=" not in label:
            return
        stamp_ns = int(label.split("stamp_ns=")[1].split(";")[0])
        with lock:
            row = row_of(stamp_ns)
            if not 0 <= row < n:
                result.unmatched_predictions += 1
                return
            truth = int(np.bincount(stream.labels[max(0, row + 1 - window) : row + 1]).argmax())
            result.predictions.append(((row + 1) / stream.rate_hz, truth, int(np.argmax(scores))))
            result.latencies_ms.append((received - stamp_ns * 1e-9) * 1e3)
            newest_row[0] = max(newest_row[0], row)
            answered_at[0] = time.monotonic()

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
    # The replay starts only when har_node subscribes to every input and the bridge publishes every device
    # and has told the devices to stream (the firmware's own start): a stream that starts earlier loses its
    # first seconds in har_node, which starts slower on a busy machine (the demo's own subscriptions used to
    # pass for har_node's, and har_node missed up to a quarter of the labelled part).
    _wait_for_endpoints(ros, "har_node", [f"{name}/imu" for name in names] + ["activity/label_in"], True)
    _wait_for_endpoints(ros, "serial_bridge_node", [f"{name}/imu" for name in names], False)
    if not link.devices.streaming_event.wait(timeout=30.0):
        raise RuntimeError(
            "serial_bridge_node did not start the devices' streaming within 30 s (see its log)"
        )
    time.sleep(0.5)  # the graph shows an endpoint a moment before every peer has matched it

    stop = threading.Event()
    sent_now = [0]

    def on_progress(samples: int) -> None:
        sent_now[0] = samples

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
    # the node predicts every predict_every_s (0.25 s) of anchor time: its last prediction ends here or later
    last_row = n - 1 - int(0.25 * stream.rate_hz)

    def report(phase: str) -> None:
        with lock:
            recent = result.predictions[-40:]
        accuracy = np.mean([p[1] == p[2] for p in recent]) if recent else float("nan")
        progress(
            sent_now[0] / n,
            f"{phase} t={sent_now[0] / stream.rate_hz:5.1f}s predictions {len(result.predictions)} "
            f"recent acc {accuracy:.2f}",
        )

    row_zero_s[0] = time.time()  # the devices' clock is read for row 0 right after this
    replay.start()
    try:
        next_label_row, next_report = 0, 0.0
        while replay.is_alive():
            samples = sent_now[0]
            if 0 < samples < labelled_samples and samples >= next_label_row:
                # the activity of the newest sample sent; har_node stamps it with its newest anchor sample
                label_pub.publish(String(data=stream.class_names[int(stream.labels[samples - 1])]))
                result.labels_published += 1
                next_label_row = samples + max(1, int(config.label_period_s * stream.rate_hz))
            if time.monotonic() >= next_report:
                report("labelled" if samples < labelled_samples else "unlabelled")
                next_report = time.monotonic() + 0.1
            time.sleep(0.01)
    finally:
        stop.set()
        replay.join(timeout=5)
    # A lock-step node may still be learning from the last windows: wait for its prediction at the end of
    # the stream, or until it has been quiet for a while (the last samples can be lost on the way).
    deadline = time.monotonic() + config.answer_timeout_s
    while newest_row[0] < last_row and time.monotonic() - answered_at[0] < QUIET_S:
        if time.monotonic() > deadline:
            break
        report("answering")
        time.sleep(0.1)
    result.unanswered = newest_row[0] < last_row
    result.samples_sent = sent_now[0]
    with lock:
        result.imu_messages = dict(counts)
    return result
