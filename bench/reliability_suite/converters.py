"""Reliability section 2: every ROS message <-> numpy converter fed random and hostile inputs.

Decoders (message -> numpy: what a hostile peer or a damaged bag reaches) are fed messages whose fields
are random but type-correct, as DDS or a bag deserialiser delivers them: rclpy messages (the nodes' path)
and ``rosbags`` messages (the bag path), with sizes, steps, encodings, labels, stamps and floats drawn from
the whole range of each field (0, huge, NaN/inf, empty, inconsistent). A decoder may refuse with the error
types its docstring names; anything else escapes. The node-side steps after decoding (``grey8`` in
stereo_mono_node, ``to_rgb8`` in terrain_node, ``yaw_of``) are fed what the decoders let through.

Builders (numpy -> message: the nodes' outputs) are fed what a node can hand them: arrays of random shapes
and dtypes and stamps decoded from hostile headers. Refusing with ``ValueError``/``TypeError`` (a caller
error) is allowed; anything else (e.g. an ``AssertionError`` from rclpy's field checks) escapes and is
counted separately from the decoders.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

ENCODINGS = ["mono8", "mono16", "16UC1", "32FC1", "rgb8", "bgr8", "rgba8", "bgra8"]
ODD_ENCODINGS = ["", "yuv422", "bayer_rggb8", "8UC3", "MONO8", "rgb8\x00", "ünïcode", "32FC3", "rgb16"]
ODD_FLOATS = [math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0, 0.0]
EXAMPLES_KEPT = 3


@dataclass
class Converter:
    """One converter under test."""

    name: str  # function (and the path it stands for)
    direction: str  # "decode" (message -> numpy) or "build" (numpy -> message)
    make_input: Callable[[np.random.Generator], tuple[Any, ...]]  # hostile arguments
    call: Callable[..., Any]  # the conversion
    allowed: tuple[type[BaseException], ...]  # documented refusals
    check: Callable[[tuple[Any, ...], Any], bool] | None = None  # False: converted but the output is wrong


def _u32(rng: np.random.Generator) -> int:
    return int(rng.choice([0, 1, 2, 3, 7, int(rng.integers(1, 80)), 2**31 - 1, 2**32 - 1]))


def _float(rng: np.random.Generator) -> float:
    if rng.random() < 0.3:
        return float(rng.choice(ODD_FLOATS))
    return float(rng.normal(scale=10.0 ** int(rng.integers(-3, 6))))


def _stamp(rng: np.random.Generator) -> tuple[int, int]:
    """(sec, nanosec) anywhere in the field types' ranges (int32, uint32)."""
    sec = int(rng.choice([0, -1, 2**31 - 1, -(2**31), int(rng.integers(-(2**31), 2**31)), 1_700_000_000]))
    nanosec = int(rng.choice([0, 999_999_999, 1_000_000_000, 2**32 - 1, int(rng.integers(0, 2**32))]))
    return sec, nanosec


def _text(rng: np.random.Generator) -> str:
    alphabet = list("abc;=_/ 0123456789.-eE") + ["ü", "\x00", "\n", "nan", "inf"]
    return "".join(rng.choice(alphabet, size=int(rng.integers(0, 30))))


def _image_fields(rng: np.random.Generator) -> dict[str, Any]:
    """Random Image fields; about 40 % consistent (data length = step * height) to reach later checks."""
    encoding = str(rng.choice(ENCODINGS)) if rng.random() < 0.75 else str(rng.choice(ODD_ENCODINGS))
    consistent = rng.random() < 0.4
    if consistent:
        height, width = int(rng.choice([0, 1, 2, int(rng.integers(1, 40))])), int(rng.integers(0, 40))
        pixel = {"mono8": 1, "mono16": 2, "16UC1": 2, "32FC1": 4, "rgb8": 3, "bgr8": 3}.get(encoding, 4)
        step = width * pixel + int(rng.choice([0, 0, 1, 3]))
        data = rng.integers(0, 256, step * height, dtype=np.uint8)
    else:
        height, width, step = _u32(rng), _u32(rng), _u32(rng)
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

    fields = _image_fields(rng)
    msg = Image()
    sec, nanosec = _stamp(rng)
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    msg.header.frame_id = _text(rng)
    msg.height, msg.width, msg.encoding = fields["height"], fields["width"], fields["encoding"]
    msg.is_bigendian, msg.step = fields["is_bigendian"], fields["step"]
    msg.data = fields["data"].tobytes()
    return msg


def rosbags_image(rng: np.random.Generator, store: Any) -> Any:
    fields = _image_fields(rng)
    sec, nanosec = _stamp(rng)
    header = store.types["std_msgs/msg/Header"](
        stamp=store.types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=_text(rng)
    )
    return store.types["sensor_msgs/msg/Image"](header=header, **fields)


