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

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.reliability_suite.hostile_inputs import (
    ENCODINGS,
    ODD_ENCODINGS,
    decoded_image,
    decoded_stamp_ns,
    hostile_float,
    hostile_text,
    hostile_u32,
    random_array,
    rclpy_audio,
    rclpy_camera_info,
    rclpy_float_array,
    rclpy_image,
    rclpy_imu,
    rosbags_image,
)

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
        k = np.array([hostile_float(rng) for _ in range(9)]).reshape(3, 3)
        p = np.array([hostile_float(rng) for _ in range(12)]).reshape(3, 4)
        d = np.array([hostile_float(rng) for _ in range(int(rng.integers(0, 9)))])
        return (
            CameraModel(
                decoded_stamp_ns(rng),
                hostile_text(rng),
                hostile_u32(rng),
                hostile_u32(rng),
                hostile_text(rng),
                d,
                k,
                np.eye(3),
                p,
            ),
        )

    def audio_chunk(rng: np.random.Generator) -> tuple[Any, ...]:
        samples = (
            random_array(rng)
            if rng.random() < 0.5
            else rng.integers(-5, 5, (int(rng.integers(0, 50)), 1)).astype(np.int16)
        )
        return (AudioChunk(samples, hostile_float(rng), decoded_stamp_ns(rng)),)

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
            decoded_image,
            grey8,
            (UnsupportedEncodingError,),
        ),
        Converter(
            "to_rgb8 (terrain_node, after its image decoding)",
            "decode",
            decoded_image,
            to_rgb8,
            (UnsupportedEncodingError,),
        ),
        # ---- builders: the nodes' outputs
        Converter(
            "image_msg",
            "build",
            lambda r: (
                random_array(r, e := str(r.choice(ENCODINGS + ODD_ENCODINGS))),
                e,
                decoded_stamp_ns(r),
                "f",
            ),
            published(image_msg),
            caller_error,
        ),
        Converter(
            "imu_msg",
            "build",
            lambda r: (random_array(r), decoded_stamp_ns(r), "imu"),
            published(imu_msg),
            caller_error,
        ),
        Converter("stamp_msg", "build", lambda r: (decoded_stamp_ns(r),), published(stamp_msg), caller_error),
        Converter("camera_info_msg", "build", camera_model, published(camera_info_msg), caller_error),
        Converter("audio_msg", "build", audio_chunk, published(audio_msg), caller_error),
        Converter(
            "array_msg (har_node outputs)",
            "build",
            lambda r: (random_array(r).reshape(-1), hostile_text(r), decoded_stamp_ns(r)),
            published(array_msg),
            caller_error,
        ),
        Converter(
            "build_image (rosbags)",
            "build",
            lambda r: (store, decoded_stamp_ns(r), "f", random_array(r, e := str(r.choice(ENCODINGS))), e),
            stored(build_image),
            caller_error,
        ),
        Converter(
            "build_imu (rosbags)",
            "build",
            lambda r: (store, decoded_stamp_ns(r), "imu", random_array(r).reshape(-1)[:3], [1.0, 2.0, 3.0]),
            stored(build_imu),
            caller_error,
        ),
        Converter(
            "build_camera_info (rosbags)",
            "build",
            lambda r: (store, decoded_stamp_ns(r), "cam", (hostile_u32(r), hostile_u32(r)), random_array(r)),
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
