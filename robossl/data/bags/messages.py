"""Decode logged ROS messages to numpy, ROS-free.

The functions here read message *objects* by attribute name only, so they work the same on messages
deserialised by ``rosbags`` (bag reading, replay) and on ``rclpy`` message instances (the ROS nodes):
both expose ``msg.header.stamp.sec``, ``msg.angular_velocity.x``, ``msg.layout.dim[0].label`` and so on.

Audio has no standard ROS 2 message, so robossl carries it in ``std_msgs/msg/Int16MultiArray`` with the
sample rate and capture time of the first sample written into the first dimension's label (see
``docs/logs.md``, section "Audio on ROS topics"), e.g.::

    layout.dim[0] = MultiArrayDimension(label="samples;rate_hz=16000;stamp_ns=1700000000000000000",
                                        size=1024, stride=1024 * channels)
    layout.dim[1] = MultiArrayDimension(label="channels", size=channels, stride=channels)
    layout.data_offset = 0
    data = interleaved int16 PCM, frame-major: s0c0, s0c1, ..., s1c0, ...

:func:`audio_layout` builds those dimension fields, :func:`decode_audio` parses them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from robossl.data.bags.image_codec import image_to_array

__all__ = [
    "AUDIO_MSGTYPE",
    "AudioChunk",
    "AudioFormatError",
    "CameraModel",
    "ImuSample",
    "StampError",
    "audio_label",
    "audio_layout",
    "decode_audio",
    "decode_camera_info",
    "decode_image",
    "decode_imu",
    "checked_stamp_ns",
    "ns_to_stamp",
    "stamp_to_ns",
]

AUDIO_MSGTYPE = "std_msgs/msg/Int16MultiArray"
"""The ROS message type robossl uses for audio chunks."""


class AudioFormatError(ValueError):
    """An ``Int16MultiArray`` does not follow robossl's audio layout (docs/logs.md)."""


TIME_SEC_MIN, TIME_SEC_MAX = -(2**31), 2**31 - 1  # builtin_interfaces/Time.sec is int32 [s]


class StampError(ValueError):
    """A stamp that no ``builtin_interfaces/Time`` holds: ``nanosec`` outside [0, 1e9) or ``sec`` out of range."""


def stamp_to_ns(stamp: Any) -> int:
    """``builtin_interfaces/Time`` (``sec``, ``nanosec``) -> integer nanoseconds.

    Plain arithmetic, no check (bag readers take recorded stamps as they are); input from a peer goes
    through :func:`checked_stamp_ns`.
    """
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def checked_stamp_ns(stamp: Any, where: str) -> int:
    """Like :func:`stamp_to_ns`, for a stamp a node receives: it must be a normalised, non-negative Time.

    Args:
        stamp: ``builtin_interfaces/Time`` (rclpy or rosbags).
        where: the message it came from, named in the error (e.g. ``"Imu on wrist/imu"``).

    Raises:
        StampError: ``nanosec`` is not in [0, 999999999] (the same instant could be written several ways,
            and republishing it can overflow ``sec``), or ``sec`` is negative (ROS time starts at 0;
            ``rclpy.time.Time`` refuses negative times) or beyond int32.
    """
    sec, nanosec = int(stamp.sec), int(stamp.nanosec)
    if not 0 <= nanosec < 1_000_000_000:
        raise StampError(
            f"{where}: header.stamp.nanosec={nanosec} is outside 0 .. 999999999 (sec={sec}); the publisher "
            "must carry whole seconds into sec (rclpy: Time(nanoseconds=...).to_msg())"
        )
    if not 0 <= sec <= TIME_SEC_MAX:
        raise StampError(
            f"{where}: header.stamp.sec={sec} is outside 0 .. {TIME_SEC_MAX}; ROS time is never negative, "
            "so the publisher's clock or stamp is wrong"
        )
    return sec * 1_000_000_000 + nanosec


def ns_to_stamp(stamp_ns: int, field: str = "stamp") -> tuple[int, int]:
    """Integer nanoseconds -> ``(sec, nanosec)`` with ``0 <= nanosec < 1e9`` (negative times allowed).

    Args:
        stamp_ns: the time [ns].
        field: the message field it is written to, named in the error (e.g. ``"header.stamp"``).

    Raises:
        StampError: ``sec`` does not fit ``builtin_interfaces/Time.sec`` (int32; the latest time is
            2038-01-19 03:14:07 UTC), where serialising would fail or wrap around.
    """
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    if not TIME_SEC_MIN <= sec <= TIME_SEC_MAX:
        raise StampError(
            f"{field}.sec={sec} (from {int(stamp_ns)} ns) is outside the int32 range "
            f"{TIME_SEC_MIN} .. {TIME_SEC_MAX} of builtin_interfaces/Time; the stamp is corrupt or not "
            "in nanoseconds"
        )
    return sec, nanosec


