"""Settings of the demo's activity-recognition stage, the stream it replays (:class:`HarStream`), and the
parameters of the two nodes it runs (serial_bridge_node and har_node) with the learner configuration har_node
builds from them.

The bottom of the stage's modules: :mod:`robossl_ros.demo.har_stream` (where the IMU data comes from),
:mod:`robossl_ros.demo.har_pretrain` (the pretrained start) and :mod:`robossl_ros.demo.har_stage` (the live
stage) import it, and it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


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
