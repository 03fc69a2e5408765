"""Stereo calibration and rectification.

A :class:`StereoCalibration` comes from two EuRoC/ASL ``sensor.yaml`` files
(:meth:`StereoCalibration.from_euroc`), from two sensor_msgs/CameraInfo-like records
(:meth:`StereoCalibration.from_camera_info`, plain dicts or message objects with ``width, height, k, d, r,
p``), or describes an ideal rectified pair (:meth:`StereoCalibration.ideal`, e.g. a simulator).
A :class:`Rectifier` turns a raw pair into a row-aligned pair at an output size of choice, and carries the
rectified focal length (pixels) and baseline (metres) that convert disparity to depth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from robossl.data.datasets.euroc import CameraSensor


@dataclass(frozen=True)
class StereoCalibration:
    """Raw calibration of a stereo pair.

    ``R``, ``T`` map points from the left camera frame to the right one: ``x_right = R @ x_left + T``.
    When ``rectified`` is set the images are already row-aligned and undistorted, and ``P_left`` /
    ``P_right`` (3x4 projection matrices, ROS convention) give the rectified geometry.
    """

    image_size: tuple[int, int]  # (width, height) of the raw images, pixels
    K_left: np.ndarray  # (3, 3) left camera matrix
    D_left: np.ndarray  # (N,) left distortion (OpenCV plumb_bob order k1 k2 p1 p2 [k3])
    K_right: np.ndarray  # (3, 3) right camera matrix
    D_right: np.ndarray  # (N,) right distortion
    R: np.ndarray  # (3, 3) rotation right <- left
    T: np.ndarray  # (3,) translation right <- left, metres
    R_left: np.ndarray | None = None  # (3, 3) rectification rotation from CameraInfo (None: compute)
    R_right: np.ndarray | None = None  # (3, 3)
    P_left: np.ndarray | None = None  # (3, 4) rectified projection from CameraInfo (None: compute)
    P_right: np.ndarray | None = None  # (3, 4)

    @property
    def baseline_m(self) -> float:
        """Distance between the camera centres, metres."""
        return float(np.linalg.norm(self.T))

    @classmethod
    def from_euroc(cls, left: CameraSensor, right: CameraSensor) -> StereoCalibration:
        """Calibration from two EuRoC camera sensors (``T_BS`` body <- sensor extrinsics).

        Raises:
            ValueError: for distortion models other than radial-tangential or differing resolutions.
        """
        for sensor in (left, right):
            if sensor.distortion_model not in ("radial-tangential", "radtan", "plumb_bob"):
                raise ValueError(
                    f"{sensor.name}: distortion model {sensor.distortion_model!r} is not supported; "
                    "calibrate with radial-tangential (pinhole-radtan) or undistort the images first"
                )
        if left.resolution != right.resolution:
            raise ValueError(f"stereo cameras differ in resolution: {left.resolution} vs {right.resolution}")
        right_from_left = np.linalg.inv(right.T_BS) @ left.T_BS
        return cls(
            image_size=left.resolution,
            K_left=left.camera_matrix(),
            D_left=left.distortion.copy(),
            K_right=right.camera_matrix(),
            D_right=right.distortion.copy(),
            R=right_from_left[:3, :3].copy(),
            T=right_from_left[:3, 3].copy(),
        )

    @classmethod
    def from_camera_info(cls, left: Any, right: Any) -> StereoCalibration:
        """Calibration from sensor_msgs/CameraInfo-like records (objects or dicts with width, height, k, d,
        r, p). The right projection's ``p[3] = -fx * baseline`` (ROS convention) gives the baseline.

        Raises:
            ValueError: when a field is missing or has the wrong length, or the baseline is zero.
        """
        lw, lh, lk, ld, lr, lp = (
            _info_field(left, n, "left") for n in ("width", "height", "k", "d", "r", "p")
        )
        rw, rh, rk, rd, rr, rp = (
            _info_field(right, n, "right") for n in ("width", "height", "k", "d", "r", "p")
        )
        if (int(lw), int(lh)) != (int(rw), int(rh)):
            raise ValueError(f"CameraInfo sizes differ: left {lw}x{lh}, right {rw}x{rh}")
        K_left, K_right = _reshape(lk, (3, 3), "left k"), _reshape(rk, (3, 3), "right k")
        P_left, P_right = _reshape(lp, (3, 4), "left p"), _reshape(rp, (3, 4), "right p")
        R_left, R_right = _reshape(lr, (3, 3), "left r"), _reshape(rr, (3, 3), "right r")
        if not np.any(R_left):
            R_left = np.eye(3)
        if not np.any(R_right):
            R_right = np.eye(3)
        if P_right[0, 0] == 0 or P_right[0, 3] == 0:
            raise ValueError(
                "right CameraInfo p[3] (= -fx * baseline) is 0: publish the right camera's projection matrix "
                "with the stereo baseline (ROS stereo convention)"
            )
        baseline = -P_right[0, 3] / P_right[0, 0]
        # right <- left in the raw frames: through the common rectified frame
        R = R_right.T @ R_left
        T = R_right.T @ np.array([-baseline, 0.0, 0.0])
        return cls(
            image_size=(int(lw), int(lh)),
            K_left=K_left,
            D_left=np.asarray(ld, dtype=np.float64),
            K_right=K_right,
            D_right=np.asarray(rd, dtype=np.float64),
            R=R,
            T=T,
            R_left=R_left,
            R_right=R_right,
            P_left=P_left,
            P_right=P_right,
        )

    @classmethod
    def ideal(cls, width: int, height: int, focal_px: float, baseline_m: float) -> StereoCalibration:
        """A distortion-free, already rectified pair (principal point at the image centre)."""
        K = np.array([[focal_px, 0.0, (width - 1) / 2], [0.0, focal_px, (height - 1) / 2], [0.0, 0.0, 1.0]])
        P_left = np.hstack([K, np.zeros((3, 1))])
        P_right = P_left.copy()
        P_right[0, 3] = -focal_px * baseline_m
        return cls(
            image_size=(width, height),
            K_left=K,
            D_left=np.zeros(5),
            K_right=K.copy(),
            D_right=np.zeros(5),
            R=np.eye(3),
            T=np.array([-baseline_m, 0.0, 0.0]),
            R_left=np.eye(3),
            R_right=np.eye(3),
            P_left=P_left,
            P_right=P_right,
        )


def _info_field(info: Any, name: str, side: str) -> Any:
    if isinstance(info, dict):
        if name not in info:
            raise ValueError(f"{side} CameraInfo lacks field {name!r} (need width, height, k, d, r, p)")
        return info[name]
    if not hasattr(info, name):
        raise ValueError(f"{side} CameraInfo lacks field {name!r} (need width, height, k, d, r, p)")
    return getattr(info, name)


def _reshape(values: Any, shape: tuple[int, int], what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.size != shape[0] * shape[1]:
        raise ValueError(f"CameraInfo {what} must have {shape[0] * shape[1]} values, got {array.size}")
    return array.reshape(shape)


class Rectifier:
    """Undistorts and row-aligns stereo pairs, optionally resizing to ``output_size``.

    Args:
        calibration: the raw stereo calibration.
        output_size: (width, height) of the rectified images; default the raw size.
    """

    def __init__(self, calibration: StereoCalibration, output_size: tuple[int, int] | None = None) -> None:
        self.calibration = calibration
        raw_w, raw_h = calibration.image_size
        out_w, out_h = output_size or calibration.image_size
        if out_w < 16 or out_h < 16:
            raise ValueError(f"rectified size {out_w}x{out_h} is too small; use at least 16x16")
        self.output_size = (int(out_w), int(out_h))
        scale_x, scale_y = out_w / raw_w, out_h / raw_h
        if calibration.P_left is not None and calibration.P_right is not None:
            R1 = calibration.R_left if calibration.R_left is not None else np.eye(3)
            R2 = calibration.R_right if calibration.R_right is not None else np.eye(3)
            scale = np.diag([scale_x, scale_y, 1.0])
            P1, P2 = scale @ calibration.P_left, scale @ calibration.P_right
        else:
            R1, R2, P1, P2, _, _, _ = cv2.stereoRectify(
                calibration.K_left,
                calibration.D_left,
                calibration.K_right,
                calibration.D_right,
                calibration.image_size,
                calibration.R,
                calibration.T.reshape(3, 1),
                flags=cv2.CALIB_ZERO_DISPARITY,
                alpha=0,
                newImageSize=self.output_size,
            )
        self.R_left, self.R_right = np.asarray(R1), np.asarray(R2)  # rectification rotations (CameraInfo r)
        self.P_left, self.P_right = np.asarray(P1), np.asarray(P2)  # rectified projections (CameraInfo p)
        self.focal_px = float(self.P_left[0, 0])
        self.baseline_m = float(-self.P_right[0, 3] / self.P_right[0, 0])
        if self.baseline_m <= 0:
            raise ValueError(
                f"rectified baseline is {self.baseline_m:.4f} m: the 'left' camera is on the right; swap them"
            )
        identity = (
            np.allclose(R1, np.eye(3))
            and np.allclose(R2, np.eye(3))
            and not np.any(calibration.D_left)
            and not np.any(calibration.D_right)
            and np.allclose(P1[:3, :3], calibration.K_left * [[scale_x], [scale_y], [1]])
            and np.allclose(P2[:3, :3], calibration.K_right * [[scale_x], [scale_y], [1]])
        )
        self.passthrough = bool(identity)
        if not self.passthrough:
            self._maps = [
                cv2.initUndistortRectifyMap(K, D, Rr, P[:3, :3], self.output_size, cv2.CV_16SC2)
                for K, D, Rr, P in (
                    (calibration.K_left, calibration.D_left, R1, P1),
                    (calibration.K_right, calibration.D_right, R2, P2),
                )
            ]

    def rectify(self, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rectify a raw pair (H, W) or (H, W, 3) to ``output_size``.

        Raises:
            ValueError: when the images do not have the calibrated size.
        """
        raw_w, raw_h = self.calibration.image_size
        for side, image in (("left", left), ("right", right)):
            if image.shape[1] != raw_w or image.shape[0] != raw_h:
                raise ValueError(
                    f"{side} image is {image.shape[1]}x{image.shape[0]} but the calibration is for "
                    f"{raw_w}x{raw_h}; use the calibration of this camera or resize before rectifying"
                )
        if self.passthrough:
            if self.output_size == (raw_w, raw_h):
                return left, right
            return (
                cv2.resize(left, self.output_size, interpolation=cv2.INTER_AREA),
                cv2.resize(right, self.output_size, interpolation=cv2.INTER_AREA),
            )
        (lx, ly), (rx, ry) = self._maps
        return (
            cv2.remap(left, lx, ly, cv2.INTER_LINEAR),
            cv2.remap(right, rx, ry, cv2.INTER_LINEAR),
        )
