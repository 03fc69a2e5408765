"""The demo's rover stage: training-map logs recorded and pretrained once (cached), terrain_node started from
that checkpoint, lock-step learning over real DDS (tiny budgets: the mechanics, not the learning result)."""

from __future__ import annotations

import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from robossl_ros.demo.rover_pretrain import RoverPretrainConfig
from robossl_ros.demo.rover_stage import RoverStageConfig, pipeline_config, prepare

TINY = RoverPretrainConfig(
    train_maps=(1,), drive_s=12.0, embedding_rounds=1, embedding_steps=2, segmentation_steps=3, min_clips=16
)


def _quiet(fraction: float, status: str) -> None:
    pass


@pytest.mark.slow
def test_prepare_records_training_maps_pretrains_and_reuses_its_cache(tmp_path: Path) -> None:
    from robossl.data.bags import iter_messages
    from robossl.online.checkpoint import load_checkpoint
    from robossl.pipelines.terrain.pipeline import TerrainPipeline
    from robossl.pipelines.terrain.projection import yaw_from_quaternion
    from robossl_sim.worlds.rover import RoverConfig, RoverWorld, make_terrain_map

    config = RoverStageConfig(pretrain=TINY)
    first = prepare(config, tmp_path, _quiet)
    assert not first.cached and first.checkpoint.is_file()
    folder = first.checkpoint.parent
    assert folder.parent == tmp_path and folder.name.startswith("rover-")
    # The logs are a rosbag2 of the node's input topics, driven on the TRAINING map (never a held-out one).
    assert first.details["recorded"] == {
        "/odom": 241,
        "/camera/camera_info": 24,
        "/camera/image_raw": 24,
        "/audio": 240,
    }
    odom = next(iter(iter_messages(folder / "logs", ["/odom"]))).msg
    q = odom.pose.pose.orientation
    start = (odom.pose.pose.position.x, odom.pose.pose.position.y, yaw_from_quaternion(q.x, q.y, q.z, q.w))
    assert np.allclose(start, make_terrain_map(1, "train", RoverConfig()).start, atol=1e-9)
    assert not np.allclose(start, make_terrain_map(1, "heldout", RoverConfig()).start, atol=1e-3)
    # The replay fed the whole log; the learner trained the steps asked for.
    assert first.details["replayed"] == {"poses": 241, "images": 24, "audio_chunks": 240}
    assert (first.details["embedding_steps"], first.details["segmentation_steps"]) == (2, 3)

    # The checkpoint is the node's format; the learner built the node's way segments from the first image.
    learner = TerrainPipeline(pipeline_config(TINY))
    learner.load_state_dict(load_checkpoint(first.checkpoint)["pipeline"])
    with RoverWorld(0, "heldout") as world:
        labels = learner.segment(world.render().rgb)
    assert labels.max() < TINY.num_clusters  # every pixel gets a cluster: no blank first label image

    data = first.checkpoint.read_bytes()
    again = prepare(config, tmp_path, _quiet)
    assert again.cached and again.checkpoint == first.checkpoint and again.details == first.details
    assert first.checkpoint.read_bytes() == data
    # Another live seed drives another held-out map from the same pretrained start.
    assert prepare(replace(config, seed=2), tmp_path, _quiet).checkpoint == first.checkpoint

    # An interrupted preparation (no done.json) is redone; a changed setting gets its own folder.
    (folder / "done.json").unlink()
    assert not prepare(config, tmp_path, _quiet).cached
    other = prepare(replace(config, pretrain=replace(TINY, segmentation_steps=4)), tmp_path, _quiet)
    assert not other.cached and other.checkpoint.parent != folder
    assert other.details["segmentation_steps"] == 4


def test_pretrain_config_refuses_a_recipe_that_trains_no_segmentation() -> None:
    with pytest.raises(ValueError, match="segmentation_steps >= 1"):
        RoverPretrainConfig(segmentation_steps=0)
    with pytest.raises(ValueError, match="at least one training map"):
        RoverPretrainConfig(train_maps=())


@pytest.mark.ros
@pytest.mark.slow
def test_node_starts_from_the_pretrained_checkpoint_and_learns_in_lockstep(tmp_path: Path) -> None:
    from robossl.netsafe import apply_loopback_env
    from robossl_ros.demo import rover_stage
    from robossl_ros.demo.ros_side import DemoRosNode, NodeProcess
    from robossl_sim.worlds.rover import RoverConfig

    apply_loopback_env()
    config = RoverStageConfig(
        seed=0, sim_budget_s=6.0, images_per_round=2, embedding_steps=1, segmentation_steps=2, pretrain=TINY
    )
    start = prepare(config, tmp_path / "cache", _quiet)
    model = tmp_path / "models" / "terrain.pt"
    model.parent.mkdir()
    shutil.copy(start.checkpoint, model)
    rover = RoverConfig()
    mount = [rover.camera_x_m, rover.camera_z_m, rover.camera_pitch_deg]
    process = NodeProcess("rover", rover_stage.node_parameters(config, str(model), mount), tmp_path)
    ros = DemoRosNode(tmp_path / "bag")
    try:
        process.start()
        result = rover_stage.run(ros, config, _quiet)
    finally:
        exit_code = process.stop()
        ros.close()
    log = process.log_path.read_text()
    assert exit_code == 0, log
    assert f"loaded terrain model from {model}" in log
    assert result.images_published == 12 and result.label_images == 12
    assert result.sim_seconds == pytest.approx(6.0)
    # The first label image (t = 0) already carries clusters: the node started pretrained.
    assert result.per_frame and result.per_frame[0][0] == 0.0
    # Lock-step: one round per two images, each with exactly the configured steps, on top of pretraining
    # (a round trains no segmentation when no clip passes the border check: possible with this tiny start).
    stats = result.cluster_stats
    assert stats["images_seen"] == 12 and result.learning_rounds == 6
    assert stats["embedding_steps"] == start.details["embedding_steps"] + 6 * 1
    online_segmentation = stats["segmentation_steps"] - start.details["segmentation_steps"]
    assert online_segmentation % 2 == 0 and 0 < online_segmentation <= 6 * 2
    assert math.isfinite(result.miou_last_third) and 0.0 <= result.miou_last_third <= 1.0
