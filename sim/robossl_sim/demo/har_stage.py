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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robossl_sim.demo.pretrained import PretrainedStart, cache_folder, finished, fresh_folder, mark_finished


@dataclass
class HarStageConfig:
    """Settings of the activity-recognition stage."""

    seed: int = 0  # stream excerpt / synthetic stream seed
    # seconds of recorded IMU data replayed (stream time); the serial link replays them in real time, and
    # every learning budget below counts windows of this stream, not wall-clock seconds
    stream_seconds: float = 60.0
    labelled_fraction: float = 0.5  # labels are published for this first part of the stream
    label_period_s: float = 0.25  # label message period while labelling, seconds of stream time
    # ActRecTut excerpt: seconds taken from each activity bout per pass; 3 s makes two passes per half of a
    # 60 s stream, so the classifier sees every activity in two bouts (one bout per activity generalised
    # poorly to the scored bouts: macro-F1 0.72-0.94 over seeds 10-13 instead of 0.82-0.93)
    segment_s: float = 3.0
    anchor_device: str = "upper_right_leg"  # device the classifier and predictions use (a trouser pocket)
    # har_node lock-step budget: training steps per aligned window (windows every 0.25 s of stream)
    train_steps_per_window: int = 1
    pretrain_steps: int = 300  # offline ColloSSL steps on the other subject's logs (prepare)
    log_seconds: float = 0.0  # seconds of those logs that prepare records and reads (0 = all of them)
    answer_timeout_s: float = 120.0  # longest wait after the replay for har_node's last prediction, seconds


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
    demo's defaults (3 s per activity, 5 activities, a 60 s stream labelled for its first half) the
    labelled half holds two passes and the scored half two more over other segments: every activity the
    classifier is scored on was labelled, and no scored sample was seen with its label (an activity with
    fewer segments than passes, ActRecTut's sitting with 2 long bouts, is scored on other parts of them).
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
    """ActRecTut walk (real) excerpt of subject 1 cycling through all activities (:func:`excerpt_indices`), or
    a synthetic stream without data."""
    if _has_actrectut():
        from robossl.data.datasets.actrectut import load_actrectut

        recording = load_actrectut(LIVE_SUBJECT, "walk", channels_per_imu=6)
        rate = float(recording.sample_rate_hz)
        labels = np.asarray(recording.labels)
        index = excerpt_indices(
            labels, int(config.segment_s * rate), int(config.stream_seconds * rate), config.seed
        )
        streams = {name: np.asarray(a)[index] for name, a in recording.devices.items()}
        return HarStream(
            streams,
            labels[index],
            rate,
            tuple(recording.class_names),
            f"ActRecTut walk, subject {LIVE_SUBJECT}",
        )
    from robossl_sim.har_synth import synthetic_har

    synthetic = synthetic_har(config.stream_seconds, seed=config.seed)
    return HarStream(
        synthetic.streams, synthetic.labels, synthetic.rate_hz, synthetic.class_names, "synthetic"
    )


def _has_actrectut() -> bool:
    from robossl.data import data_root

    root = data_root()
    return root is not None and (root / "har" / "actrectut").is_dir()


def node_parameters(
    stream: HarStream, port: str, model_path: str, config: HarStageConfig | None = None
) -> dict[str, dict[str, Any]]:
    """Parameters of serial_bridge_node and har_node for ``stream`` (``config`` None: the defaults)."""
    config = config or HarStageConfig()
    names = list(stream.streams)
    if config.anchor_device not in names:
        raise ValueError(f"anchor_device {config.anchor_device!r} is not one of the stream's devices {names}")
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
            "anchor_device": config.anchor_device,
            "class_names": list(stream.class_names),
            "sample_rate_hz": float(stream.rate_hz),
            "window_s": 1.0,
            # windows every 0.25 s: four phases of a ~1 s gait cycle instead of two in the labelled windows
            # (offline mirror of this stage, same steps per second of stream: macro-F1 mean 0.863 -> 0.892
            # over seeds 0-2 and 14-16, 0.842 -> 0.848 over 14-16 alone)
            "overlap_s": 0.75,
            "predict_every_s": 0.25,
            "buffer_windows": 4096,  # holds every window of the pretraining logs (and of the live stream)
            "min_windows": 12,
            "batch_size": 32,
            "cpu_fraction": 0.5,
            "train_steps_per_window": config.train_steps_per_window,
            # lock-step: the model that predicts is the one trained for every window seen so far
            "hot_swap_every_steps": max(1, config.train_steps_per_window),
            "model_path": model_path,
            "save_on_shutdown": True,
        },
    }


