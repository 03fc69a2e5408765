"""Settings of the demo's rover stage: the stage itself, the offline pretraining of terrain_node's learner,
and the terrain_node parameters and learner configuration both share.

One module below :mod:`robossl_ros.demo.rover_pretrain` (the pretrained start) and
:mod:`robossl_ros.demo.rover_stage` (the live stage), so both import the settings and neither imports the
other's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from robossl.pipelines.terrain.pipeline import TerrainPipelineConfig


@dataclass(frozen=True)
class RoverPretrainConfig:
    """Offline pretraining of terrain_node's learner, and the learner settings the node runs with."""

    train_maps: tuple[int, ...] = (0, 1, 2)  # seeds of the TRAINING-split maps driven for the logs
    drive_s: float = 50.0  # simulated seconds driven on each training map
    gap_s: float = 60.0  # log time between two maps' drives (separate missions), seconds
    drive_seed: int = 12345  # seed of the wander commands on the training maps
    embedding_rounds: int = 3  # rounds of embedding training, each followed by re-clustering
    embedding_steps: int = 60  # triplet steps per embedding round
    segmentation_steps: int = 480  # segmentation steps after the embedding rounds, on the settled labels
    num_clusters: int = 4  # terrain clusters (terrain_node's num_clusters)
    sample_rate: int = 16000  # microphone rate, Hz (terrain_node's sample_rate)
    min_clips: int = 48  # clips before the first clustering (terrain_node's min_clips)
    # Tracks driven up to this long after an image are painted into it (terrain_node's label_horizon_s).
    # 20 s rather than the node's 10 s default: the far ground at the top of the image gets labels too
    # (odometry is exact in the simulator); see docs/terrain.md, "The demo's rover stage".
    label_horizon_s: float = 20.0

    def __post_init__(self) -> None:
        if not self.train_maps or self.drive_s <= 0:
            raise ValueError(
                f"need at least one training map and drive_s > 0 seconds, got maps {self.train_maps}, "
                f"drive_s {self.drive_s}"
            )
        if self.embedding_rounds < 1 or self.embedding_steps < 0 or self.segmentation_steps < 1:
            raise ValueError(
                "need embedding_rounds >= 1 (clustering happens in a round), embedding_steps >= 0 and "
                f"segmentation_steps >= 1; got {self.embedding_rounds}, {self.embedding_steps}, "
                f"{self.segmentation_steps}"
            )


@dataclass
class RoverStageConfig:
    """Settings of the rover stage."""

    seed: int = 0  # map seed (held-out split)
    sim_budget_s: float = 60.0  # simulated seconds of driving (the CLI's --rover-seconds)
    control_period_s: float = 0.05  # audio chunk and odometry period, simulated seconds
    image_period_s: float = 0.5  # camera period, simulated seconds
    command_period_s: float = 1.0  # new wander command every ..., simulated seconds
    snapshots: int = 3  # label images kept for the report
    # Lock-step learning of terrain_node: one round after every n-th image, this many steps per round.
    # 0 images_per_round = the node's free-running background learner, paced at ``speedup``.
    images_per_round: int = 4
    embedding_steps: int = 0  # per round: the embedding comes pretrained; new clips are clustered with it
    scratch_embedding_steps: int = 5  # per round instead, when the node starts without a checkpoint
    segmentation_steps: int = 10  # per round
    speedup: float = 2.0  # simulated seconds per wall second, only when images_per_round == 0
    reply_timeout_s: float = 120.0  # wall seconds the node may take for one image (lock-step)
    pretrain: RoverPretrainConfig = field(default_factory=RoverPretrainConfig)  # see rover_pretrain


def node_parameters(
    config: RoverStageConfig, model_path: str, mount: list[float], pretrained: bool = True
) -> dict[str, dict[str, Any]]:
    """terrain_node's parameters; the learner settings are those the pretrained checkpoint was made with.
    ``pretrained=False``: the node starts from scratch (no checkpoint at ``model_path``) and trains its
    embedding online too (``scratch_embedding_steps`` per round)."""
    learner = config.pretrain
    return {
        "terrain_node": {
            "camera_mount": mount,
            "num_clusters": learner.num_clusters,
            "sample_rate": learner.sample_rate,
            "min_clips": learner.min_clips,
            "label_horizon_s": learner.label_horizon_s,
            "embedding_steps": config.embedding_steps if pretrained else config.scratch_embedding_steps,
            "segmentation_steps": config.segmentation_steps,
            "images_per_round": config.images_per_round,
            "cpu_fraction": 0.6,
            "model_path": model_path,
            "save_on_shutdown": True,
        }
    }


def pipeline_config(pretrain: RoverPretrainConfig) -> TerrainPipelineConfig:
    """The learner configuration terrain_node builds from the parameters of ``node_parameters``."""
    from robossl.pipelines.terrain.pipeline import microphone_config

    return microphone_config(
        pretrain.sample_rate,
        num_clusters=pretrain.num_clusters,
        min_clips=pretrain.min_clips,
        label_horizon_s=pretrain.label_horizon_s,
    )
