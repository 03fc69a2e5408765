"""Inputs of the latency benchmarks (bench/ros_latency.py, bench/inference_first.py): stereo pairs and IMU
streams from the real data sets when present, generated otherwise (the ``source`` string says which)."""

from __future__ import annotations

from typing import Any

import numpy as np


def stereo_frames(count: int) -> tuple[Any, list[tuple[np.ndarray, np.ndarray]], str]:
    """(calibration, ``count`` raw (left, right) mono8 376x240 pairs, source): EuRoC V1_01 frames resized
    when the real data exists (/work/shared/data via robossl.data.locate), generated texture otherwise."""
    import dataclasses

    import cv2

    from robossl.data.locate import require_data
    from robossl.pipelines.stereo_mono.calibration import StereoCalibration

    size = (376, 240)
    try:
        root = require_data("stereo/euroc_v1_01_easy_micro")
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        frames = []
        for _ in range(count):
            texture = rng.integers(0, 256, size=(240, 400), dtype=np.uint8)
            frames.append((texture[:, 8:384].copy(), texture[:, :376].copy()))
        return StereoCalibration.ideal(376, 240, 200.0, 0.1), frames, "generated 376x240 texture"
    from robossl.data.datasets.euroc import EurocSequence

    seq = EurocSequence(root)
    calibration = StereoCalibration.from_euroc(seq.left_sensor, seq.right_sensor)
    scale = np.diag([size[0] / calibration.image_size[0], size[1] / calibration.image_size[1], 1.0])
    calibration = dataclasses.replace(
        calibration, image_size=size, K_left=scale @ calibration.K_left, K_right=scale @ calibration.K_right
    )
    frames = []
    for i in range(min(count, len(seq))):
        frame = seq[i]
        frames.append(
            (
                cv2.resize(frame.left, size, interpolation=cv2.INTER_AREA),
                cv2.resize(frame.right, size, interpolation=cv2.INTER_AREA),
            )
        )
    return calibration, frames, "EuRoC V1_01 resized to 376x240"


def har_streams(seconds: float, rate_hz: float) -> tuple[list[str], np.ndarray, str]:
    """(device names, (T, D, 6) samples [accel xyz, gyro xyz], source) for 4 devices."""
    n = int(seconds * rate_hz)
    try:
        from robossl.data.datasets.actrectut import load_actrectut
        from robossl.data.locate import require_data

        root = require_data("har/actrectut")
    except FileNotFoundError:
        t = np.arange(n) / rate_hz
        data = np.stack(
            [np.stack([np.sin(2 * np.pi * (1 + d) * t + c) for c in range(6)], axis=1) for d in range(4)],
            axis=1,
        )
        return ["imu_0", "imu_1", "imu_2", "imu_3"], data, "generated 4-device sinusoids"
    recording = load_actrectut(1, "walk", root=root, channels_per_imu=6)
    names = list(recording.devices)
    data = np.stack([recording.devices[name] for name in names], axis=1)
    reps = int(np.ceil(n / len(data)))
    return names, np.tile(data, (reps, 1, 1))[:n], "ActRecTut walk subject 1 (32 Hz rows replayed at 50 Hz)"
