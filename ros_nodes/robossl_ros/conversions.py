"""ROS message <-> numpy for the robossl nodes.

Decoding reuses the ROS-free decoders of :mod:`robossl.data.bags.messages` (the same code reads bags), so a
node and a bag replay see identical arrays. This module maps decoding failures to the drop reasons counted
in diagnostics; the rclpy message builders (numpy -> message) live in :mod:`robossl_ros.message_builders`
and are re-exported here, so every name imports from ``robossl_ros.conversions``.

Inputs a node cannot use although they decode (a zero-size image or audio chunk, a CameraInfo with NaN or
a zero focal length, a stamp that is no valid ``builtin_interfaces/Time``) raise :class:`RejectedInput`,
whose ``reason`` is the drop-reason key counted in /diagnostics.

Conventions: stamps are integer nanoseconds; images follow :mod:`robossl.data.bags.image_codec`; IMU samples
are ``(6,)`` float64 ``[gx, gy, gz, ax, ay, az]`` (rad/s, m/s^2); audio is ``std_msgs/Int16MultiArray``
laid out as documented in docs/logs.md.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from std_msgs.msg import Float32MultiArray

from robossl.data.bags.image_codec import UnsupportedEncodingError, to_rgb8
from robossl.data.bags.messages import (
    TIME_SEC_MAX,
    AudioChunk,
    CameraModel,
    ImuSample,
    StampError,
    checked_stamp_ns,
    decode_audio,
    decode_camera_info,
    decode_image,
    decode_imu,
    stamp_to_ns,
)
from robossl_ros.diagnostics import NonFiniteError
from robossl_ros.message_builders import (  # noqa: F401  (re-exported: the nodes' builders, numpy -> message)
    array_msg,
    audio_msg,
    camera_info_msg,
    disparity_image_msg,
    header,
    image_msg,
    imu_msg,
    range_msg,
    stamp_msg,
    stereo_camera_infos,
)

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
    "odometry_pose",
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


def yaw_of(q: Any) -> float:
    """Heading (rotation about z) of a geometry_msgs/Quaternion, radians."""
    # imported here: robossl.pipelines.terrain loads torch, which the other nodes' conversions do not need
    from robossl.pipelines.terrain.projection import yaw_from_quaternion

    return yaw_from_quaternion(q.x, q.y, q.z, q.w)


def odometry_pose(msg: Any, topic: str) -> tuple[int, tuple[float, float, float]]:
    """Decode a ``nav_msgs/Odometry`` that a node processes: ``(stamp_ns, (x m, y m, yaw rad))``.

    Raises:
        RejectedInput: ``bad_stamp`` (see :func:`header_stamp_ns`); ``non_finite`` when x, y or the yaw is
            NaN or infinite.
    """
    stamp_ns = header_stamp_ns(msg.header.stamp, topic)
    position = msg.pose.pose.position
    pose = (position.x, position.y, yaw_of(msg.pose.pose.orientation))
    if not all(math.isfinite(v) for v in pose):
        problem = f"odometry on {topic} has a NaN/inf pose (x, y, yaw = {pose})"
        raise RejectedInput("non_finite", f"{problem}; the odometry source lost its estimate")
    return stamp_ns, pose


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