def learner_config(har_node: dict[str, Any]) -> Any:
    """The :class:`OnlineLearnerConfig` har_node builds from its parameters ``har_node`` (checkpoints made
    offline must match it exactly, or the node refuses them)."""
    from robossl.pipelines.collossl import OnlineLearnerConfig

    return OnlineLearnerConfig(
        device_names=tuple(har_node["device_names"]),
        anchor_device=har_node["anchor_device"],
        channels=6,
        num_classes=len(har_node["class_names"]),
        sample_rate_hz=har_node["sample_rate_hz"],
        window_s=har_node["window_s"],
        overlap_s=har_node["overlap_s"],
        buffer_windows=har_node["buffer_windows"],
        min_windows=har_node["min_windows"],
        batch_size=har_node["batch_size"],
    )


# -- offline pretraining (prepare) ---------------------------------------------------------------------------

LIVE_SUBJECT = 1  # the live stage replays this ActRecTut subject ...
LOG_SUBJECT = 2  # ... and pretraining reads only the other one's logs
SYNTHETIC_LOG_SEED = 10_000  # without real data: the logs are a synthetic stream no live seed uses
SYNTHETIC_LOG_SECONDS = 600.0  # length of that synthetic log, seconds
QUIET_S = 5.0  # after the replay: no prediction for this long means har_node has answered everything


def record_logs(
    streams: dict[str, np.ndarray], rate_hz: float, out: Path, start_ns: int = 1_000_000_000
) -> int:
    """Write body-worn IMU logs as a rosbag2 (mcap): one ``/<device>/imu`` sensor_msgs/Imu topic per device,
    no activity topic (the logs are unlabelled). ``streams``: device -> ``(N, 6)`` acc xyz, gyro xyz.
    Returns the messages written."""
    from robossl.data.bags.message_builders import build_imu
    from robossl.data.bags.writer import BagWriter

    count = len(next(iter(streams.values())))
    with BagWriter(out, storage="mcap") as bag:
        store = bag.typestore
        bag.set_custom_data("source", "robossl demo: HAR pretraining logs")
        for t in range(count):
            stamp = start_ns + round(t * 1e9 / rate_hz)
            for device, samples in streams.items():
                row = samples[t].astype(np.float64)
                bag.write(f"/{device}/imu", stamp, build_imu(store, stamp, device, row[3:6], row[0:3]))
        return int(sum(bag.counts.values()))


def _log_streams(seconds: float) -> tuple[dict[str, np.ndarray], float, str]:
    """The logs pretraining learns from (the first ``seconds``, 0 = all): ActRecTut walk of the subject the
    live stage does not replay (unlabelled), or a long synthetic stream of a seed no live stage uses."""
    if _has_actrectut():
        from robossl.data.datasets.actrectut import load_actrectut

        recording = load_actrectut(LOG_SUBJECT, "walk", channels_per_imu=6)
        rate = float(recording.sample_rate_hz)
        rows = int(seconds * rate) if seconds > 0 else len(recording.labels)
        streams = {name: np.asarray(a[:rows], np.float32) for name, a in recording.devices.items()}
        return streams, rate, f"ActRecTut walk, subject {LOG_SUBJECT}"
    from robossl_sim.har_synth import synthetic_har

    synthetic = synthetic_har(seconds if seconds > 0 else SYNTHETIC_LOG_SECONDS, seed=SYNTHETIC_LOG_SEED)
    return synthetic.streams, synthetic.rate_hz, f"synthetic, seed {SYNTHETIC_LOG_SEED}"


