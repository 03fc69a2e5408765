"""EuRoC MAV / ASL folder -> rosbag2 (stereo Image + CameraInfo + Imu).

Topics (frames as in the dataset's folder names):

=====================  ===========================  =====================================
topic                  type                         content
=====================  ===========================  =====================================
/cam0/image_raw        sensor_msgs/msg/Image        left, mono8, 752x480 (stereo pairs only)
/cam1/image_raw        sensor_msgs/msg/Image        right, mono8
/cam0/camera_info      sensor_msgs/msg/CameraInfo   raw intrinsics, plumb_bob k1 k2 p1 p2 0
/cam1/camera_info      sensor_msgs/msg/CameraInfo   same for cam1
/imu0                  sensor_msgs/msg/Imu          200 Hz gyro (rad/s) + accel (m/s^2)
=====================  ===========================  =====================================

Header stamps and bag log times are the dataset's nanosecond timestamps. CameraInfo carries no
rectification (R = I, P = [K | 0]); the ``T_BS`` extrinsics go into ``metadata.yaml`` custom data
(``euroc_T_BS_cam0`` / ``_cam1``, 16 row-major numbers) so a consumer can rectify with OpenCV.
Images are written in the dataset's stereo-pair order; the IMU is merged in by time.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from robossl.data.bags.message_builders import build_camera_info, build_image, build_imu
from robossl.data.bags.writer import BagWriter
from robossl.data.convert.report import ConvertReport
from robossl.data.datasets.euroc import CameraSensor, EurocSequence

__all__ = ["EUROC_TOPICS", "convert_euroc"]

EUROC_TOPICS = {
    "left": "/cam0/image_raw",
    "right": "/cam1/image_raw",
    "left_info": "/cam0/camera_info",
    "right_info": "/cam1/camera_info",
    "imu": "/imu0",
}


def _plumb_bob(sensor: CameraSensor) -> tuple[str, list[float]]:
    if sensor.distortion_model in ("radial-tangential", "radtan", "plumb_bob"):
        coeffs = [float(v) for v in sensor.distortion[:5]]
        return "plumb_bob", coeffs + [0.0] * (5 - len(coeffs))
    return "equidistant", [float(v) for v in sensor.distortion]


def stereo_rectification(left: CameraSensor, right: CameraSensor) -> tuple[np.ndarray, ...]:
    """``(R_left, R_right, P_left, P_right)`` from OpenCV ``stereoRectify`` for a EuRoC camera pair."""
    right_from_left = np.linalg.inv(right.T_BS) @ left.T_BS
    _, d_left = _plumb_bob(left)
    _, d_right = _plumb_bob(right)
    R1, R2, P1, P2, *_ = cv2.stereoRectify(
        left.camera_matrix(),
        np.asarray(d_left),
        right.camera_matrix(),
        np.asarray(d_right),
        left.resolution,
        right_from_left[:3, :3],
        right_from_left[:3, 3].reshape(3, 1),
        flags=cv2.CALIB_ZERO_DISPARITY,
        alpha=0.0,
    )
    return R1, R2, P1, P2


def _image_events(
    seq: EurocSequence, store: Any, max_frames: int | None
) -> Iterator[tuple[int, int, str, Any]]:
    count = len(seq) if max_frames is None else min(len(seq), max_frames)
    R1, R2, P1, P2 = stereo_rectification(seq.left_sensor, seq.right_sensor)
    cameras = [("cam0", seq.left_sensor, R1, P1), ("cam1", seq.right_sensor, R2, P2)]
    for index in range(count):
        frame = seq[index]
        for (name, sensor, R, P), pixels in zip(cameras, (frame.left, frame.right)):
            image = build_image(store, frame.stamp_ns, name, pixels, "mono8")
            yield frame.stamp_ns, 0, f"/{name}/image_raw", image
            model, coeffs = _plumb_bob(sensor)
            info = build_camera_info(
                store, frame.stamp_ns, name, sensor.resolution, sensor.camera_matrix(), coeffs, model, R, P
            )
            yield frame.stamp_ns, 1, f"/{name}/camera_info", info


def _imu_events(seq: EurocSequence, store: Any, end_ns: int | None) -> Iterator[tuple[int, int, str, Any]]:
    imu = seq.read_imu()
    for i in range(len(imu)):
        stamp = int(imu.stamps_ns[i])
        if end_ns is not None and stamp > end_ns:
            return
        yield stamp, 2, EUROC_TOPICS["imu"], build_imu(store, stamp, "imu0", imu.gyro[i], imu.accel[i])


def convert_euroc(
    root: str | Path,
    out: str | Path,
    storage: str = "mcap",
    max_frames: int | None = None,
    include_imu: bool = True,
    progress: bool = False,
) -> ConvertReport:
    """Convert a EuRoC/ASL sequence folder to one rosbag2 recording.

    Args:
        root: sequence folder holding ``mav0/`` (or ``mav0`` itself).
        out: output bag folder (must not exist).
        storage: ``"mcap"`` or ``"sqlite3"``.
        max_frames: convert only the first N stereo pairs (IMU is cut at the last of them); None for all.
        include_imu: write ``/imu0``.
        progress: show a tqdm progress bar.

    Returns:
        A :class:`ConvertReport`; ``dropped["unpaired_stamps"]`` counts camera stamps without a stereo partner
        or image file.
    """
    seq = EurocSequence(root)
    report = ConvertReport(dropped={"unpaired_stamps": seq.dropped_stamps})
    with BagWriter(out, storage=storage) as bag:
        store = bag.typestore
        bag.set_custom_data("source", f"EuRoC/ASL folder {Path(root).name}")
        for name, sensor in (("cam0", seq.left_sensor), ("cam1", seq.right_sensor)):
            bag.set_custom_data(f"euroc_T_BS_{name}", " ".join(f"{v:.9g}" for v in sensor.T_BS.reshape(-1)))
        streams = [_image_events(seq, store, max_frames)]
        if include_imu:
            last = None
            if max_frames is not None and len(seq):
                last = int(seq.stamps_ns[min(len(seq), max_frames) - 1])
            streams.append(_imu_events(seq, store, last))
        merged = heapq.merge(*streams, key=lambda event: (event[0], event[1]))
        for stamp, _, topic, msg in tqdm(merged, desc="euroc -> rosbag2", unit="msg", disable=not progress):
            bag.write(topic, stamp, msg)
        report.add_counts(bag.counts)
    report.outputs.append(Path(out))
    return report
