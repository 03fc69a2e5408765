"""Offline training from a stereo log: calibration from the log's CameraInfos, errors that name the topic.
(The full record -> label -> train -> checkpoint path is tested in tests/sim/test_drone_pretraining.py.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robossl.data.bags import BagError
from robossl.data.bags.message_builders import build_camera_info, build_image
from robossl.data.bags.writer import BagWriter
from robossl.errors import DataSourceError
from robossl.pipelines.stereo_mono.config import StereoMonoConfig
from robossl.pipelines.stereo_mono.log_training import StereoLogTopics, calibration_from_log, label_log
from robossl.pipelines.stereo_mono.pipeline import StereoMonoPipeline


def test_a_log_without_camera_info_names_the_topic(tmp_path: Path) -> None:
    from robossl.data.bags.message_builders import build_image

    bag = tmp_path / "no_info"
    with BagWriter(bag) as rec:
        image = np.zeros((4, 4), np.uint8)
        rec.write("/left/image_raw", 1, build_image(rec.typestore, 1, "left", image, "mono8"))
    with pytest.raises(BagError, match=r"no topic\(s\) \['/left/camera_info', '/right/camera_info'\]"):
        calibration_from_log(bag, StereoLogTopics())
    # The topics exist but hold no CameraInfo before the images: the same, named by the pipeline.
    with BagWriter(tmp_path / "empty_info") as rec:
        rec.add_topic("/left/camera_info", "sensor_msgs/msg/CameraInfo")
        rec.add_topic("/right/camera_info", "sensor_msgs/msg/CameraInfo")
        rec.write("/left/image_raw", 1, build_image(rec.typestore, 1, "left", image, "mono8"))
    with pytest.raises(DataSourceError, match="no CameraInfo on /left/camera_info, /right/camera_info"):
        calibration_from_log(tmp_path / "empty_info", StereoLogTopics())


def test_label_log_needs_a_stereo_only_teacher_pipeline_and_names_missing_pairs(tmp_path: Path) -> None:
    topics = StereoLogTopics()
    K = np.array([[100.0, 0, 39.5], [0, 100.0, 29.5], [0, 0, 1]])
    P_right = np.hstack([K, [[-10.0], [0], [0]]])
    bag = tmp_path / "left_only"
    with BagWriter(bag) as rec:
        store = rec.typestore
        rec.write(topics.left_info, 1, build_camera_info(store, 1, "l", (80, 60), K))
        rec.write(topics.right_info, 1, build_camera_info(store, 1, "r", (80, 60), K, P=P_right))
        image = np.zeros((60, 80), np.uint8)
        rec.write(topics.left_image, 1, build_image(store, 1, "l", image, "mono8"))
        rec.write(topics.right_image, 2, build_image(store, 2, "r", image, "mono8"))  # another stamp
    calibration = calibration_from_log(bag, topics)
    assert calibration.baseline_m == pytest.approx(0.1) and calibration.image_size == (80, 60)
    persistent = StereoMonoPipeline(StereoMonoConfig(), calibration)
    with pytest.raises(ValueError, match="stereo_only"):
        label_log(persistent, bag, topics)
    teacher_only = StereoMonoConfig.from_dict(
        {"switching": {"policy": "stereo_only"}, "run_mono_in_stereo_mode": False}
    )
    with pytest.raises(DataSourceError, match="no stereo pair on /left/image_raw / /right/image_raw"):
        label_log(StereoMonoPipeline(teacher_only, calibration), bag, topics)
