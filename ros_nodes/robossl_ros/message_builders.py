"""numpy -> ROS messages for the robossl nodes: the rclpy message builders.

The inverse of :mod:`robossl_ros.conversions` (which decodes and checks what a node receives, and
re-exports every builder here, so ``from robossl_ros.conversions import image_msg`` keeps working). The
field layouts come from the ROS-free encoders of :mod:`robossl.data.bags` (the same code writes bags).

Conventions: stamps are integer nanoseconds; images follow :mod:`robossl.data.bags.image_codec`; IMU samples
are ``(6,)`` float64 ``[gx, gy, gz, ax, ay, az]`` (rad/s, m/s^2); audio is ``std_msgs/Int16MultiArray``
laid out as documented in docs/logs.md.
"""

from __future__ import annotations

import array
import math
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, Image, Imu
from std_msgs.msg import Float32MultiArray, Header, Int16MultiArray, MultiArrayDimension

from robossl.data.bags.image_codec import array_to_image
from robossl.data.bags.messages import AudioChunk, CameraModel, audio_layout, ns_to_stamp

__all__ = [
    "array_msg",
    "audio_msg",
    "camera_info_msg",
    "disparity_image_msg",
    "header",
    "image_msg",
    "imu_msg",
    "range_msg",
    "stamp_msg",
    "stereo_camera_infos",
]


def stamp_msg(stamp_ns: int) -> Time:
    """Integer nanoseconds -> ``builtin_interfaces/Time``.

    Raises:
        robossl.data.bags.messages.StampError: (a ``ValueError``) seconds beyond int32, which rclpy would
            serialise wrapped around.
    """
    sec, nanosec = ns_to_stamp(stamp_ns)
    return Time(sec=sec, nanosec=nanosec)


def header(stamp_ns: int, frame_id: str) -> Header:
    """A ``std_msgs/Header``."""
    return Header(stamp=stamp_msg(stamp_ns), frame_id=frame_id)


