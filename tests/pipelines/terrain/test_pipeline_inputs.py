"""TerrainPipeline ingestion: clip cutting, bad input dropped and counted, nothing learned too early."""

from __future__ import annotations

import numpy as np
import pytest

from robossl.pipelines.terrain import IGNORE_INDEX, PinholeCamera, TerrainPipeline, TerrainPipelineConfig
from robossl.pipelines.terrain.projection import camera_mount

CAMERA = PinholeCamera.from_vertical_fov(60.0, 32, 24)


def _pipeline(**overrides: object) -> TerrainPipeline:
    config = TerrainPipelineConfig(sample_rate=16000, **overrides)  # type: ignore[arg-type]
    return TerrainPipeline(config, CAMERA, camera_mount(0.3, 0.45, 35.0))


def test_clips_are_cut_only_where_poses_cover_them() -> None:
    pipe = _pipeline()
    for k in range(11):  # poses 0 .. 1.0 s
        pipe.add_pose(0.1 * k, (0.05 * k, 0.0, 0.0))
    for k in range(40):  # 2 s of audio in 50 ms chunks
        pipe.add_audio(0.05 * k, np.zeros(800, np.float32))
    # clips of 0.5 s every 0.25 s that end by t = 1.0: starts 0, 0.25, 0.5
    times, ids = pipe.clip_cluster_ids()
    np.testing.assert_allclose(times, [0.0, 0.25, 0.5])
    assert ids.tolist() == [-1, -1, -1]
    for k in range(11, 21):
        pipe.add_pose(0.1 * k, (0.05 * k, 0.0, 0.0))
    assert len(pipe.clip_cluster_ids()[0]) == 7  # up to start 1.5 (ends at 2.0)


def test_bad_inputs_are_dropped_and_counted() -> None:
    pipe = _pipeline()
    assert pipe.add_pose(1.0, np.eye(4))
    assert not pipe.add_pose(0.5, np.eye(4))  # out of order
    assert not pipe.add_pose(2.0, np.full((4, 4), np.nan))
    assert not pipe.add_audio(0.0, np.array([0.0, np.nan], np.float32))
    assert pipe.add_audio(0.0, np.zeros(160, np.int16))
    assert pipe.add_audio(0.5, np.zeros(160, np.int16))  # a gap restarts the stream
    assert not pipe.add_image(0.0, np.zeros((10, 10, 3), np.uint8))  # not the camera size
    assert not pipe.add_image(0.0, np.zeros((24, 32, 3), np.float32))
    assert pipe.add_image(0.0, np.zeros((24, 32, 3), np.uint8))
    assert pipe.stats()["dropped"] == {"audio_nan": 1, "audio_gap": 1, "image_bad": 2, "pose_bad": 2}


def test_nothing_is_learned_or_predicted_before_enough_clips() -> None:
    pipe = _pipeline(min_clips=64)
    assert pipe.learn(5, 5) == {}
    label = pipe.segment(np.zeros((24, 32, 3), np.uint8))
    assert label.shape == (24, 32) and np.all(label == IGNORE_INDEX)
    assert pipe.classify_audio(np.zeros(8000, np.float32)) == -1
    with pytest.raises(ValueError, match="uint8"):
        pipe.segment(np.zeros((24, 32), np.uint8))


def test_config_errors_say_how_to_fix() -> None:
    with pytest.raises(ValueError, match="num_clusters"):
        TerrainPipelineConfig(num_clusters=1)
    with pytest.raises(ValueError, match="microphone rate"):
        TerrainPipelineConfig(sample_rate=8000)
    with pytest.raises(ValueError, match="border check"):
        TerrainPipelineConfig(consistency_s=-1.0)
    with pytest.raises(ValueError, match="consistency_agreement"):
        TerrainPipelineConfig(consistency_agreement=0.0)
