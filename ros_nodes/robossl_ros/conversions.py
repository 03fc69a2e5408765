"""ROS message <-> numpy for the robossl nodes.

Decoding reuses the ROS-free decoders of :mod:`robossl.data.bags.messages` (the same code reads bags), so a
node and a bag replay see identical arrays. This module adds the rclpy message builders and maps
decoding failures to the drop reasons counted in diagnostics.

Inputs a node cannot use although they decode (a zero-size image or audio chunk, a CameraInfo with NaN or
a zero focal length, a stamp that is no valid ``builtin_interfaces/Time``) raise :class:`RejectedInput`,
whose ``reason`` is the drop-reason key counted in /diagnostics.

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

from robossl.data.bags.image_codec import UnsupportedEncodingError, array_to_image, to_rgb8
from robossl.data.bags.messages import (
    TIME_SEC_MAX,
    AudioChunk,
    CameraModel,
    ImuSample,
    StampError,
    audio_layout,
    checked_stamp_ns,
    decode_audio,
    decode_camera_info,
    decode_image,
    decode_imu,
    ns_to_stamp,
    stamp_to_ns,
)
from robossl_ros.diagnostics import NonFiniteError

__all__ = [
    "AudioChunk",
    "CameraModel",
    "ImuSample",
    "RejectedInput",
    "audio_chunk",
    "audio_msg",
    "camera_info_msg",
    "camera_model",
    "decode_audio",
    "decode_camera_info",
    "decode_image",
    "header",
    "header_stamp_ns",
    "image_array",
    "image_msg",
    "imu_msg",
    "imu_sample",
    "stamp_msg",
    "stamp_to_ns",
]

LATEST_STAMP_NS = TIME_SEC_MAX * 1_000_000_000 + 999_999_999  # latest time a builtin_interfaces/Time holds


class RejectedInput(ValueError):
    """A message that decodes but that the node cannot use; ``reason`` is its drop-reason key.

    Args:
        reason: the key counted in /diagnostics as ``dropped.<topic>.<reason>``.
        message: what is wrong, naming the topic and field, and what to do.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def header_stamp_ns(stamp: Any, topic: str) -> int:
    """The header stamp of a message a node received, in nanoseconds.

    Raises:
        RejectedInput: ``bad_stamp`` when the stamp is no valid ``builtin_interfaces/Time``: ``nanosec``
            not in [0, 1e9) (republishing it could wrap ``sec``), negative or beyond int32 ``sec``
            (see :func:`robossl.data.bags.messages.checked_stamp_ns`).
    """
    try:
        return checked_stamp_ns(stamp, f"message on {topic}")
    except StampError as exc:
        raise RejectedInput("bad_stamp", str(exc)) from exc


def image_array(msg: Any, topic: str) -> tuple[int, np.ndarray]:
    """Decode a ``sensor_msgs/Image`` that a node processes: ``(stamp_ns, pixels)``, see :func:`decode_image`.

    Raises:
        robossl.data.bags.image_codec.ImageCodecError: unsupported encoding, bad step or data size.
        RejectedInput: ``bad_stamp`` (see :func:`header_stamp_ns`); ``empty_image`` when the image has no
            pixels (width or height 0).
    """
    header_stamp_ns(msg.header.stamp, topic)
    stamp_ns, array = decode_image(msg)
    if array.size == 0:
        raise RejectedInput(
            "empty_image",
            f"image on {topic} is {msg.width}x{msg.height} ({msg.encoding}): no pixels; "
            "the camera driver published an empty frame",
        )
    return stamp_ns, array


def audio_chunk(msg: Any, topic: str) -> AudioChunk:
    """Decode a robossl audio ``Int16MultiArray`` that a node processes (see :func:`decode_audio`).

    Raises:
        robossl.data.bags.messages.AudioFormatError: the layout does not follow docs/logs.md.
        RejectedInput: ``empty_audio`` when the chunk holds zero samples; ``bad_stamp`` when the label's
            ``stamp_ns`` is negative or beyond what a ``builtin_interfaces/Time`` holds.
    """
    chunk = decode_audio(msg)
    if not 0 <= chunk.stamp_ns <= LATEST_STAMP_NS:
        raise RejectedInput(
            "bad_stamp",
            f"audio chunk on {topic}: label stamp_ns={chunk.stamp_ns} is outside 0 .. {LATEST_STAMP_NS} "
            "(what a builtin_interfaces/Time holds); the publisher's clock or label is wrong",
        )
    if chunk.samples.shape[0] == 0:
        raise RejectedInput(
            "empty_audio",
            f"audio chunk on {topic} stamped {chunk.stamp_ns} ns has 0 samples; "
            "the microphone driver published an empty buffer",
        )
    return chunk


