"""Configuration of the stereo -> mono pipeline, built from nested dicts (YAML / ROS parameters)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from robossl.online.trainer import TrainerConfig
from robossl.pipelines.stereo_mono.learner import MonoDepthLearnerConfig
from robossl.pipelines.stereo_mono.student import StudentConfig
from robossl.pipelines.stereo_mono.switching import SwitchingConfig
from robossl.pipelines.stereo_mono.teacher import SGBMConfig


@dataclass
class StereoMonoConfig:
    """Everything the pipeline needs besides the calibration."""

    sgbm: SGBMConfig = field(default_factory=SGBMConfig)  # stereo teacher
    student: StudentConfig = field(default_factory=StudentConfig)  # student architecture / input size
    learner: MonoDepthLearnerConfig = field(
        default_factory=MonoDepthLearnerConfig
    )  # optimiser and augmentation
    trainer: TrainerConfig = field(default_factory=TrainerConfig)  # background thread and CPU budget
    switching: SwitchingConfig = field(default_factory=SwitchingConfig)  # stereo / mono state machine
    rectified_width: int = 0  # width to rectify to, pixels (0 = camera width); height keeps the aspect
    replay_capacity: int = 300  # samples kept in the replay buffer
    replay_policy: str = "reservoir"  # "reservoir" or "diversity"
    sample_every: int = 1  # add every n-th labelled frame to the replay buffer
    min_confident_fraction: float = 0.05  # frames with fewer confident stereo pixels are not stored
    confidence_threshold: float = 0.3  # stereo pixels with confidence below are ignored as labels
    # stereo pixels with confidence below are ignored in the distance ahead; 0 = every valid pixel (a near,
    # weakly textured obstacle still has good disparities but low texture confidence: ignoring it hides it)
    distance_confidence_threshold: float = 0.0
    quality_smoothing: float = 0.05  # EMA weight of the mono-vs-stereo quality estimate
    flight_window: float = 0.6  # central window (fraction of width/height) for the distance ahead
    distance_percentile: float = 10.0  # depth percentile in the window used as distance; 0 = paper's average
    # > 0: the distance ahead is measured in the robot's swept corridor instead of the central window:
    # half its width (robot half-width + margin) and half its height, metres (see corridor_distance)
    flight_corridor_half_width_m: float = 0.0
    flight_corridor_half_height_m: float = 0.25
    inference_backend: str = "torch"  # "torch" or "onnxruntime" (re-exported after each hot swap)
    inference_threads: int = 1  # ONNX Runtime intra-op threads
    run_mono_in_stereo_mode: bool = True  # run the student every frame (needed for the quality estimate)

    def __post_init__(self) -> None:
        if self.inference_backend not in ("torch", "onnxruntime"):
            raise ValueError(
                f"inference_backend must be 'torch' or 'onnxruntime', got {self.inference_backend!r}"
            )
        if self.replay_policy not in ("reservoir", "diversity"):
            raise ValueError(f"replay_policy must be 'reservoir' or 'diversity', got {self.replay_policy!r}")
        if self.flight_corridor_half_width_m < 0 or self.flight_corridor_half_height_m <= 0:
            raise ValueError(
                "flight_corridor_half_width_m must be >= 0 (0 = central window) and "
                f"flight_corridor_half_height_m > 0, got {self.flight_corridor_half_width_m}, "
                f"{self.flight_corridor_half_height_m}"
            )
        if not 0.0 < self.flight_window <= 1.0:
            raise ValueError(f"flight_window must be in (0, 1], got {self.flight_window}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> StereoMonoConfig:
        """Build from a nested dict; unknown keys raise ``ValueError`` naming the valid ones."""
        return _build(cls, values, "stereo_mono")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _build(kind: Any, values: dict[str, Any], where: str) -> Any:
    if not isinstance(values, dict):
        raise ValueError(f"{where} must be a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(kind)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where}; valid keys: {sorted(fields)}")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        factory: Any = fields[name].default_factory
        default = factory() if callable(factory) else None
        if dataclasses.is_dataclass(default):
            kwargs[name] = _build(type(default), value, f"{where}.{name}")
        else:
            kwargs[name] = value
    return kind(**kwargs)
