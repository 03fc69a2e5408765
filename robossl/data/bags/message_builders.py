"""Build ``rosbags`` message objects from numpy (for converters, the recorder and tests).

The inverse of :mod:`robossl.data.bags.messages`. Every builder takes the ``rosbags`` type store that will
serialise the message (:func:`robossl.data.bags.typestore.default_typestore` for ROS 2 Jazzy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from robossl.data.bags.image_codec import array_to_image
from robossl.data.bags.messages import AudioChunk, audio_layout, ns_to_stamp

__all__ = [
    "build_audio",
    "build_camera_info",
    "build_header",
    "build_image",
    "build_imu",
    "build_joint_state",
]


def build_header(store: Any, stamp_ns: int, frame_id: str) -> Any:
    """``std_msgs/Header`` with the stamp in nanoseconds.

    Raises:
        robossl.data.bags.messages.StampError: (a ``ValueError``) the stamp's seconds do not fit int32, naming
            ``header.stamp.sec`` and the valid range (serialising would otherwise raise ``struct.error``).
    """
    sec, nanosec = ns_to_stamp(stamp_ns, "header.stamp")
    time = store.types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)
    return store.types["std_msgs/msg/Header"](stamp=time, frame_id=frame_id)


def _vector3(store: Any, values: Sequence[float]) -> Any:
    x, y, z = (float(v) for v in values)
    return store.types["geometry_msgs/msg/Vector3"](x=x, y=y, z=z)


def build_imu(
    store: Any,
    stamp_ns: int,
    frame_id: str,
    gyro: Sequence[float],
    accel: Sequence[float],
    orientation: Sequence[float] | None = None,
) -> Any:
    """``sensor_msgs/Imu``.

    Args:
        store: rosbags type store.
        stamp_ns: header stamp, ns.
        frame_id: IMU frame.
        gyro: (3,) angular velocity, rad/s.
        accel: (3,) linear acceleration (specific force), m/s^2.
        orientation: (4,) quaternion x, y, z, w, or None for "no orientation" (covariance[0] = -1,
            as REP 145 specifies).
    """
    orientation_cov = np.zeros(9)
    if orientation is None:
        orientation = (0.0, 0.0, 0.0, 1.0)
        orientation_cov[0] = -1.0
    qx, qy, qz, qw = (float(v) for v in orientation)
    return store.types["sensor_msgs/msg/Imu"](
        header=build_header(store, stamp_ns, frame_id),
        orientation=store.types["geometry_msgs/msg/Quaternion"](x=qx, y=qy, z=qz, w=qw),
        orientation_covariance=orientation_cov,
        angular_velocity=_vector3(store, gyro),
        angular_velocity_covariance=np.zeros(9),
        linear_acceleration=_vector3(store, accel),
        linear_acceleration_covariance=np.zeros(9),
    )


def build_image(store: Any, stamp_ns: int, frame_id: str, array: np.ndarray, encoding: str) -> Any:
    """``sensor_msgs/Image`` from an array (see :func:`robossl.data.bags.image_codec.array_to_image`)."""
    fields = array_to_image(array, encoding)
    return store.types["sensor_msgs/msg/Image"](
        header=build_header(store, stamp_ns, frame_id),
        height=fields.height,
        width=fields.width,
        encoding=fields.encoding,
        is_bigendian=fields.is_bigendian,
        step=fields.step,
        data=np.frombuffer(fields.data, dtype=np.uint8),
    )


def build_camera_info(
    store: Any,
    stamp_ns: int,
    frame_id: str,
    size: tuple[int, int],
    K: np.ndarray,
    D: Sequence[float] = (),
    distortion_model: str = "plumb_bob",
    R: np.ndarray | None = None,
    P: np.ndarray | None = None,
) -> Any:
    """``sensor_msgs/CameraInfo``.

    Args:
        size: (width, height) in pixels.
        K: (3, 3) intrinsics of the raw image.
        D: distortion coefficients (plumb_bob: k1, k2, p1, p2, k3).
        R: (3, 3) rectification rotation; identity when None.
        P: (3, 4) projection; ``[K | 0]`` when None.
    """
    K = np.asarray(K, dtype=np.float64).reshape(3, 3)
    R = np.eye(3) if R is None else np.asarray(R, dtype=np.float64).reshape(3, 3)
    P = np.hstack([K, np.zeros((3, 1))]) if P is None else np.asarray(P, dtype=np.float64).reshape(3, 4)
    roi = store.types["sensor_msgs/msg/RegionOfInterest"](
        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
    )
    return store.types["sensor_msgs/msg/CameraInfo"](
        header=build_header(store, stamp_ns, frame_id),
        height=int(size[1]),
        width=int(size[0]),
        distortion_model=distortion_model,
        d=np.asarray(D, dtype=np.float64),
        k=K.reshape(-1),
        r=R.reshape(-1),
        p=P.reshape(-1),
        binning_x=0,
        binning_y=0,
        roi=roi,
    )


def build_audio(store: Any, chunk: AudioChunk) -> Any:
    """robossl audio ``std_msgs/Int16MultiArray`` (layout in docs/logs.md)."""
    dims, data = audio_layout(chunk)
    dim_type = store.types["std_msgs/msg/MultiArrayDimension"]
    layout = store.types["std_msgs/msg/MultiArrayLayout"](
        dim=[dim_type(label=label, size=size, stride=stride) for label, size, stride in dims], data_offset=0
    )
    return store.types["std_msgs/msg/Int16MultiArray"](layout=layout, data=data)


def build_joint_state(
    store: Any,
    stamp_ns: int,
    names: Sequence[str],
    position: Sequence[float] = (),
    velocity: Sequence[float] = (),
    effort: Sequence[float] = (),
) -> Any:
    """``sensor_msgs/JointState`` (empty sequences for fields that are not measured)."""
    return store.types["sensor_msgs/msg/JointState"](
        header=build_header(store, stamp_ns, ""),
        name=list(names),
        position=np.asarray(position, dtype=np.float64),
        velocity=np.asarray(velocity, dtype=np.float64),
        effort=np.asarray(effort, dtype=np.float64),
    )
