"""Random, type-correct but hostile inputs for the converters of reliability section 2 (converters.py).

Messages as DDS or a bag deserialiser delivers them (rclpy and ``rosbags`` types) with every field drawn from
its whole range (0, huge, NaN/inf, empty, inconsistent), and what a node hands the builders: arrays of
random shapes and dtypes, stamps decoded from hostile headers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

ENCODINGS = ["mono8", "mono16", "16UC1", "32FC1", "rgb8", "bgr8", "rgba8", "bgra8"]
ODD_ENCODINGS = ["", "yuv422", "bayer_rggb8", "8UC3", "MONO8", "rgb8\x00", "ünïcode", "32FC3", "rgb16"]
ODD_FLOATS = [math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0, 0.0]


def hostile_u32(rng: np.random.Generator) -> int:
    return int(rng.choice([0, 1, 2, 3, 7, int(rng.integers(1, 80)), 2**31 - 1, 2**32 - 1]))


def hostile_float(rng: np.random.Generator) -> float:
    if rng.random() < 0.3:
        return float(rng.choice(ODD_FLOATS))
    return float(rng.normal(scale=10.0 ** int(rng.integers(-3, 6))))


def hostile_stamp(rng: np.random.Generator) -> tuple[int, int]:
    """(sec, nanosec) anywhere in the field types' ranges (int32, uint32)."""
    sec = int(rng.choice([0, -1, 2**31 - 1, -(2**31), int(rng.integers(-(2**31), 2**31)), 1_700_000_000]))
    nanosec = int(rng.choice([0, 999_999_999, 1_000_000_000, 2**32 - 1, int(rng.integers(0, 2**32))]))
    return sec, nanosec


def hostile_text(rng: np.random.Generator) -> str:
    alphabet = list("abc;=_/ 0123456789.-eE") + ["ü", "\x00", "\n", "nan", "inf"]
    return "".join(rng.choice(alphabet, size=int(rng.integers(0, 30))))


def hostile_image_fields(rng: np.random.Generator) -> dict[str, Any]:
    """Random Image fields; about 40 % consistent (data length = step * height) to reach later checks."""
    encoding = str(rng.choice(ENCODINGS)) if rng.random() < 0.75 else str(rng.choice(ODD_ENCODINGS))
    consistent = rng.random() < 0.4
    if consistent:
        height, width = int(rng.choice([0, 1, 2, int(rng.integers(1, 40))])), int(rng.integers(0, 40))
        pixel = {"mono8": 1, "mono16": 2, "16UC1": 2, "32FC1": 4, "rgb8": 3, "bgr8": 3}.get(encoding, 4)
        step = width * pixel + int(rng.choice([0, 0, 1, 3]))
        data = rng.integers(0, 256, step * height, dtype=np.uint8)
    else:
        height, width, step = hostile_u32(rng), hostile_u32(rng), hostile_u32(rng)
        data = rng.integers(0, 256, int(rng.integers(0, 5000)), dtype=np.uint8)
    return {
        "height": height,
        "width": width,
        "encoding": encoding,
        "is_bigendian": int(rng.integers(0, 256)) if rng.random() < 0.2 else int(rng.integers(0, 2)),
        "step": step,
        "data": data,
    }


def rclpy_image(rng: np.random.Generator) -> Any:
    from sensor_msgs.msg import Image

    fields = hostile_image_fields(rng)
    msg = Image()
    sec, nanosec = hostile_stamp(rng)
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    msg.header.frame_id = hostile_text(rng)
    msg.height, msg.width, msg.encoding = fields["height"], fields["width"], fields["encoding"]
    msg.is_bigendian, msg.step = fields["is_bigendian"], fields["step"]
    msg.data = fields["data"].tobytes()
    return msg


def rosbags_image(rng: np.random.Generator, store: Any) -> Any:
    fields = hostile_image_fields(rng)
    sec, nanosec = hostile_stamp(rng)
    header = store.types["std_msgs/msg/Header"](
        stamp=store.types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=hostile_text(rng)
    )
    return store.types["sensor_msgs/msg/Image"](header=header, **fields)


def rclpy_imu(rng: np.random.Generator) -> Any:
    from sensor_msgs.msg import Imu

    msg = Imu()
    msg.header.stamp.sec, msg.header.stamp.nanosec = hostile_stamp(rng)
    msg.header.frame_id = hostile_text(rng)
    for vector in (msg.angular_velocity, msg.linear_acceleration):
        vector.x, vector.y, vector.z = (hostile_float(rng) for _ in range(3))
    q = msg.orientation
    q.x, q.y, q.z, q.w = (hostile_float(rng) for _ in range(4))
    return msg


def rclpy_camera_info(rng: np.random.Generator) -> Any:
    from sensor_msgs.msg import CameraInfo

    msg = CameraInfo()
    msg.header.stamp.sec, msg.header.stamp.nanosec = hostile_stamp(rng)
    msg.width, msg.height = hostile_u32(rng), hostile_u32(rng)
    msg.distortion_model = hostile_text(rng)
    msg.d = [hostile_float(rng) for _ in range(int(rng.integers(0, 20)))]
    msg.k = [hostile_float(rng) for _ in range(9)]
    msg.r = [hostile_float(rng) for _ in range(9)]
    msg.p = [hostile_float(rng) for _ in range(12)]
    return msg


