"""Settings of the demo's drone stage and the stereo -> mono pipeline it runs: the stage config, the
pipeline settings the node, the offline pretraining and the stereo-only comparison flight share
(:func:`pipeline_settings`), and stereo_mono_node's parameters for them (:func:`node_parameters`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from robossl_ros.demo.drone_pretraining import DronePretrainConfig


@dataclass
class DroneStageConfig:
    """Settings of the drone stage."""

    seed: int = 0  # held-out room seed (the pretraining flies training rooms, never this one)
    sim_budget_s: float = 90.0  # simulated flight time of the live stage, seconds (frames = x camera_hz)
    camera_hz: float = 5.0  # frames per simulated second (physics advances 1 / camera_hz per frame)
    train_steps_per_frame: int = 2  # lock-step online learning: node training steps per stereo pair
    reply_timeout_s: float = 60.0  # longest wait for the node's outputs of one frame, seconds
    evaluate_every: int = 5  # compare mono depth with ground truth every n frames
    snapshots: int = 3  # depth comparisons kept for the report (early, middle, late)
    student_height: int = 64  # student input, pixels (multiple of 32); the pretraining uses the same
    student_width: int = 96
    student_channels: float = 0.5  # student channel multiplier
    num_disparities: int = 48  # SGBM disparity range, pixels (min depth ~0.22 m at 160 px)
    # running mono AbsRel (vs stereo) below which mono takes over / above which stereo takes back; the
    # training wheels (imminent_distance_m) guard the near range, so the entry bar may sit above the
    # node's default 0.25 (0.3 -> 0.35 raised room 1's mono share 0.54 -> 0.63, still 0 collisions)
    quality_enter: float = 0.35
    quality_exit: float = 0.45
    # half width of the swept corridor the distance ahead is measured in (drone radius 0.15 m + 0.1 m)
    corridor_half_width_m: float = 0.25
    hot_swap_every_steps: int = 25  # training steps between inference model updates (ONNX re-export)
    pretrain: DronePretrainConfig = field(default_factory=DronePretrainConfig)

    @property
    def frames(self) -> int:
        """Frames of the live stage."""
        return int(round(self.sim_budget_s * self.camera_hz))


def pipeline_settings(config: DroneStageConfig) -> dict[str, Any]:
    """``StereoMonoConfig.from_dict`` settings of the pipeline the node runs (see :func:`node_parameters`):
    the offline pretraining and the stereo-only comparison flight use the same teacher and student."""
    return {
        "rectified_width": 160,
        "sgbm": {"num_disparities": config.num_disparities, "block_size": 5},
        "flight_corridor_half_width_m": config.corridor_half_width_m,
        "student": {
            "input_height": config.student_height,
            "input_width": config.student_width,
            "width": config.student_channels,
        },
        "trainer": {"batch_size": 8, "min_samples": 8, "publish_every_steps": config.hot_swap_every_steps},
        "inference_backend": "onnxruntime",
    }


def node_parameters(config: DroneStageConfig, model_path: str) -> dict[str, dict[str, Any]]:
    """stereo_mono_node parameters for the 160x120 simulated camera (the pipeline of
    :func:`pipeline_settings`), learning lock-step."""
    settings = pipeline_settings(config)
    return {
        "stereo_mono_node": {
            "rectified_width": settings["rectified_width"],
            "student_width": config.student_width,
            "student_height": config.student_height,
            "student_channels": config.student_channels,
            "num_disparities": config.num_disparities,
            "flight_corridor_half_width_m": settings["flight_corridor_half_width_m"],
            "block_size": settings["sgbm"]["block_size"],
            "policy": "persistent",
            "min_learning_frames": 60,
            "quality_enter": config.quality_enter,
            "quality_exit": config.quality_exit,
            "imminent_distance_m": 1.15,
            "release_distance_m": 1.4,
            "replay_capacity": 300,
            "cpu_fraction": 0.8,  # unused in lock-step
            "inference_backend": settings["inference_backend"],
            "batch_size": settings["trainer"]["batch_size"],
            "hot_swap_every_steps": config.hot_swap_every_steps,
            "train_steps_per_input": config.train_steps_per_frame,
            "model_path": model_path,
            "save_on_shutdown": True,
            "queue_depth": 2,
        }
    }
