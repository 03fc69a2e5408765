"""The parameters of ``terrain_node`` and the pipeline they make.

Parameters that configure the pipeline take their defaults from :class:`TerrainPipelineConfig` and
:class:`TrainerConfig` (one source of defaults; the node's YAML overrides them), see
:func:`robossl_ros.params.config_param`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from robossl.online import TrainerConfig
from robossl.pipelines.terrain.embedding import EmbeddingConfig
from robossl.pipelines.terrain.pipeline import TerrainPipeline, TerrainPipelineConfig, microphone_config
from robossl_ros.base import MODEL_SPECS
from robossl_ros.params import (
    ParamSpec,
    config_param,
    config_values,
    in_range,
    non_empty,
    non_negative,
    positive,
)


def _mount(value: list[float]) -> str | None:
    return None if len(value) == 3 else f"must be [x_m, z_m, pitch_down_deg], got {value}"


P = TerrainPipelineConfig

SPECS = [
    ParamSpec("image_topic", "camera/image_raw", "camera image", non_empty, read_only=True),
    ParamSpec("camera_info_topic", "camera/camera_info", "camera intrinsics", non_empty, read_only=True),
    ParamSpec("audio_topic", "audio", "interaction audio (Int16MultiArray)", non_empty, read_only=True),
    ParamSpec("odom_topic", "odom", "robot pose (nav_msgs/Odometry)", non_empty, read_only=True),
    ParamSpec(
        "camera_mount", [0.3, 0.5, 30.0], "camera on the base: [x m, z m, pitch down deg]", _mount, True
    ),
    config_param(
        P,
        "num_clusters",
        "terrain clusters (0 = choose by silhouette)",
        in_range(0, 254),
        True,
        group="pipeline",
    ),
    config_param(P, "sample_rate", "audio sample rate [Hz]", positive, True, group="pipeline"),
    config_param(P, "min_clips", "audio clips before the first embedding", positive, True, group="pipeline"),
    config_param(P, "max_clips", "audio clips kept (oldest dropped)", positive, True, group="pipeline"),
    config_param(
        P, "max_images", "images kept for labelling (oldest dropped)", positive, True, group="pipeline"
    ),
    config_param(
        P,
        "label_horizon_s",
        "tracks driven up to this long after an image are painted into it [s]",
        positive,
        True,
        group="pipeline",
    ),
    config_param(
        P,
        "embedding.learning_rate",
        "Adam learning rate of the audio embedding",
        positive,
        True,
        "embedding_learning_rate",
        "pipeline",
    ),
    ParamSpec("embedding_steps", 5, "embedding steps per learning round", non_negative),
    ParamSpec("segmentation_steps", 5, "segmentation steps per learning round", non_negative),
    config_param(
        TrainerConfig,
        "cpu_fraction",
        "share of one core learning may use",
        in_range(0.01, 1.0),
        group="trainer",
    ),
    ParamSpec(
        "images_per_round",
        0,
        "lock-step: one learning round after every n-th image, in the ingest thread (0 = background "
        "learning under cpu_fraction)",
        non_negative,
        read_only=True,
    ),
    ParamSpec("segment_every_n", 1, "segment every n-th image", positive),
    ParamSpec("queue_depth", 5000, "inputs waiting for the pipeline while it learns", positive, True),
    *MODEL_SPECS,
]


def build_pipeline(params: Any) -> TerrainPipeline:
    """The pipeline the parameter values (a :class:`robossl_ros.params.NodeParams` or a dict) configure:
    a microphone pipeline, one-thread trainer, ``num_clusters`` 0 choosing k by silhouette."""
    values = config_values(params, SPECS)
    learner = values["pipeline"]
    learner["num_clusters"] = learner["num_clusters"] or None
    learner["embedding"] = replace(EmbeddingConfig(), **learner["embedding"])
    return TerrainPipeline(
        microphone_config(learner.pop("sample_rate"), **learner),
        trainer=TrainerConfig(torch_threads=1, **values["trainer"]),
        embedding_steps=params["embedding_steps"],
        segmentation_steps=params["segmentation_steps"],
    )
