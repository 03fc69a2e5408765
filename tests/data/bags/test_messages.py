"""Message decoding to numpy (Image, CameraInfo, Imu, audio) after a real CDR round trip."""

from __future__ import annotations

import numpy as np
import pytest

from robossl.data.bags.image_codec import ImageSizeError, UnsupportedEncodingError
from robossl.data.bags.message_builders import build_audio, build_camera_info, build_image, build_imu
from robossl.data.bags.messages import (
    AudioChunk,
    AudioFormatError,
    decode_audio,
    decode_camera_info,
    decode_image,
    decode_imu,
)
from robossl.data.bags.typestore import default_typestore

STORE = default_typestore()


def cdr_round_trip(msg):
    raw = STORE.serialize_cdr(msg, msg.__msgtype__)
    return STORE.deserialize_cdr(raw, msg.__msgtype__)


@pytest.mark.parametrize(
    ("encoding", "array"),
    [
        ("mono8", np.arange(12, dtype=np.uint8).reshape(3, 4)),
        ("mono16", (np.arange(12, dtype=np.uint16) * 5000).reshape(3, 4)),
        ("16UC1", np.full((2, 5), 1234, np.uint16)),
        ("32FC1", np.array([[1.5, np.nan], [0.25, 7.0]], np.float32)),
        ("rgb8", np.arange(24, dtype=np.uint8).reshape(2, 4, 3)),
        ("bgr8", np.arange(24, dtype=np.uint8).reshape(2, 4, 3)[..., ::-1]),
    ],
)
def test_image_round_trip_each_encoding(encoding: str, array: np.ndarray) -> None:
    stamp, decoded = decode_image(cdr_round_trip(build_image(STORE, 12_345_678_901, "cam", array, encoding)))
    assert stamp == 12_345_678_901
    np.testing.assert_array_equal(decoded, array)
    assert decoded.dtype == array.dtype


def test_bad_image_fields_raise_specific_errors() -> None:
    msg = cdr_round_trip(build_image(STORE, 0, "cam", np.zeros((4, 4), np.uint8), "mono8"))
    msg.data = msg.data[:-3]
    with pytest.raises(ImageSizeError, match="needs 16 data bytes, got 13"):
        decode_image(msg)
    msg = cdr_round_trip(build_image(STORE, 0, "cam", np.zeros((4, 4), np.uint8), "mono8"))
    msg.encoding = "yuv422"
    with pytest.raises(UnsupportedEncodingError, match="yuv422"):
        decode_image(msg)


def test_camera_info_and_imu_decode() -> None:
    K = np.array([[458.0, 0, 367.2], [0, 457.3, 248.4], [0, 0, 1]])
    info = decode_camera_info(
        cdr_round_trip(build_camera_info(STORE, 5, "cam0", (752, 480), K, [-0.28, 0.07, 0.0002, 0.00002, 0]))
    )
    np.testing.assert_allclose(info.K, K)
    assert (info.width, info.height, info.distortion_model) == (752, 480, "plumb_bob")
    np.testing.assert_allclose(info.P[:, :3], K)
    imu = decode_imu(cdr_round_trip(build_imu(STORE, 7, "imu", [0.1, -0.2, 0.3], [0.0, 0.5, 9.81])))
    np.testing.assert_allclose(imu.gyro_accel, [0.1, -0.2, 0.3, 0.0, 0.5, 9.81])
    bad = build_imu(STORE, 7, "imu", [np.nan, 0, 0], [0, 0, 9.81])
    with pytest.raises(ValueError, match="non-finite"):
        decode_imu(cdr_round_trip(bad))


def test_audio_round_trip_and_label() -> None:
    samples = (np.arange(2048, dtype=np.int16) - 1024).reshape(1024, 2)
    msg = cdr_round_trip(build_audio(STORE, AudioChunk(samples, 16000, 1_700_000_000_123_456_789)))
    assert msg.layout.dim[0].label == "samples;rate_hz=16000;stamp_ns=1700000000123456789"
    assert (msg.layout.dim[0].size, msg.layout.dim[0].stride, msg.layout.dim[1].size) == (1024, 2048, 2)
    chunk = decode_audio(msg)
    np.testing.assert_array_equal(chunk.samples, samples)
    assert chunk.sample_rate_hz == 16000 and chunk.stamp_ns == 1_700_000_000_123_456_789
    assert chunk.duration_s == pytest.approx(0.064)


def test_malformed_audio_is_rejected_with_reason() -> None:
    msg = cdr_round_trip(build_audio(STORE, AudioChunk(np.zeros((8, 1), np.int16), 8000.5, 0)))
    assert "rate_hz=8000.5" in msg.layout.dim[0].label
    msg.data = msg.data[:-1]
    with pytest.raises(AudioFormatError, match="truncated"):
        decode_audio(msg)
    msg = cdr_round_trip(build_audio(STORE, AudioChunk(np.zeros((8, 1), np.int16), 8000, 0)))
    msg.layout.dim[0].label = "samples;stamp_ns=5"
    with pytest.raises(AudioFormatError, match="rate_hz"):
        decode_audio(msg)
    with pytest.raises(AudioFormatError, match="int16"):
        build_audio(STORE, AudioChunk(np.zeros((8, 1), np.float32), 8000, 0))
