"""One source of configuration: a node's pipeline parameters default to the pipeline config dataclass."""

from __future__ import annotations

from typing import Any

import pytest

from robossl.online import TrainerConfig
from robossl.pipelines.stereo_mono.config import StereoMonoConfig
from robossl_ros.params import ParamSpec, config_default, config_values

pytest.importorskip("rclpy")


def _defaults(specs: list[ParamSpec]) -> dict[str, Any]:
    return {spec.name: spec.default for spec in specs}


def _assert_defaults_from(specs: list[ParamSpec], configs: dict[str, type]) -> int:
    """Every spec with a config field has that field's dataclass default; returns how many were checked."""
    checked = 0
    for spec in specs:
        if not spec.field:
            continue
        group, _, path = spec.field.partition(".")
        kind, path = (configs[group], path) if group in configs else (configs[""], spec.field)
        assert spec.default == config_default(kind, path), f"{spec.name} ({spec.field})"
        checked += 1
    return checked


def test_stereo_mono_node_defaults_build_the_default_pipeline_config() -> None:
    from robossl_ros.stereo_mono_node import SPECS

    assert _assert_defaults_from(SPECS, {"": StereoMonoConfig}) >= 20
    defaults = _defaults(SPECS)
    assert defaults["replay_capacity"] == StereoMonoConfig().replay_capacity == 300
    assert defaults["inference_backend"] == "torch" and "learning_rate" in defaults
    values = config_values(defaults, SPECS)
    values["trainer"]["min_samples"] = defaults["batch_size"]  # as the node does
    assert StereoMonoConfig.from_dict(values).to_dict() == StereoMonoConfig().to_dict()


def test_har_node_defaults_come_from_the_learner_and_trainer_configs() -> None:
    from robossl.pipelines.collossl.online import OnlineLearnerConfig
    from robossl_ros.har_node import SPECS

    assert _assert_defaults_from(SPECS, {"learner": OnlineLearnerConfig, "trainer": TrainerConfig}) >= 10
    defaults = _defaults(SPECS)
    assert defaults["cpu_fraction"] == TrainerConfig().cpu_fraction
    assert defaults["learning_rate"] == config_default(OnlineLearnerConfig, "learning_rate")


def test_terrain_node_defaults_come_from_the_pipeline_and_trainer_configs() -> None:
    from robossl.pipelines.terrain.pipeline import TerrainPipelineConfig
    from robossl_ros.terrain_node import SPECS

    assert _assert_defaults_from(SPECS, {"pipeline": TerrainPipelineConfig, "trainer": TrainerConfig}) >= 5
    defaults = _defaults(SPECS)
    assert defaults["cpu_fraction"] == TrainerConfig().cpu_fraction
    assert defaults["max_clips"] == TerrainPipelineConfig().max_clips
