"""The activity stage's pretrained start: the other subject's unlabelled IMU logs -> a rosbag2 -> offline
ColloSSL pretraining of har_node's own learner -> a checkpoint in har_node's format.

:func:`prepare` records the logs (:func:`robossl_ros.demo.har_stream.log_streams`) as a rosbag2 of one
sensor_msgs/Imu topic per device, reads them back through :func:`robossl.data.streams.multi_device_recording`,
pretrains and saves the checkpoint har_node starts from, cached under the demo's cache folder (keyed by every
setting that changes it, so a second run reuses it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from robossl_ros.demo.har_config import HarStageConfig, learner_config, node_parameters
from robossl_ros.demo.har_stream import (
    LOG_SUBJECT,
    SYNTHETIC_LOG_SECONDS,
    SYNTHETIC_LOG_SEED,
    has_actrectut,
    log_streams,
    make_stream,
)
from robossl_ros.demo.pretrained import PretrainedStart, cache_folder, finished, fresh_folder, mark_finished


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


def prepare(
    config: HarStageConfig, cache_dir: Path, progress: Callable[[float, str], None]
) -> PretrainedStart:
    """Record the other subject's IMU logs as a rosbag2, pretrain har_node's learner on them offline through
    the bag (ColloSSL, no labels) and save a checkpoint in har_node's format (cached; see
    :mod:`robossl_ros.demo.pretrained`). The live stream's seed does not enter: every seed starts from it."""
    from robossl.data.streams import multi_device_recording
    from robossl.online import BackgroundTrainer
    from robossl.pipelines.collossl import ColloSSLOnlineLearner

    started = time.monotonic()
    stream = make_stream(HarStageConfig(stream_seconds=2 * config.segment_s, segment_s=config.segment_s))
    har_node = node_parameters(stream, "", "", config)["har_node"]
    learner_settings = learner_config(har_node)
    source = f"ActRecTut walk, subject {LOG_SUBJECT}" if has_actrectut() else "synthetic"
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
    streams, rate, source = log_streams(config.log_seconds)
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