def prepare(
    config: HarStageConfig, cache_dir: Path, progress: Callable[[float, str], None]
) -> PretrainedStart:
    """Record the other subject's IMU logs as a rosbag2, pretrain har_node's learner on them offline through
    the bag (ColloSSL, no labels) and save a checkpoint in har_node's format (cached; see
    :mod:`robossl_sim.demo.pretrained`). The live stream's seed does not enter: every seed starts from it."""
    from robossl.data.streams import multi_device_recording
    from robossl.online import BackgroundTrainer
    from robossl.pipelines.collossl import ColloSSLOnlineLearner

    started = time.monotonic()
    stream = make_stream(HarStageConfig(stream_seconds=2 * config.segment_s, segment_s=config.segment_s))
    har_node = node_parameters(stream, "", "", config)["har_node"]
    learner_settings = learner_config(har_node)
    source = f"ActRecTut walk, subject {LOG_SUBJECT}" if _has_actrectut() else "synthetic"
    settings = {
        "logs": source,
        "synthetic_log": [SYNTHETIC_LOG_SEED, SYNTHETIC_LOG_SECONDS] if source == "synthetic" else None,
        "learner": asdict(learner_settings),
        "pretrain_steps": config.pretrain_steps,
        "log_seconds": config.log_seconds,
    }
    folder = cache_folder(cache_dir, "har", settings)
    done = finished(folder)
    checkpoint = folder / "har_pretrained.pt"
    if done is not None and checkpoint.is_file():
        progress(1.0, "cached")
        return PretrainedStart(checkpoint, str(done["description"]), True, dict(done["details"]))
    fresh_folder(folder)
    progress(0.0, "recording the logs")
    streams, rate, source = _log_streams(config.log_seconds)
    messages = record_logs(streams, rate, folder / "logs")
    recorded = time.monotonic()
    progress(0.1, "reading the logs back")
    names = list(har_node["device_names"])
    recording = multi_device_recording(folder / "logs", [f"/{name}/imu" for name in names])
    learner = ColloSSLOnlineLearner(learner_settings)
    stamps = np.asarray(recording.timestamps_s)
    chunk = int(recording.sample_rate_hz)  # one second of every device in turn, as they arrive live
    for first in range(0, len(stamps), chunk):
        for name in names:
            learner.add_samples(
                name, stamps[first : first + chunk], recording.devices[name][first : first + chunk]
            )
    windows = learner.stats["windows"]
    read = time.monotonic()
    losses = []
    for step in range(config.pretrain_steps):
        losses.append(float(learner.train_step()["loss"]))
        if step % 10 == 0:
            progress(
                0.2 + 0.8 * step / config.pretrain_steps, f"pretraining step {step} loss {losses[-1]:.3f}"
            )
    learner.forget_inputs()  # the node starts on its own stream: empty replay, new window grid
    trainer = BackgroundTrainer(learner, learner.replay)  # for its checkpoint format; never started
    trainer.steps = learner.steps
    trainer.save(str(checkpoint))
    details = {
        "log_messages": messages,
        "log_windows": windows,
        "pretrain_steps": config.pretrain_steps,
        "loss_first": round(float(np.mean(losses[:10])), 4),
        "loss_last": round(float(np.mean(losses[-10:])), 4),
        "record_s": round(recorded - started, 1),
        "read_s": round(read - recorded, 1),
        "train_s": round(time.monotonic() - read, 1),
    }
    description = (
        f"ColloSSL pretrained offline on unlabelled logs ({source}, {windows} aligned windows of "
        f"{len(names)} devices, read back from a rosbag2): {config.pretrain_steps} steps, loss "
        f"{details['loss_first']:.2f} -> {details['loss_last']:.2f}"
    )
    mark_finished(folder, {"description": description, "details": details, "settings": settings})
    progress(1.0, "pretrained")
    return PretrainedStart(checkpoint, description, False, details)


# -- the live stage -------------------------------------------------------------------------------------------


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
