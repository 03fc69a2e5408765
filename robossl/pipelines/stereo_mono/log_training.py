"""Offline training of the monocular student from a recorded stereo log (the replay path).

A log is any bag :func:`robossl.data.bags.iter_messages` reads (rosbag2 mcap / sqlite3, ROS 1) with the two
image topics and their CameraInfos. :func:`calibration_from_log` builds the stereo calibration from the
first CameraInfo of each side; :func:`label_log` runs every stereo pair through
:meth:`StereoMonoPipeline.process` exactly as the live node does (rectify, SGBM teacher, labelled sample into
the replay buffer); :meth:`StereoMonoPipeline.train_steps` then trains the student offline, and
:meth:`StereoMonoPipeline.save` writes the checkpoint ``stereo_mono_node`` loads from ``model_path``.

Example::

    topics = StereoLogTopics("/drone/left/image_raw", "/drone/right/image_raw",
                             "/drone/left/camera_info", "/drone/right/camera_info")
    pipeline = StereoMonoPipeline(config, calibration_from_log("flights", topics))
    label_log(pipeline, "flights", topics)
    pipeline.train_steps(1000, publish=True)
    pipeline.save("stereo_mono.pt", include_replay=False)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from robossl.data.bags import iter_messages
from robossl.data.streams import stereo_pairs
from robossl.errors import DataSourceError
from robossl.pipelines.stereo_mono.calibration import StereoCalibration
from robossl.pipelines.stereo_mono.pipeline import StereoMonoPipeline

PathLike = str | Path


@dataclass(frozen=True)
class StereoLogTopics:
    """Topic names of a stereo log."""

    left_image: str = "/left/image_raw"  # sensor_msgs/Image
    right_image: str = "/right/image_raw"  # sensor_msgs/Image, same stamps as the left images
    left_info: str = "/left/camera_info"  # sensor_msgs/CameraInfo
    right_info: str = "/right/camera_info"  # sensor_msgs/CameraInfo (p[3] = -fx * baseline)


def calibration_from_log(path: PathLike, topics: StereoLogTopics) -> StereoCalibration:
    """The stereo calibration of the first CameraInfo on each side of the log.

    Raises:
        DataSourceError: a CameraInfo topic has no message, or the pair is not a stereo calibration.
    """
    first: dict[str, object] = {}
    for message in iter_messages(path, [topics.left_info, topics.right_info]):
        first.setdefault(message.topic, message.msg)
        if len(first) == 2:
            break
    missing = [t for t in (topics.left_info, topics.right_info) if t not in first]
    if missing:
        raise DataSourceError(
            f"{os.fspath(path)}: no CameraInfo on {', '.join(missing)}; record the cameras' CameraInfo "
            "topics with the images (or name the right topics)"
        )
    try:
        return StereoCalibration.from_camera_info(first[topics.left_info], first[topics.right_info])
    except ValueError as exc:
        raise DataSourceError(
            f"{os.fspath(path)}: CameraInfo on {topics.left_info} / {topics.right_info}: {exc}"
        ) from exc


def label_log(
    pipeline: StereoMonoPipeline,
    path: PathLike,
    topics: StereoLogTopics,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Run every stereo pair of the log through ``pipeline`` (fills its replay buffer with SGBM labels).

    The pipeline should fly ``stereo_only`` without running the student
    (``run_mono_in_stereo_mode=False``): labelling needs only the teacher.

    Args:
        progress: called with the number of pairs done after each pair.

    Returns:
        The number of stereo pairs processed.

    Raises:
        DataSourceError: the log has no stereo pair with equal stamps on the two image topics.
    """
    if pipeline.config.switching.policy != "stereo_only" or pipeline.config.run_mono_in_stereo_mode:
        raise ValueError(
            "label_log needs a pipeline with switching policy 'stereo_only' and run_mono_in_stereo_mode "
            "False: offline labelling uses the stereo teacher only"
        )
    pairs = 0
    for stamp_ns, left, right in stereo_pairs(path, topics.left_image, topics.right_image):
        pipeline.process(left, right, stamp_ns * 1e-9)
        pairs += 1
        if progress is not None:
            progress(pairs)
    if pairs == 0:
        raise DataSourceError(
            f"{os.fspath(path)}: no stereo pair on {topics.left_image} / {topics.right_image} (images with "
            "equal header stamps on both topics); check the topic names"
        )
    return pairs
