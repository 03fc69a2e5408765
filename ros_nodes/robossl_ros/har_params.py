"""The parameters of ``har_node`` and the ColloSSL configs they make.

Parameters that configure the pipeline take their defaults from :class:`OnlineLearnerConfig` and
:class:`TrainerConfig` (one source of defaults; the node's YAML overrides them), see
:func:`robossl_ros.params.config_param`.
"""

from __future__ import annotations

from typing import Any

from robossl.online import TrainerConfig
from robossl.pipelines.collossl import OnlineLearnerConfig
from robossl_ros.base import MODEL_SPECS
from robossl_ros.params import (
    ParamSpec,
    config_param,
    config_values,
    in_range,
    non_empty,
    non_negative,
    one_of,
    positive,
)

L, T = OnlineLearnerConfig, TrainerConfig

SPECS = [
    ParamSpec("imu_topics", ["imu_0/imu", "imu_1/imu"], "one Imu topic per device", non_empty, True),
    ParamSpec("device_names", ["imu_0", "imu_1"], "device name per topic (same order)", non_empty, True),
    ParamSpec("anchor_device", "imu_0", "device the classifier and predictions use", non_empty, True),
    ParamSpec(
        "class_names", ["class_0"], "activity names; their count sets the classifier size", non_empty, True
    ),
    config_param(L, "sample_rate_hz", "grid rate of aligned windows [Hz]", positive, True, group="learner"),
    config_param(L, "window_s", "window length [s]", in_range(0.1, 10.0), True, group="learner"),
    config_param(
        L, "overlap_s", "overlap of training windows [s]", in_range(0.0, 9.9), True, group="learner"
    ),
    ParamSpec("predict_every_s", 0.1, "prediction period in anchor time [s]", in_range(0.0, 10.0)),
    config_param(L, "buffer_windows", "replay capacity [windows]", positive, True, group="learner"),
    config_param(L, "min_windows", "windows before training starts", positive, True, group="learner"),
    config_param(L, "batch_size", "windows per training step", positive, True, group="learner"),
    config_param(L, "learning_rate", "Adam learning rate", positive, True, group="learner"),
    config_param(
        L, "policy", "device selection policy", one_of("closest", "all", "random"), True, group="learner"
    ),
    config_param(
        T, "cpu_fraction", "share of one core the trainer may use", in_range(0.01, 1.0), True, group="trainer"
    ),
    config_param(
        T,
        "publish_every_steps",
        "training steps between inference model updates",
        positive,
        True,
        "hot_swap_every_steps",
        "trainer",
    ),
    config_param(
        T,
        "steps_per_input",
        "lock-step: training steps per aligned window, taken before the next input (0 = free-running "
        "trainer within cpu_fraction)",
        non_negative,
        True,
        "train_steps_per_window",
        "trainer",
    ),
    ParamSpec(
        "training_stall_warning_s",
        60.0,
        "warn when no training step happened for this long [s] (0 = never)",
        non_negative,
    ),
    *MODEL_SPECS,
]


def pipeline_configs(params: Any) -> tuple[OnlineLearnerConfig, TrainerConfig]:
    """The learner and trainer configs the parameter values (a :class:`robossl_ros.params.NodeParams` or a
    dict) set; six channels per device (accelerometer, gyroscope), one class per ``class_names`` entry."""
    values = config_values(params, SPECS)
    learner = OnlineLearnerConfig(
        device_names=tuple(params["device_names"]),
        anchor_device=params["anchor_device"],
        channels=6,
        num_classes=len(params["class_names"]),
        **values["learner"],
    )
    trainer = TrainerConfig(
        batch_size=params["batch_size"], min_samples=params["min_windows"], **values["trainer"]
    )
    return learner, trainer
