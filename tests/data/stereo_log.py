"""A small synthetic stereo log for tests: textured planes seen by a rectified pair with a known baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robossl.data.bags.message_builders import build_camera_info, build_image
from robossl.data.bags.writer import BagWriter
from robossl.pipelines.stereo_mono.log_training import StereoLogTopics

WIDTH, HEIGHT = 160, 120
FOCAL_PX, BASELINE_M = 100.0, 0.1


def write_stereo_log(path: Path, frames: int = 6, seed: int = 0, storage: str = "mcap") -> StereoLogTopics:
    """Write ``frames`` stereo pairs (20 Hz) of a random texture at 8-12 px disparity, with CameraInfos."""
    topics = StereoLogTopics()
    rng = np.random.default_rng(seed)
    K = np.array([[FOCAL_PX, 0, (WIDTH - 1) / 2], [0, FOCAL_PX, (HEIGHT - 1) / 2], [0, 0, 1]])
    P_right = np.hstack([K, [[-FOCAL_PX * BASELINE_M], [0], [0]]])
    with BagWriter(path, storage=storage) as rec:
        store = rec.typestore
        rec.write(topics.left_info, 1, build_camera_info(store, 1, "l", (WIDTH, HEIGHT), K))
        rec.write(topics.right_info, 1, build_camera_info(store, 1, "r", (WIDTH, HEIGHT), K, P=P_right))
        for index in range(frames):
            stamp = 1_000_000_000 + index * 50_000_000
            disparity = 8 + index % 5
            texture = rng.integers(0, 256, (HEIGHT, WIDTH + disparity), dtype=np.uint8)
            # a point at texture column c is at x = c in the left image and x = c - disparity in the right
            left = np.ascontiguousarray(texture[:, :WIDTH])
            right = np.ascontiguousarray(texture[:, disparity:])
            rec.write(topics.left_image, stamp, build_image(store, stamp, "l", left, "mono8"))
            rec.write(topics.right_image, stamp, build_image(store, stamp, "r", right, "mono8"))
    return topics
