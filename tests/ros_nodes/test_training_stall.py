"""TrainingStallWatch (har_node's training_stall_warning_s) on a real ColloSSL pipeline: the starved device is
named with its topic and drops, each cause is logged once, a step is reported as training resumed."""

from __future__ import annotations

import time

import torch

from robossl.online import TrainerConfig
from robossl.pipelines.collossl.online import OnlineLearnerConfig
from robossl.pipelines.collossl.pipeline import ColloSSLPipeline
from robossl_ros.training_stall import TrainingStallWatch

torch.set_num_threads(1)


def _pipeline() -> ColloSSLPipeline:
    config = OnlineLearnerConfig(
        device_names=("hip", "wrist"),
        anchor_device="hip",
        channels=6,
        num_classes=2,
        min_windows=4,
        batch_size=4,
    )
    return ColloSSLPipeline(config, TrainerConfig(batch_size=4, min_samples=4))


def test_names_the_starved_device_once_and_reports_resumed_training() -> None:
    pipeline = _pipeline()
    topics = {"hip": "hip/imu", "wrist": "wrist/imu"}
    watch = TrainingStallWatch(pipeline, topics, lambda: {"wrist/imu": {"bad_stamp": 3, "nan": 2}})
    assert watch.check(0.2) is None and watch.message == ""  # not stalled long enough yet
    assert watch.check(0.0) is None  # 0 = never warn
    time.sleep(0.25)
    # Trainer not running: the pipeline's own explanation.
    assert watch.check(0.2) == ("warning", watch.message)
    assert watch.kind == "stopped" and "the trainer stopped" in watch.message
    pipeline.start_learning()
    try:
        watch.sample("hip")  # hip delivers, wrist does not
        level, text = watch.check(0.2) or ("", "")
        assert level == "warning" and watch.kind == "starved:['wrist']"
        assert (
            "no training step in 0 s: starved device: no usable sample for 0 s from 'wrist' on wrist/imu"
            in text
        )
        assert "(dropped: 5)" in text and "hip/imu" not in text
        assert watch.check(0.2) is None and watch.message == text  # the same cause is not logged again
        pipeline.trainer.steps += 1  # a step happened (what the trainer counts)
        assert watch.check(0.2) == ("info", "training resumed (1 steps)")
        assert watch.kind == watch.message == ""
    finally:
        pipeline.stop_learning()