def image_msg(array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> Image:
    """Build a ``sensor_msgs/Image`` from an array (see :func:`robossl.data.bags.image_codec.array_to_image`).

    Raises:
        robossl.data.bags.image_codec.ImageCodecError: the array's shape or dtype does not fit ``encoding``.
    """
    fields = array_to_image(array, encoding)
    msg = Image(header=header(stamp_ns, frame_id))
    msg.height, msg.width, msg.encoding = fields.height, fields.width, fields.encoding
    msg.is_bigendian, msg.step = fields.is_bigendian, fields.step
    msg.data = fields.data
    return msg


def imu_msg(gyro_accel: np.ndarray, stamp_ns: int, frame_id: str) -> Imu:
    """Build a ``sensor_msgs/Imu`` with no orientation estimate (``orientation_covariance[0] = -1``).

    Args:
        gyro_accel: ``(6,)`` gyro x, y, z [rad/s] then accel x, y, z [m/s^2].
        stamp_ns: sample time [ns].
        frame_id: the IMU's frame.
    """
    values = np.asarray(gyro_accel, dtype=np.float64).reshape(6)
    msg = Imu(header=header(stamp_ns, frame_id))
    msg.angular_velocity.x, msg.angular_velocity.y, msg.angular_velocity.z = (float(v) for v in values[:3])
    ax, ay, az = (float(v) for v in values[3:])
    msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z = ax, ay, az
    msg.orientation_covariance[0] = -1.0  # REP 145: orientation not provided
    return msg


def camera_info_msg(model: CameraModel) -> CameraInfo:
    """Build a ``sensor_msgs/CameraInfo`` from a :class:`CameraModel`."""
    msg = CameraInfo(header=header(model.stamp_ns, model.frame_id))
    msg.width, msg.height = int(model.width), int(model.height)
    msg.distortion_model = model.distortion_model
    msg.d = [float(v) for v in np.asarray(model.D).reshape(-1)]
    msg.k = [float(v) for v in np.asarray(model.K).reshape(9)]
    msg.r = [float(v) for v in np.asarray(model.R).reshape(9)]
    msg.p = [float(v) for v in np.asarray(model.P).reshape(12)]
    return msg


def audio_msg(chunk: AudioChunk) -> Int16MultiArray:
    """Build robossl's audio ``std_msgs/Int16MultiArray`` (docs/logs.md, "Audio on ROS topics")."""
    dims, data = audio_layout(chunk)
    msg = Int16MultiArray()
    msg.layout.dim = [
        MultiArrayDimension(label=label, size=size, stride=stride) for label, size, stride in dims
    ]
    msg.layout.data_offset = 0
    pcm = array.array("h")
    pcm.frombytes(data.astype(np.int16).tobytes())
    msg.data = pcm
    return msg


def stereo_camera_infos(
    calibration: Any, stamp_ns: int, frame_ids: tuple[str, str] = ("cam0", "cam1")
) -> tuple[CameraInfo, CameraInfo]:
    """Left and right ``CameraInfo`` of a raw stereo pair, with R and P from ``cv2.stereoRectify``.

    This is what a calibrated ROS stereo driver publishes: raw K and D, the rectification rotations R and
    projections P (right ``P[0, 3] = -fx * baseline``), at the raw resolution.

    Args:
        calibration: a ``robossl.pipelines.stereo_mono.calibration.StereoCalibration``.
        stamp_ns: header stamp [ns].
        frame_ids: (left, right) frame ids.
    """
    import cv2

    c = calibration
    R1, R2, P1, P2, *_ = cv2.stereoRectify(
        c.K_left,
        c.D_left,
        c.K_right,
        c.D_right,
        c.image_size,
        c.R,
        np.reshape(c.T, (3, 1)),  # OpenCV 5 rejects a (3,) translation
        flags=cv2.CALIB_ZERO_DISPARITY,
        alpha=0,
    )
    infos = []
    for K, D, R, P, frame in (
        (c.K_left, c.D_left, R1, P1, frame_ids[0]),
        (c.K_right, c.D_right, R2, P2, frame_ids[1]),
    ):
        model = CameraModel(stamp_ns, frame, c.image_size[0], c.image_size[1], "plumb_bob", D, K, R, P)
        infos.append(camera_info_msg(model))
    return infos[0], infos[1]


def array_msg(values: np.ndarray, name: str, stamp_ns: int) -> Float32MultiArray:
    """A 1-D Float32MultiArray whose dimension label carries the stamp: ``"<name>;stamp_ns=<T>"``."""
    msg = Float32MultiArray()
    msg.layout.dim = [
        MultiArrayDimension(label=f"{name};stamp_ns={int(stamp_ns)}", size=len(values), stride=len(values))
    ]
    msg.data = np.asarray(values, dtype=np.float32).tolist()
    return msg


def disparity_image_msg(
    disparity: np.ndarray,
    stamp_ns: int,
    frame_id: str,
    focal_px: float,
    baseline_m: float,
    disparity_range: tuple[float, float],
) -> Any:
    """stereo_msgs/DisparityImage of ``(H, W)`` float32 disparities [px] (NaN = invalid, written as
    ``min_disparity - 1``); ``disparity_range`` is (min, max) searched, pixels."""
    from stereo_msgs.msg import DisparityImage

    msg = DisparityImage()
    msg.header.stamp, msg.header.frame_id = stamp_msg(stamp_ns), frame_id
    low, high = float(disparity_range[0]), float(disparity_range[1])
    invalid = np.nan_to_num(disparity, nan=low - 1.0).astype(np.float32)
    msg.image = image_msg(invalid, "32FC1", stamp_ns, frame_id)
    msg.f, msg.t = float(focal_px), float(baseline_m)
    msg.min_disparity, msg.max_disparity = low, high
    msg.delta_d = 1.0 / 16.0  # SGBM's sub-pixel step
    msg.valid_window.width, msg.valid_window.height = disparity.shape[1], disparity.shape[0]
    return msg


def range_msg(
    distance_m: float,
    stamp_ns: int,
    frame_id: str,
    field_of_view: float,
    limits_m: tuple[float, float],
) -> Any:
    """sensor_msgs/Range (infrared) of a distance ahead [m] (NaN/inf: +inf, nothing in range);
    ``field_of_view`` in radians, ``limits_m`` the (min, max) range."""
    from sensor_msgs.msg import Range

    msg = Range(radiation_type=Range.INFRARED, field_of_view=float(field_of_view))
    msg.header.stamp, msg.header.frame_id = stamp_msg(stamp_ns), frame_id
    msg.min_range, msg.max_range = float(limits_m[0]), float(limits_m[1])
    msg.range = float(distance_m) if math.isfinite(distance_m) else math.inf
    return msg


def stereo_mono_outputs(
    out: Any, config: Any, geometry: Any, stamp_ns: int, frame_id: str
) -> tuple[Any, ...]:
    """``stereo_mono_node``'s (DisparityImage, depth Image 32FC1 [m], Range) for one pipeline result.

    Args:
        out: the pipeline's frame output (``disparity``, ``stereo_depth``, ``mono_depth`` or None before a
            student exists (published as NaN), ``active_distance`` [m]).
        config: the pipeline's ``StereoMonoConfig`` (SGBM search range and depth limits, ``flight_window``,
            the central share of the image width the distance looks at: the Range's field of view).
        geometry: the pipeline (``focal_px``, ``baseline_m`` of the rectified pair).
    """
    sgbm, focal, disparity = config.sgbm, geometry.focal_px, out.disparity
    searched = (sgbm.min_disparity, sgbm.min_disparity + sgbm.num_disparities)
    mono = out.mono_depth if out.mono_depth is not None else np.full_like(out.stereo_depth, np.nan)
    fov = 2 * math.atan(0.5 * config.flight_window * disparity.shape[1] / focal)
    return (
        disparity_image_msg(disparity, stamp_ns, frame_id, focal, geometry.baseline_m, searched),
        image_msg(mono.astype(np.float32), "32FC1", stamp_ns, frame_id),
        range_msg(out.active_distance, stamp_ns, frame_id, fov, (sgbm.min_depth_m, sgbm.max_depth_m)),
    )