def hostile_audio_label(rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.4:
        rate = rng.choice(["16000", "0", "-5", "nan", "inf", "1e400", "16000.5", "", "x"])
        stamp = rng.choice(["1700000000000000000", "-1", "1e5", "", str(2**70), "0x10"])
        return f"samples;rate_hz={rate};stamp_ns={stamp}"
    if r < 0.6:
        return "samples;" + hostile_text(rng)
    return hostile_text(rng)


def rclpy_audio(rng: np.random.Generator) -> Any:
    from std_msgs.msg import Int16MultiArray, MultiArrayDimension

    if rng.random() < 0.4:  # a valid chunk with one field broken, to reach the later checks
        from robossl.data.bags.messages import AudioChunk
        from robossl_ros.conversions import audio_msg

        n, channels = int(rng.integers(0, 40)), int(rng.integers(1, 3))
        msg = audio_msg(AudioChunk(np.zeros((n, channels), np.int16), 16000, decoded_stamp_ns(rng)))
        broken = int(rng.integers(0, 5))
        if broken == 0:
            msg.layout.dim[0].size = hostile_u32(rng)
        elif broken == 1:
            msg.layout.dim[1].size = hostile_u32(rng)
        elif broken == 2:
            msg.layout.data_offset = hostile_u32(rng)
        elif broken == 3:
            msg.data = rng.integers(-5, 5, int(rng.integers(0, 100)), dtype=np.int16).tolist()
        return msg
    msg = Int16MultiArray()
    dims = []
    for d in range(int(rng.choice([0, 1, 2, 2, 2, 3]))):
        label = (
            hostile_audio_label(rng)
            if d == 0
            else str(rng.choice(["channels", "channels", hostile_text(rng)]))
        )
        dims.append(MultiArrayDimension(label=label, size=hostile_u32(rng), stride=hostile_u32(rng)))
    msg.layout.dim = dims
    msg.layout.data_offset = int(rng.choice([0, 0, 0, 1, 2**32 - 1]))
    msg.data = rng.integers(-32768, 32768, int(rng.integers(0, 400)), dtype=np.int16).tolist()
    return msg


def rclpy_float_array(rng: np.random.Generator) -> Any:
    from std_msgs.msg import Float32MultiArray, MultiArrayDimension

    msg = Float32MultiArray()
    labels = [
        "embedding;stamp_ns=17",
        "embedding;stamp_ns=",
        "x;stamp_ns=nan",
        "noseparator",
        hostile_text(rng),
    ]
    msg.layout.dim = [
        MultiArrayDimension(label=str(rng.choice(labels)), size=hostile_u32(rng), stride=hostile_u32(rng))
        for _ in range(int(rng.choice([0, 1, 1, 2])))
    ]
    msg.data = [hostile_float(rng) for _ in range(int(rng.integers(0, 10)))]
    return msg


def decoded_image(rng: np.random.Generator) -> tuple[Any, ...]:
    """An (array, encoding) pair that the nodes' image decoding accepted (what the steps after it receive):
    ``robossl_ros.conversions.image_array`` where this version has it, else ``decode_image``."""
    from robossl.data.bags.messages import decode_image
    from robossl_ros import conversions

    image_array = getattr(conversions, "image_array", None)
    for _ in range(100):
        msg = rclpy_image(rng)
        try:
            if image_array is not None:
                return image_array(msg, "camera/image_raw")[1], msg.encoding
            return decode_image(msg)[1], msg.encoding
        except ValueError:
            continue
    return np.zeros((0, 0), np.uint8), "mono8"


def random_array(rng: np.random.Generator, encoding: str | None = None) -> np.ndarray:
    if encoding is not None and rng.random() < 0.5:  # the shape and dtype the encoding needs, any size
        from robossl.data.bags.image_codec import encoding_info

        try:
            info = encoding_info(encoding)
        except ValueError:
            info = encoding_info("mono8")
        size = (int(rng.choice([0, 1, 5])), int(rng.choice([0, 1, 7])))
        shape_ = size if info.channels == 1 else (*size, info.channels)
        return (rng.random(shape_) * 200).astype(info.dtype)
    shape = tuple(int(rng.choice([0, 1, 2, 3, 4, 5, 17])) for _ in range(int(rng.integers(0, 5))))
    dtypes = [np.uint8, np.uint16, np.float32, np.float64, np.int16, np.int64, np.bool_]
    dtype = dtypes[int(rng.integers(0, len(dtypes)))]
    array: np.ndarray = (rng.random(shape) * 300).astype(dtype)
    if rng.random() < 0.2 and array.ndim >= 2:
        array = array[:, ::2]  # non-contiguous
    if rng.random() < 0.1 and array.size and array.dtype.kind == "f":
        array.flat[0] = np.nan
    return array


def decoded_stamp_ns(rng: np.random.Generator) -> int:
    sec, nanosec = hostile_stamp(rng)
    return sec * 1_000_000_000 + nanosec  # what stamp_to_ns makes of a hostile header