def rclpy_imu(rng: np.random.Generator) -> Any:
    from sensor_msgs.msg import Imu

    msg = Imu()
    msg.header.stamp.sec, msg.header.stamp.nanosec = _stamp(rng)
    msg.header.frame_id = _text(rng)
    for vector in (msg.angular_velocity, msg.linear_acceleration):
        vector.x, vector.y, vector.z = (_float(rng) for _ in range(3))
    q = msg.orientation
    q.x, q.y, q.z, q.w = (_float(rng) for _ in range(4))
    return msg


def rclpy_camera_info(rng: np.random.Generator) -> Any:
    from sensor_msgs.msg import CameraInfo

    msg = CameraInfo()
    msg.header.stamp.sec, msg.header.stamp.nanosec = _stamp(rng)
    msg.width, msg.height = _u32(rng), _u32(rng)
    msg.distortion_model = _text(rng)
    msg.d = [_float(rng) for _ in range(int(rng.integers(0, 20)))]
    msg.k = [_float(rng) for _ in range(9)]
    msg.r = [_float(rng) for _ in range(9)]
    msg.p = [_float(rng) for _ in range(12)]
    return msg


def _audio_label(rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.4:
        rate = rng.choice(["16000", "0", "-5", "nan", "inf", "1e400", "16000.5", "", "x"])
        stamp = rng.choice(["1700000000000000000", "-1", "1e5", "", str(2**70), "0x10"])
        return f"samples;rate_hz={rate};stamp_ns={stamp}"
    if r < 0.6:
        return "samples;" + _text(rng)
    return _text(rng)


def rclpy_audio(rng: np.random.Generator) -> Any:
    from std_msgs.msg import Int16MultiArray, MultiArrayDimension

    if rng.random() < 0.4:  # a valid chunk with one field broken, to reach the later checks
        from robossl.data.bags.messages import AudioChunk
        from robossl_ros.conversions import audio_msg

        n, channels = int(rng.integers(0, 40)), int(rng.integers(1, 3))
        msg = audio_msg(AudioChunk(np.zeros((n, channels), np.int16), 16000, _decoded_stamp_ns(rng)))
        broken = int(rng.integers(0, 5))
        if broken == 0:
            msg.layout.dim[0].size = _u32(rng)
        elif broken == 1:
            msg.layout.dim[1].size = _u32(rng)
        elif broken == 2:
            msg.layout.data_offset = _u32(rng)
        elif broken == 3:
            msg.data = rng.integers(-5, 5, int(rng.integers(0, 100)), dtype=np.int16).tolist()
        return msg
    msg = Int16MultiArray()
    dims = []
    for d in range(int(rng.choice([0, 1, 2, 2, 2, 3]))):
        label = _audio_label(rng) if d == 0 else str(rng.choice(["channels", "channels", _text(rng)]))
        dims.append(MultiArrayDimension(label=label, size=_u32(rng), stride=_u32(rng)))
    msg.layout.dim = dims
    msg.layout.data_offset = int(rng.choice([0, 0, 0, 1, 2**32 - 1]))
    msg.data = rng.integers(-32768, 32768, int(rng.integers(0, 400)), dtype=np.int16).tolist()
    return msg


def rclpy_float_array(rng: np.random.Generator) -> Any:
    from std_msgs.msg import Float32MultiArray, MultiArrayDimension

    msg = Float32MultiArray()
    labels = ["embedding;stamp_ns=17", "embedding;stamp_ns=", "x;stamp_ns=nan", "noseparator", _text(rng)]
    msg.layout.dim = [
        MultiArrayDimension(label=str(rng.choice(labels)), size=_u32(rng), stride=_u32(rng))
        for _ in range(int(rng.choice([0, 1, 1, 2])))
    ]
    msg.data = [_float(rng) for _ in range(int(rng.integers(0, 10)))]
    return msg


def _decoded_image(rng: np.random.Generator) -> tuple[Any, ...]:
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


def _random_array(rng: np.random.Generator, encoding: str | None = None) -> np.ndarray:
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


def _decoded_stamp_ns(rng: np.random.Generator) -> int:
    sec, nanosec = _stamp(rng)
    return sec * 1_000_000_000 + nanosec  # what stamp_to_ns makes of a hostile header


def converters() -> list[Converter]:
    from rclpy.serialization import deserialize_message, serialize_message

    from robossl.data.bags.image_codec import ImageCodecError, UnsupportedEncodingError, to_rgb8
    from robossl.data.bags.message_builders import build_audio, build_camera_info, build_image, build_imu
    from robossl.data.bags.messages import (
        AudioChunk,
        AudioFormatError,
        CameraModel,
        decode_audio,
        decode_camera_info,
        decode_image,
        decode_imu,
        stamp_to_ns,
    )
    from robossl.data.bags.typestore import default_typestore
    from robossl_ros.conversions import (
        RejectedInput,
        audio_msg,
        camera_info_msg,
        image_msg,
        imu_msg,
        imu_sample,
        stamp_msg,
    )
    from robossl_ros.diagnostics import NonFiniteError
    from robossl_ros.har_node import array_msg, array_stamp_ns
    from robossl_ros.stereo_mono_node import grey8
    from robossl_ros.terrain_node import yaw_of

    store = default_typestore()
    caller_error = (ValueError, TypeError)

    def published(build: Callable[..., Any]) -> Callable[..., Any]:
        """The builder plus serialisation, as publishing does it (rclpy checks some fields only there)."""

        def call(*args: Any) -> Any:
            msg = build(*args)
            return msg, serialize_message(msg)

        return call

    def stored(build: Callable[..., Any]) -> Callable[..., Any]:
        """A rosbags builder plus CDR serialisation, as writing a bag does it."""

        def call(*args: Any) -> Any:
            msg = build(*args)
            return store.serialize_cdr(msg, msg.__msgtype__)

        return call

    def stamp_round_trip(stamp: Any) -> int:
        """Input header stamp -> ns -> output header stamp as published and received again."""
        from builtin_interfaces.msg import Time

        return stamp_to_ns(deserialize_message(serialize_message(stamp_msg(stamp_to_ns(stamp))), Time))

    def same_stamp(args: tuple[Any, ...], result: Any) -> bool:
        return bool(result == stamp_to_ns(args[0]))

    def camera_model(rng: np.random.Generator) -> tuple[Any, ...]:
        k = np.array([_float(rng) for _ in range(9)]).reshape(3, 3)
        p = np.array([_float(rng) for _ in range(12)]).reshape(3, 4)
        d = np.array([_float(rng) for _ in range(int(rng.integers(0, 9)))])
        return (
            CameraModel(
                _decoded_stamp_ns(rng), _text(rng), _u32(rng), _u32(rng), _text(rng), d, k, np.eye(3), p
            ),
        )

    def audio_chunk(rng: np.random.Generator) -> tuple[Any, ...]:
        samples = (
            _random_array(rng)
            if rng.random() < 0.5
            else rng.integers(-5, 5, (int(rng.integers(0, 50)), 1)).astype(np.int16)
        )
        return (AudioChunk(samples, _float(rng), _decoded_stamp_ns(rng)),)

    found = [
        # ---- decoders: incoming messages
        Converter("decode_imu", "decode", lambda r: (rclpy_imu(r),), decode_imu, (ValueError,)),
        Converter(
            "imu_sample (robossl_ros.conversions)",
            "decode",
            lambda r: (rclpy_imu(r),),
            imu_sample,
            (NonFiniteError, RejectedInput),  # RejectedInput: bad_stamp
        ),
        Converter(
            "decode_image (rclpy Image)",
            "decode",
            lambda r: (rclpy_image(r),),
            decode_image,
            (ImageCodecError,),
        ),
        Converter(
            "decode_image (rosbags Image, copy=True)",
            "decode",
            lambda r: (rosbags_image(r, store), True),
            decode_image,
            (ImageCodecError,),
        ),
        Converter(
            "decode_camera_info",
            "decode",
            lambda r: (rclpy_camera_info(r),),
            decode_camera_info,
            (ValueError,),
        ),
        Converter("decode_audio", "decode", lambda r: (rclpy_audio(r),), decode_audio, (AudioFormatError,)),
        Converter(
            "array_stamp_ns (har_node outputs)",
            "decode",
            lambda r: (rclpy_float_array(r),),
            array_stamp_ns,
            (ValueError,),
        ),
        Converter("stamp_to_ns", "decode", lambda r: (rclpy_imu(r).header.stamp,), stamp_to_ns, ()),
        Converter(
            "header stamp round trip (stamp_to_ns -> stamp_msg -> wire)",
            "decode",
            lambda r: (rclpy_imu(r).header.stamp,),
            stamp_round_trip,
            (ValueError,),
            same_stamp,
        ),
        Converter(
            "yaw_of (terrain_node odometry)", "decode", lambda r: (rclpy_imu(r).orientation,), yaw_of, ()
        ),
        Converter(
            "grey8 (stereo_mono_node, after its image decoding)",
            "decode",
            _decoded_image,
            grey8,
            (UnsupportedEncodingError,),
        ),
        Converter(
            "to_rgb8 (terrain_node, after its image decoding)",
            "decode",
            _decoded_image,
            to_rgb8,
            (UnsupportedEncodingError,),
        ),
        # ---- builders: the nodes' outputs
        Converter(
            "image_msg",
            "build",
            lambda r: (
                _random_array(r, e := str(r.choice(ENCODINGS + ODD_ENCODINGS))),
                e,
                _decoded_stamp_ns(r),
                "f",
            ),
            published(image_msg),
            caller_error,
        ),
        Converter(
            "imu_msg",
            "build",
            lambda r: (_random_array(r), _decoded_stamp_ns(r), "imu"),
            published(imu_msg),
            caller_error,
        ),
        Converter(
            "stamp_msg", "build", lambda r: (_decoded_stamp_ns(r),), published(stamp_msg), caller_error
        ),
        Converter("camera_info_msg", "build", camera_model, published(camera_info_msg), caller_error),
        Converter("audio_msg", "build", audio_chunk, published(audio_msg), caller_error),
        Converter(
            "array_msg (har_node outputs)",
            "build",
            lambda r: (_random_array(r).reshape(-1), _text(r), _decoded_stamp_ns(r)),
            published(array_msg),
            caller_error,
        ),
        Converter(
            "build_image (rosbags)",
            "build",
            lambda r: (store, _decoded_stamp_ns(r), "f", _random_array(r, e := str(r.choice(ENCODINGS))), e),
            stored(build_image),
            caller_error,
        ),
        Converter(
            "build_imu (rosbags)",
            "build",
            lambda r: (store, _decoded_stamp_ns(r), "imu", _random_array(r).reshape(-1)[:3], [1.0, 2.0, 3.0]),
            stored(build_imu),
            caller_error,
        ),
        Converter(
            "build_camera_info (rosbags)",
            "build",
            lambda r: (store, _decoded_stamp_ns(r), "cam", (_u32(r), _u32(r)), _random_array(r)),
            stored(build_camera_info),
            caller_error,
        ),
        Converter(
            "build_audio (rosbags)",
            "build",
            lambda r: (store, *audio_chunk(r)),
            stored(build_audio),
            caller_error,
        ),
    ]
    # the nodes' validating decoders (robossl_ros.conversions), where this version has them
    from robossl_ros import conversions

    for name, make in (
        ("image_array", lambda r: (rclpy_image(r), "camera/image_raw")),
        ("audio_chunk", lambda r: (rclpy_audio(r), "audio")),
        ("camera_model", lambda r: (rclpy_camera_info(r), "camera/camera_info")),
    ):
        function = getattr(conversions, name, None)
        if function is not None:  # documented refusals: ImageCodecError, AudioFormatError, RejectedInput
            found.append(
                Converter(f"{name} (robossl_ros.conversions)", "decode", make, function, (ValueError,))
            )
    return found


def run(cases_per_converter: int, seed: int = 0) -> dict[str, Any]:
    """Feed each converter ``cases_per_converter`` hostile inputs; count results by outcome."""
    started = time.perf_counter()
    rows = {}
    totals: Counter[str] = Counter()
    for index, conv in enumerate(converters()):
        rng = np.random.default_rng(seed + index)
        outcome: Counter[str] = Counter()
        escaping: Counter[str] = Counter()
        examples: list[str] = []
        for _ in range(cases_per_converter):
            args = conv.make_input(rng)
            try:
                result = conv.call(*args)
                if conv.check is not None and not conv.check(args, result):
                    outcome["silently_wrong"] += 1
                    if len(examples) < EXAMPLES_KEPT:
                        examples.append(f"wrong output for {args!r}: {result!r}"[:240])
                else:
                    outcome["converted"] += 1
            except conv.allowed:
                outcome["refused"] += 1
            except Exception as exc:  # noqa: BLE001 - counting what escapes is the point
                outcome["escaping"] += 1
                escaping[type(exc).__name__] += 1
                if len(examples) < EXAMPLES_KEPT:
                    examples.append(f"{type(exc).__name__}: {exc}"[:240])
        rows[conv.name] = {
            "direction": conv.direction,
            "cases": cases_per_converter,
            "converted": outcome["converted"],
            "refused": outcome["refused"],
            "escaping": outcome["escaping"],
            "silently_wrong": outcome["silently_wrong"],
            "escaping_types": dict(escaping),
            "examples": examples,
        }
        totals[conv.direction] += outcome["escaping"]
        totals["silently_wrong"] += outcome["silently_wrong"]
    return {
        "converters": rows,
        "escaping_exceptions": totals["decode"],
        "builder_escaping_exceptions": totals["build"],
        "silently_wrong_outputs": totals["silently_wrong"],
        "seconds": round(time.perf_counter() - started, 1),
    }
