"""Kept for the import path ``robossl.data.messages`` that older docs showed; the decoders live in
:mod:`robossl.data.bags.messages`."""

from robossl.data.bags.messages import (
    AUDIO_MSGTYPE,
    AudioChunk,
    AudioFormatError,
    CameraModel,
    ImuSample,
    StampError,
    audio_label,
    audio_layout,
    checked_stamp_ns,
    decode_audio,
    decode_camera_info,
    decode_image,
    decode_imu,
    ns_to_stamp,
    stamp_to_ns,
)

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
