"""Feed a recorded drive (rosbag2 / ROS 1 bag) into :class:`TerrainPipeline`: offline (pre)training from logs.

The bag holds what terrain_node subscribes to: camera images with their CameraInfo, interaction audio in
robossl's Int16MultiArray layout (docs/logs.md) and nav_msgs/Odometry. Messages are read in log-time order
and handed to the pipeline with their header stamps, as the node does live, so a pipeline trained from the
log and saved with :func:`robossl.online.checkpoint.save_checkpoint` (``{"pipeline": state_dict()}``) is a
checkpoint terrain_node starts from. Example::

    pipe = TerrainPipeline(microphone_config(16000, num_clusters=4))
    counts = feed_bag(pipe, "rover_logs", camera_mount(0.3, 0.45, 35.0))
    for _ in range(3):
        pipe.learn(embedding_steps=60, segmentation_steps=0)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robossl.data.bags import iter_messages
from robossl.data.bags.image_codec import to_rgb8
from robossl.data.bags.messages import decode_audio, decode_camera_info, decode_image, stamp_to_ns
from robossl.pipelines.terrain.pipeline import TerrainPipeline
from robossl.pipelines.terrain.projection import PinholeCamera, yaw_from_quaternion


@dataclass(frozen=True)
class TerrainTopics:
    """Topic names of a rover log (terrain_node's default topics as rosbag2 records them)."""

    image: str = "/camera/image_raw"  # sensor_msgs/Image, 8-bit colour or mono
    camera_info: str = "/camera/camera_info"  # sensor_msgs/CameraInfo of that camera
    audio: str = "/audio"  # std_msgs/Int16MultiArray, robossl audio layout, mono (channel 0 is used)
    odom: str = "/odom"  # nav_msgs/Odometry in a fixed frame (x, y, yaw)


def feed_bag(
    pipeline: TerrainPipeline,
    path: str | Path,
    base_T_camera: np.ndarray,
    topics: TerrainTopics | None = None,
) -> dict[str, int]:
    """Ingest a bag's images, camera intrinsics, audio and poses into ``pipeline`` (no learning).

    Args:
        pipeline: the learner to fill; its ``sample_rate`` must be the microphone's.
        path: bag folder or file (damaged bags give their readable part).
        base_T_camera: 4x4 camera mount in the base frame, OpenCV camera axes (logs carry no TF here).
        topics: topic names (default :class:`TerrainTopics`).

    Returns:
        Counts: ``images``, ``audio_chunks``, ``poses`` ingested, and ``dropped.<topic>.<reason>`` for
        messages the pipeline could not use.

    Raises:
        ValueError: the bag has no images, audio or odometry on the given topics (names them).
    """
    topics = topics or TerrainTopics()
    counts: Counter[str] = Counter()
    camera_key = None
    wanted = [topics.image, topics.camera_info, topics.audio, topics.odom]
    for message in iter_messages(path, wanted):
        msg = message.msg
        if message.topic == topics.camera_info:
            try:
                model = decode_camera_info(msg)
            except ValueError:
                counts[f"dropped.{topics.camera_info}.bad_calibration"] += 1
                continue
            key = (model.width, model.height, tuple(model.K.ravel()))
            if key != camera_key:
                K = model.K
                camera = PinholeCamera(K[0, 0], K[1, 1], K[0, 2], K[1, 2], model.width, model.height)
                pipeline.set_camera(camera, base_T_camera)
                camera_key = key
        elif message.topic == topics.odom:
            q = msg.pose.pose.orientation
            position = msg.pose.pose.position
            pose = (position.x, position.y, yaw_from_quaternion(q.x, q.y, q.z, q.w))
            if pipeline.add_pose(stamp_to_ns(msg.header.stamp) * 1e-9, pose):
                counts["poses"] += 1
            else:
                counts[f"dropped.{topics.odom}.pipeline_rejected"] += 1
        elif message.topic == topics.audio:
            try:
                chunk = decode_audio(msg)
            except ValueError:
                counts[f"dropped.{topics.audio}.bad_audio_layout"] += 1
                continue
            if chunk.sample_rate_hz != pipeline.config.sample_rate:
                counts[f"dropped.{topics.audio}.wrong_rate"] += 1
                continue
            if pipeline.add_audio(chunk.stamp_ns * 1e-9, np.array(chunk.samples[:, 0])):
                counts["audio_chunks"] += 1
            else:
                counts[f"dropped.{topics.audio}.pipeline_rejected"] += 1
        else:
            try:
                stamp_ns, array = decode_image(msg, copy=True)
                rgb = np.ascontiguousarray(to_rgb8(array, msg.encoding))
            except ValueError:
                counts[f"dropped.{topics.image}.bad_image"] += 1
                continue
            if pipeline.add_image(stamp_ns * 1e-9, rgb):
                counts["images"] += 1
            else:
                counts[f"dropped.{topics.image}.pipeline_rejected"] += 1
    missing = [
        f"{name} ({topic})"
        for name, topic in (("images", topics.image), ("audio_chunks", topics.audio), ("poses", topics.odom))
        if counts[name] == 0
    ]
    if missing:
        raise ValueError(
            f"{path}: no usable {', '.join(missing)}; record those topics or pass their names in TerrainTopics"
        )
    return dict(counts)