@dataclass(frozen=True)
class ImuSample:
    """One ``sensor_msgs/Imu`` as arrays."""

    stamp_ns: int  # header stamp, nanoseconds
    frame_id: str  # header frame
    orientation: np.ndarray  # (4,) quaternion x, y, z, w; all zero / covariance[0] = -1 when unknown
    angular_velocity: np.ndarray  # (3,) rad/s
    linear_acceleration: np.ndarray  # (3,) m/s^2

    @property
    def gyro_accel(self) -> np.ndarray:
        """(6,) float64: gyro x, y, z (rad/s) then accel x, y, z (m/s^2)."""
        return np.concatenate([self.angular_velocity, self.linear_acceleration])


def _vector(v: Any) -> np.ndarray:
    return np.array([v.x, v.y, v.z], dtype=np.float64)


def decode_imu(msg: Any) -> ImuSample:
    """Decode a ``sensor_msgs/Imu``.

    Raises:
        ValueError: when a value is NaN or infinite (drop and count the message).
    """
    q = msg.orientation
    sample = ImuSample(
        stamp_ns=stamp_to_ns(msg.header.stamp),
        frame_id=str(msg.header.frame_id),
        orientation=np.array([q.x, q.y, q.z, q.w], dtype=np.float64),
        angular_velocity=_vector(msg.angular_velocity),
        linear_acceleration=_vector(msg.linear_acceleration),
    )
    if not (np.isfinite(sample.angular_velocity).all() and np.isfinite(sample.linear_acceleration).all()):
        raise ValueError(
            f"Imu at {sample.stamp_ns} ns in frame {sample.frame_id!r} has non-finite angular velocity or "
            "acceleration; drop the message (the driver reported an invalid reading)"
        )
    return sample


def decode_image(msg: Any, copy: bool = False) -> tuple[int, np.ndarray]:
    """Decode a ``sensor_msgs/Image`` to ``(stamp_ns, array)``.

    Args:
        msg: the message (rosbags or rclpy).
        copy: return an array that owns its memory (otherwise it may view the message's buffer).

    Returns:
        The header stamp in nanoseconds and the pixels, ``(H, W)`` or ``(H, W, C)`` as documented in
        :mod:`robossl.data.bags.image_codec` (mono8, mono16, 16UC1, 32FC1, rgb8, bgr8, rgba8, bgra8).

    Raises:
        robossl.data.bags.image_codec.ImageCodecError: unsupported encoding, bad step or data size.
    """
    array = image_to_array(msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step, msg.data, copy)
    return stamp_to_ns(msg.header.stamp), array


@dataclass(frozen=True)
class CameraModel:
    """A ``sensor_msgs/CameraInfo`` as arrays."""

    stamp_ns: int  # header stamp, nanoseconds
    frame_id: str  # header frame
    width: int  # image width, pixels
    height: int  # image height, pixels
    distortion_model: str  # "plumb_bob", "rational_polynomial", "equidistant", ...
    D: np.ndarray  # (n,) distortion coefficients
    K: np.ndarray  # (3, 3) intrinsic matrix of the raw image, pixels
    R: np.ndarray  # (3, 3) rectification rotation
    P: (
        np.ndarray
    )  # (3, 4) projection matrix of the rectified image; P[0, 3] = -fx * baseline (m) on the right


def decode_camera_info(msg: Any) -> CameraModel:
    """Decode a ``sensor_msgs/CameraInfo`` (fields ``d``/``k``/``r``/``p``, lowercase in ROS 2).

    Raises:
        ValueError: when K, R or P have the wrong number of elements.
    """
    k = np.asarray(getattr(msg, "k", getattr(msg, "K", ())), dtype=np.float64)
    r = np.asarray(getattr(msg, "r", getattr(msg, "R", ())), dtype=np.float64)
    p = np.asarray(getattr(msg, "p", getattr(msg, "P", ())), dtype=np.float64)
    d = np.asarray(getattr(msg, "d", getattr(msg, "D", ())), dtype=np.float64)
    if k.size != 9 or r.size != 9 or p.size != 12:
        raise ValueError(
            f"CameraInfo needs 9 K, 9 R and 12 P values, got {k.size}, {r.size}, {p.size}; "
            "the message is not a sensor_msgs/CameraInfo or is corrupted"
        )
    return CameraModel(
        stamp_ns=stamp_to_ns(msg.header.stamp),
        frame_id=str(msg.header.frame_id),
        width=int(msg.width),
        height=int(msg.height),
        distortion_model=str(msg.distortion_model),
        D=d,
        K=k.reshape(3, 3),
        R=r.reshape(3, 3),
        P=p.reshape(3, 4),
    )


