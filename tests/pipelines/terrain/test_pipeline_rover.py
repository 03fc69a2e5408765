"""TerrainPipeline end to end on a MuJoCo rover drive: audio -> clusters -> projected labels -> segmentation,
then a checkpoint round trip. Real rendering, real synthesised audio, no mocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from robossl.online.checkpoint import load_checkpoint, save_checkpoint
from robossl.pipelines.terrain import IGNORE_INDEX, TerrainPipeline, TerrainPipelineConfig
from robossl.pipelines.terrain.clustering import cluster_accuracy

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def drive_and_pipeline():
    from robossl_sim.worlds.rover import RoverWorld, record_drive

    with RoverWorld(seed=0) as world:
        drive = record_drive(world, 40.0, np.random.default_rng(0))
        camera, mount, offsets = world.camera, world.base_T_camera, world.config.wheel_offsets
    config = TerrainPipelineConfig(
        num_clusters=4, wheel_offsets=tuple(map(tuple, offsets.tolist())), min_clips=32, triplet_batch=32
    )
    pipe = TerrainPipeline(config, camera, mount)
    for t, pose in zip(drive.pose_times, drive.poses):
        pipe.add_pose(t, pose)
    for start in range(0, len(drive.audio), 800):
        pipe.add_audio(start / drive.sample_rate, drive.audio[start : start + 800])
    for t, image in zip(drive.image_times, drive.images):
        pipe.add_image(t, image)
    for _ in range(2):
        metrics = pipe.learn(embedding_steps=40, segmentation_steps=30)
    return drive, pipe, metrics


@pytest.mark.slow
def test_clusters_follow_terrain_and_labels_land_on_it(drive_and_pipeline) -> None:
    drive, pipe, metrics = drive_and_pipeline
    stats = pipe.stats()
    assert stats["clips"] == 1 + (40 * 16000 - 8000) // 4000
    assert stats["clips_with_visual_descriptor"] > 0.8 * stats["clips"]
    assert metrics["visual_mining"] == 1.0 and stats["embedding_steps"] == 80
    assert stats["num_clusters"] == 4 and sum(stats["cluster_counts"]) == stats["clips"]
    times, ids = pipe.clip_cluster_ids()
    index = np.minimum(np.searchsorted(drive.pose_times, times + 0.25), len(drive.pose_times) - 1)
    under = drive.wheel_terrains[index]
    uniform = np.all(under == under[:, :1], axis=1)
    # Clips with all wheels on one terrain: their cluster matches that terrain far above chance (0.25-0.5).
    assert cluster_accuracy(under[uniform, 0], ids[uniform]) > 0.7
    # Most stored images got painted tracks (clips near terrain borders are left out), with cluster ids only
    # (the geometry of the painting against the rendered ground truth is checked in
    # tests/sim/test_rover_world.py).
    pairs = pipe.label_images()
    assert len(pairs) > 0.6 * len(drive.images)
    painted = np.concatenate([labels[labels != IGNORE_INDEX] for _, labels in pairs])
    assert set(np.unique(painted).tolist()) <= {0, 1, 2, 3} and len(painted) > 100 * len(pairs)


@pytest.mark.slow
def test_clips_that_straddle_a_terrain_border_are_not_painted(drive_and_pipeline) -> None:
    drive, pipe, _ = drive_and_pipeline
    times, ids = pipe.clip_cluster_ids()
    clean = pipe.clip_clean_flags()
    assert pipe.stats()["clean_clips"] == int(clean.sum()) and 0.1 * len(clean) < clean.sum() < len(clean)
    # Terrain under the four wheels at the start, middle and end of each clip (0.5 s).
    under = np.concatenate(
        [
            drive.wheel_terrains[
                np.minimum(np.searchsorted(drive.pose_times, times + dt), len(drive.pose_times) - 1)
            ]
            for dt in (0.0, 0.25, 0.5)
        ],
        axis=1,
    )
    uniform = np.all(under == under[:, :1], axis=1)
    # Found without labels (clusters of the neighbouring clips disagree), border clips are mostly dropped ...
    assert clean[~uniform].mean() < 0.5 * clean[uniform].mean()
    # ... so the kept clips' clusters agree with the terrain better than all clips' clusters do.
    assert cluster_accuracy(under[clean & uniform, 0], ids[clean & uniform]) > 0.85
    kept = cluster_accuracy(under[clean, 0], ids[clean])
    assert kept > cluster_accuracy(under[:, 0], ids) + 0.05


@pytest.mark.slow
def test_segmentation_and_checkpoint_round_trip(drive_and_pipeline, tmp_path: Path) -> None:
    drive, pipe, _ = drive_and_pipeline
    image = drive.images[5]
    labels = pipe.segment(image)
    assert labels.shape == image.shape[:2] and labels.dtype == np.uint8
    assert labels.max() < 4 and len(np.unique(labels)) >= 2
    path = tmp_path / "terrain.pt"
    save_checkpoint(path, pipe.state_dict())
    restored = TerrainPipeline(pipe.config, pipe.camera, pipe.base_T_camera)
    restored.load_state_dict(load_checkpoint(path))
    np.testing.assert_array_equal(restored.segment(image), labels)
    before, after = pipe.stats(), restored.stats()
    for key in ("clips", "images", "cluster_counts", "embedding_steps", "segmentation_steps", "dropped"):
        assert before[key] == after[key], key
    np.testing.assert_array_equal(restored.clip_cluster_ids()[1], pipe.clip_cluster_ids()[1])
    np.testing.assert_array_equal(restored.clip_clean_flags(), pipe.clip_clean_flags())
    # Learning continues from the restored state with the same random stream.
    a, b = pipe.learn(2, 2), restored.learn(2, 2)
    assert a["embedding_loss"] == pytest.approx(b["embedding_loss"], rel=1e-4)


@pytest.mark.slow
def test_segment_uses_the_published_network_while_a_round_trains(drive_and_pipeline) -> None:
    """segment() from another thread during a learning round neither waits for the round nor touches the
    network being trained; the round's result is hot-swapped in at its end. The round is held open by
    wrapping the segmentation learner's step (a pause, not a fake: the real step still runs)."""
    import threading

    drive, pipe, _ = drive_and_pipeline
    image = drive.images[5]
    before, version = pipe.segment(image), pipe.segmentation_version
    assert version > 0
    learner = pipe.learner.segmenter
    real_step, inside, release = learner.step, threading.Event(), threading.Event()

    def held_step(images: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        out = real_step(images, labels)
        inside.set()
        assert release.wait(30)
        return out

    learner.step = held_step  # type: ignore[method-assign]
    round_thread = threading.Thread(target=pipe.learn, args=(0, 3))
    round_thread.start()
    try:
        assert inside.wait(60)
        during = pipe.segment(image)  # returns while the round is held open
        np.testing.assert_array_equal(during, before)
        assert learner.model.training  # inference did not switch the training network to eval mode
        assert pipe.segmentation_version == version
    finally:
        release.set()
        round_thread.join(60)
        del learner.step
    assert pipe.segmentation_version == version + 1
    trained = learner.predict(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0)[0]
    np.testing.assert_array_equal(pipe.segment(image), trained.astype(np.uint8))
