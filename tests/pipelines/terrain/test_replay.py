"""feed_bag: a rover log read back into TerrainPipeline (the full path, recorded by the demo's training
drive, is tested in tests/sim/test_rover_stage.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robossl.data.bags import BagWriter
from robossl.data.bags.message_builders import build_audio, build_camera_info, build_image
from robossl.data.bags.messages import AudioChunk
from robossl.pipelines.terrain.pipeline import TerrainPipeline, microphone_config
from robossl.pipelines.terrain.projection import PinholeCamera, camera_mount
from robossl.pipelines.terrain.replay import TerrainTopics, feed_bag


def _log(path: Path, audio_rate: float, odometry: bool) -> None:
    from robossl_ros.demo.rover_pretrain import build_odometry

    camera = PinholeCamera.from_vertical_fov(60.0, 32, 24)
    with BagWriter(path) as bag:
        store = bag.typestore
        for k in range(3):
            stamp = 1_000_000_000 + k * 500_000_000
            info = build_camera_info(store, stamp, "cam", (32, 24), camera.matrix())
            bag.write("/camera/camera_info", stamp, info)
            rgb = np.full((24, 32, 3), 40 * k, np.uint8)
            bag.write("/camera/image_raw", stamp, build_image(store, stamp, "cam", rgb, "rgb8"))
            pcm = np.zeros((int(audio_rate) // 2, 1), np.int16)
            bag.write("/audio", stamp, build_audio(store, AudioChunk(pcm, audio_rate, stamp)))
            if odometry:
                bag.write("/odom", stamp, build_odometry(store, stamp, (0.1 * k, 0.0, 0.2)))


def test_feeds_every_input_and_counts_audio_at_another_rate_as_dropped(tmp_path: Path) -> None:
    _log(tmp_path / "log", 16000.0, odometry=True)
    pipeline = TerrainPipeline(microphone_config(16000, num_clusters=2))
    counts = feed_bag(pipeline, tmp_path / "log", camera_mount(0.3, 0.45, 35.0))
    assert counts == {"poses": 3, "images": 3, "audio_chunks": 3}
    assert pipeline.camera == PinholeCamera.from_vertical_fov(60.0, 32, 24)
    assert pipeline.stats()["images"] == 3

    _log(tmp_path / "log8k", 8000.0, odometry=True)
    pipeline = TerrainPipeline(microphone_config(16000, num_clusters=2))
    with pytest.raises(ValueError, match=r"log8k: no usable audio_chunks \(/audio\)"):
        feed_bag(pipeline, tmp_path / "log8k", camera_mount(0.3, 0.45, 35.0))
    assert pipeline.stats()["images"] == 3  # what was usable went in


def test_a_log_without_a_topic_is_refused_naming_it(tmp_path: Path) -> None:
    _log(tmp_path / "log", 16000.0, odometry=False)
    with pytest.raises(ValueError, match="/odom"):
        feed_bag(TerrainPipeline(), tmp_path / "log", camera_mount(0.3, 0.45, 35.0))


def test_microphone_config_sets_the_front_end_rate_too() -> None:
    config = microphone_config(8000, num_clusters=3, min_clips=10)
    assert (config.sample_rate, config.spectrogram.sample_rate) == (8000, 8000)
    assert (config.num_clusters, config.min_clips) == (3, 10)
    assert TerrainTopics().audio == "/audio"