@dataclass(frozen=True)
class AudioChunk:
    """A block of PCM audio with its capture time."""

    samples: np.ndarray  # (n, channels) int16 PCM
    sample_rate_hz: float  # samples per second per channel
    stamp_ns: int  # capture time of samples[0], nanoseconds (same clock as the other sensors)

    @property
    def duration_s(self) -> float:
        """Length of the chunk in seconds."""
        return self.samples.shape[0] / self.sample_rate_hz

    def to_float(self) -> np.ndarray:
        """(n, channels) float32 in [-1, 1)."""
        return self.samples.astype(np.float32) / 32768.0


def audio_label(sample_rate_hz: float, stamp_ns: int) -> str:
    """The label of the ``samples`` dimension: ``"samples;rate_hz=<rate>;stamp_ns=<int>"``."""
    rate = float(sample_rate_hz)
    if not np.isfinite(rate) or rate <= 0:
        raise AudioFormatError(f"sample rate must be a positive number of Hz, got {sample_rate_hz}")
    rate_text = str(int(rate)) if rate.is_integer() else repr(rate)
    return f"samples;rate_hz={rate_text};stamp_ns={int(stamp_ns)}"


def audio_layout(chunk: AudioChunk) -> tuple[list[tuple[str, int, int]], np.ndarray]:
    """The ``Int16MultiArray`` content for ``chunk``.

    Returns:
        ``(dims, data)``: ``dims`` is ``[(label, size, stride), ...]`` for ``layout.dim`` (data_offset 0) and
        ``data`` the interleaved ``(n * channels,)`` int16 samples.

    Raises:
        AudioFormatError: samples not ``(n, channels)`` int16, or a bad sample rate.
    """
    samples = np.asarray(chunk.samples)
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.ndim != 2 or samples.dtype != np.int16:
        raise AudioFormatError(
            f"audio samples must be (n, channels) int16, got shape {samples.shape} dtype {samples.dtype}; "
            "convert float audio with np.clip(x * 32768, -32768, 32767).astype(np.int16)"
        )
    n, channels = samples.shape
    dims = [
        (audio_label(chunk.sample_rate_hz, chunk.stamp_ns), n, n * channels),
        ("channels", channels, channels),
    ]
    return dims, np.ascontiguousarray(samples).reshape(-1)


def _parse_label(label: str) -> dict[str, str]:
    parts = label.split(";")
    if parts[0] != "samples":
        raise AudioFormatError(
            f"first dimension label {label!r} does not start with 'samples'; robossl audio needs "
            "'samples;rate_hz=<Hz>;stamp_ns=<ns>' (docs/logs.md, 'Audio on ROS topics')"
        )
    fields: dict[str, str] = {}
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        if not sep:
            raise AudioFormatError(f"audio label part {part!r} in {label!r} is not key=value")
        fields[key.strip()] = value.strip()
    return fields


def decode_audio(msg: Any) -> AudioChunk:
    """Decode a robossl audio ``std_msgs/Int16MultiArray`` (layout in the module docstring).

    Raises:
        AudioFormatError: the layout, label or data length does not follow the documented format.
    """
    dims = list(msg.layout.dim)
    if len(dims) != 2 or dims[1].label != "channels":
        raise AudioFormatError(
            f"audio Int16MultiArray needs 2 dimensions ('samples...', 'channels'), got "
            f"{[d.label for d in dims]}; publish with robossl.data.bags.messages.audio_layout"
        )
    fields = _parse_label(dims[0].label)
    try:
        rate = float(fields["rate_hz"])
        stamp_ns = int(fields["stamp_ns"])
    except (KeyError, ValueError) as exc:
        raise AudioFormatError(
            f"audio label {dims[0].label!r} needs numeric rate_hz and stamp_ns ({exc})"
        ) from exc
    if not np.isfinite(rate) or rate <= 0:
        raise AudioFormatError(f"audio label {dims[0].label!r}: rate_hz must be > 0")
    n, channels = int(dims[0].size), int(dims[1].size)
    data = np.asarray(msg.data, dtype=np.int16).reshape(-1)
    offset = int(msg.layout.data_offset)
    if channels < 1 or data.size != offset + n * channels:
        raise AudioFormatError(
            f"audio data has {data.size} values, layout says {offset} + {n} samples x {channels} channels; "
            "the message is truncated or its layout is wrong"
        )
    return AudioChunk(data[offset:].reshape(n, channels), rate, stamp_ns)