def camera_model(msg: Any, topic: str, projection: bool = False, right: bool = False) -> CameraModel:
    """Decode a ``sensor_msgs/CameraInfo`` and check that it can map pixels to rays.

    Args:
        msg: the CameraInfo.
        topic: its topic, named in the error.
        projection: also require a usable projection P (finite, positive focal lengths), as rectified
            stereo does.
        right: the right camera of a stereo pair: ``P[0,3] = -fx * baseline`` must give a positive,
            finite baseline (ROS stereo convention).

    Raises:
        RejectedInput: ``bad_calibration``, naming the field: zero size, NaN/inf in D, K, R or P, a focal
            length that is not positive, or (``right``) no positive baseline; ``bad_stamp`` (see
            :func:`header_stamp_ns`).
    """

    def reject(problem: str) -> RejectedInput:
        return RejectedInput(
            "bad_calibration",
            f"CameraInfo on {topic}: {problem}; publish the camera's calibration (the node uses the last "
            "valid one, or waits for one)",
        )

    header_stamp_ns(msg.header.stamp, topic)
    try:
        model = decode_camera_info(msg)
    except ValueError as exc:  # K, R or P of the wrong length
        raise reject(str(exc)) from exc
    if model.width <= 0 or model.height <= 0:
        raise reject(f"image size {model.width}x{model.height} is empty")
    fields = {"d": model.D, "k": model.K, "r": model.R, "p": model.P}
    for name, values in fields.items():
        if not np.isfinite(values).all():
            raise reject(f"field {name} holds NaN or infinity ({np.asarray(values).ravel().tolist()})")
    fx, fy = model.K[0, 0], model.K[1, 1]
    if fx <= 0 or fy <= 0:
        raise reject(f"focal length k[0]={fx}, k[4]={fy} px is not positive (camera not calibrated)")
    if projection:
        px, py = model.P[0, 0], model.P[1, 1]
        if px <= 0 or py <= 0:
            raise reject(f"projection focal length p[0]={px}, p[5]={py} px is not positive")
        if right and not model.P[0, 3] < 0:
            raise reject(
                f"p[3]={model.P[0, 3]} gives a baseline of {-model.P[0, 3] / px} m; the right camera needs "
                "p[3] = -fx * baseline < 0 (swap left and right if the baseline is negative)"
            )
    return model


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


def imu_sample(msg: Any, topic: str = "an Imu topic") -> ImuSample:
    """Decode a ``sensor_msgs/Imu``.

    Raises:
        RejectedInput: ``bad_stamp`` (see :func:`header_stamp_ns`).
        NonFiniteError: NaN or infinite angular velocity or acceleration (drop as ``non_finite``).
    """
    header_stamp_ns(msg.header.stamp, topic)
    try:
        return decode_imu(msg)
    except ValueError as exc:
        raise NonFiniteError(str(exc)) from exc


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


def grey8(image: np.ndarray, encoding: str) -> np.ndarray:
    """A decoded image as (H, W) uint8 grey (an owning copy).

    Raises:
        UnsupportedEncodingError: for 32FC1, which holds no intensities to match.
    """
    if encoding == "mono8":
        return np.array(image)
    if encoding in ("mono16", "16UC1"):
        return (image >> 8).astype(np.uint8)
    if encoding == "32FC1":
        raise UnsupportedEncodingError(
            "stereo matching needs intensity images (mono8/16, rgb8, bgr8, ...), got 32FC1"
        )
    import cv2  # only the stereo node needs OpenCV here

    return cv2.cvtColor(np.ascontiguousarray(to_rgb8(image, encoding)), cv2.COLOR_RGB2GRAY)


def array_msg(values: np.ndarray, name: str, stamp_ns: int) -> Float32MultiArray:
    """A 1-D Float32MultiArray whose dimension label carries the stamp: ``"<name>;stamp_ns=<T>"``."""
    msg = Float32MultiArray()
    msg.layout.dim = [
        MultiArrayDimension(label=f"{name};stamp_ns={int(stamp_ns)}", size=len(values), stride=len(values))
    ]
    msg.data = np.asarray(values, dtype=np.float32).tolist()
    return msg


class ArrayLabelError(ValueError):
    """A Float32MultiArray whose first dimension label is not ``"<name>;stamp_ns=<T>"`` (:func:`array_msg`)."""


def array_stamp_ns(msg: Float32MultiArray) -> int:
    """The stamp written by :func:`array_msg`.

    Raises:
        ArrayLabelError: no layout dimension, or its label has no integer ``stamp_ns=`` field.
    """
    if not msg.layout.dim:
        raise ArrayLabelError(
            "Float32MultiArray has no layout dimension to carry 'stamp_ns='; it was not made by "
            "robossl_ros.har_node.array_msg (har_node's activity/scores and activity/embedding)"
        )
    label = msg.layout.dim[0].label
    for part in label.split(";")[1:]:
        key, _, value = part.partition("=")
        if key == "stamp_ns":
            try:
                return int(value)
            except ValueError:
                raise ArrayLabelError(f"array label {label!r}: stamp_ns must be an integer [ns]") from None
    raise ArrayLabelError(f"array label {label!r} has no stamp_ns field ('<name>;stamp_ns=<T>')")


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
