"""The parameters of ``stereo_mono_node`` and the pipeline config they make.

Parameters that configure the pipeline take their defaults from :class:`StereoMonoConfig` (one source of
defaults; the node's YAML overrides them), see :func:`robossl_ros.params.config_param`.
"""

from __future__ import annotations

from typing import Any

from robossl.pipelines.stereo_mono.config import StereoMonoConfig
from robossl.pipelines.stereo_mono.switching import POLICIES
from robossl_ros.base import MODEL_SPECS
from robossl_ros.params import (
    Check,
    ParamSpec,
    config_param,
    config_values,
    in_range,
    non_empty,
    non_negative,
    one_of,
    positive,
)


def _multiple_of(n: int) -> Check:
    return lambda v: None if v > 0 and v % n == 0 else f"must be a positive multiple of {n}, got {v}"


C = StereoMonoConfig

SPECS = [
    ParamSpec("left_image_topic", "left/image_raw", "left camera image", check=non_empty, read_only=True),
    ParamSpec("right_image_topic", "right/image_raw", "right camera image", check=non_empty, read_only=True),
    ParamSpec("left_info_topic", "left/camera_info", "left CameraInfo", check=non_empty, read_only=True),
    ParamSpec("right_info_topic", "right/camera_info", "right CameraInfo", check=non_empty, read_only=True),
    ParamSpec(
        "pair_tolerance_s", 0.005, "largest left/right stamp difference of a pair [s]", in_range(0.0, 1.0)
    ),
    config_param(
        C, "rectified_width", "rectified width [px], height keeps the aspect (0 = raw)", non_negative, True
    ),
    config_param(
        C, "student.input_width", "student input width [px]", _multiple_of(32), True, "student_width"
    ),
    config_param(
        C, "student.input_height", "student input height [px]", _multiple_of(32), True, "student_height"
    ),
    config_param(
        C, "student.width", "student channel multiplier", in_range(0.125, 4.0), True, "student_channels"
    ),
    config_param(C, "sgbm.num_disparities", "SGBM disparity range [px]", _multiple_of(16), read_only=True),
    config_param(
        C, "sgbm.block_size", "SGBM window side [px], odd", lambda v: None if v % 2 else "must be odd", True
    ),
    config_param(C, "switching.policy", "switching policy", check=one_of(*POLICIES), read_only=True),
    config_param(
        C, "switching.min_learning_frames", "labelled frames before mono may fly", non_negative, True
    ),
    config_param(C, "switching.quality_enter", "mono AbsRel below which mono takes over", positive, True),
    config_param(C, "switching.quality_exit", "mono AbsRel above which stereo takes back", positive, True),
    config_param(
        C,
        "switching.imminent_distance_m",
        "stereo distance forcing stereo when mono reads farther [m]; >= avoid_distance_m",
        positive,
        read_only=True,
    ),
    config_param(C, "switching.release_distance_m", "stereo distance releasing mono [m]", positive, True),
    config_param(C, "switching.avoid_distance_m", "the controller's avoidance distance [m]", positive, True),
    config_param(
        C,
        "flight_corridor_half_width_m",
        "half width of the robot's swept corridor for the distance ahead [m] (0 = central window)",
        non_negative,
        True,
    ),
    config_param(
        C,
        "flight_corridor_half_height_m",
        "half height of that corridor [m] (keeps the floor out)",
        positive,
        True,
    ),
    ParamSpec("learning", True, "add labelled frames and train online"),
    config_param(
        C,
        "min_confident_fraction",
        "frames with fewer confident pixels are not learned",
        in_range(0, 1),
    ),
    config_param(C, "replay_capacity", "replay buffer size [frames]", positive, read_only=True),
    config_param(C, "replay_policy", "replay policy", one_of("reservoir", "diversity"), read_only=True),
    config_param(C, "learner.learning_rate", "AdamW learning rate of the student", positive, read_only=True),
    config_param(
        C, "trainer.cpu_fraction", "share of one core the trainer may use", in_range(0.01, 1.0), True
    ),
    config_param(
        C, "trainer.batch_size", "training batch [frames]; training starts at this many", positive, True
    ),
    config_param(
        C,
        "trainer.steps_per_input",
        "lock-step learning: exactly this many training steps per processed pair, trained before the next "
        "pair (0 = free-running trainer limited by cpu_fraction)",
        non_negative,
        read_only=True,
        name="train_steps_per_input",
    ),
    config_param(
        C,
        "trainer.publish_every_steps",
        "training steps between inference model updates",
        positive,
        True,
        "hot_swap_every_steps",
    ),
    config_param(C, "inference_backend", "student inference", one_of("torch", "onnxruntime"), read_only=True),
    *MODEL_SPECS,
    ParamSpec(
        "queue_depth", 1, "stereo pairs waiting (1 = latest only: a newer pair replaces it)", positive, True
    ),
]


def pipeline_config(params: Any) -> StereoMonoConfig:
    """The pipeline config the parameter values (a :class:`robossl_ros.params.NodeParams` or a dict) set;
    training starts with the first full batch."""
    values = config_values(params, SPECS)
    values["trainer"]["min_samples"] = params["batch_size"]
    return StereoMonoConfig.from_dict(values)
