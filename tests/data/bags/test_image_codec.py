"""sensor_msgs/Image fields <-> numpy: round trips, padded rows, byte order and specific errors."""

from __future__ import annotations

import array
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robossl.data.bags.image_codec import (
    ENCODINGS,
    ImageCodecError,
    ImageShapeError,
    ImageSizeError,
    ImageStepError,
    UnsupportedEncodingError,
    array_to_image,
    encoding_info,
    fields_to_array,
    image_to_array,
    to_rgb8,
)


def _sample(encoding: str, height: int, width: int, seed: int = 0) -> np.ndarray:
    info = ENCODINGS[encoding]
    rng = np.random.default_rng(seed)
    shape = (height, width) if info.channels == 1 else (height, width, info.channels)
    if info.dtype.kind == "f":
        return rng.normal(size=shape).astype(info.dtype)
    return rng.integers(0, np.iinfo(info.dtype).max, size=shape, endpoint=True).astype(info.dtype)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_round_trip_every_encoding(encoding: str) -> None:
    image = _sample(encoding, 5, 7)
    fields = array_to_image(image, encoding)
    assert (fields.height, fields.width, fields.encoding, fields.is_bigendian) == (5, 7, encoding, 0)
    assert fields.step == 7 * ENCODINGS[encoding].pixel_bytes
    assert len(fields.data) == fields.step * 5
    decoded = fields_to_array(fields)
    assert decoded.dtype == ENCODINGS[encoding].dtype
    np.testing.assert_array_equal(decoded, image)


def test_known_bytes_decode_to_known_pixels() -> None:
    # rgb8 2x1: the wire order is R, G, B per pixel.
    rgb = image_to_array(1, 2, "rgb8", 0, 6, bytes([1, 2, 3, 4, 5, 6]))
    assert rgb.tolist() == [[[1, 2, 3], [4, 5, 6]]]
    # 16UC1 little-endian 0x0102 = 258; 32FC1 1.5 packed by struct (an independent encoder).
    assert image_to_array(1, 1, "16UC1", 0, 2, bytes([0x02, 0x01]))[0, 0] == 258
    assert image_to_array(1, 1, "32FC1", 0, 4, struct.pack("<f", 1.5))[0, 0] == 1.5
    assert image_to_array(1, 1, "32FC1", 1, 4, struct.pack(">f", -2.25))[0, 0] == -2.25


def test_bgr_and_bgra_convert_to_rgb() -> None:
    bgr = image_to_array(1, 1, "bgr8", 0, 3, bytes([10, 20, 30]))
    assert to_rgb8(bgr, "bgr8").tolist() == [[[30, 20, 10]]]
    bgra = image_to_array(1, 1, "bgra8", 0, 4, bytes([10, 20, 30, 255]))
    assert to_rgb8(bgra, "bgra8").tolist() == [[[30, 20, 10]]]
    rgba = image_to_array(1, 1, "rgba8", 0, 4, bytes([10, 20, 30, 255]))
    assert to_rgb8(rgba, "rgba8").tolist() == [[[10, 20, 30]]]
    mono = image_to_array(1, 1, "mono8", 0, 1, bytes([7]))
    assert to_rgb8(mono, "mono8").tolist() == [[[7, 7, 7]]]
    with pytest.raises(UnsupportedEncodingError, match="no colour meaning"):
        to_rgb8(np.zeros((1, 1), np.float32), "32FC1")


@pytest.mark.parametrize("encoding", ["mono8", "rgb8", "16UC1", "32FC1", "bgra8"])
def test_padded_rows_are_stripped(encoding: str) -> None:
    image = _sample(encoding, 4, 3, seed=1)
    fields = array_to_image(image, encoding, row_padding=5)
    assert fields.step == 3 * ENCODINGS[encoding].pixel_bytes + 5
    np.testing.assert_array_equal(fields_to_array(fields), image)
    # Garbage in the padding must not leak into pixels.
    raw = bytearray(fields.data)
    for r in range(4):
        raw[r * fields.step + fields.step - 5 : (r + 1) * fields.step] = b"\xff" * 5
    decoded = image_to_array(4, 3, encoding, 0, fields.step, bytes(raw))
    np.testing.assert_array_equal(decoded, image)


@pytest.mark.parametrize("encoding", ["mono16", "16UC1", "32FC1"])
def test_big_endian_is_converted_to_native(encoding: str) -> None:
    image = _sample(encoding, 3, 4, seed=2)
    big = image.astype(image.dtype.newbyteorder(">")).tobytes()
    decoded = image_to_array(3, 4, encoding, 1, 4 * image.dtype.itemsize, big)
    assert decoded.dtype.isnative
    np.testing.assert_array_equal(decoded, image)


def test_accepts_rclpy_style_array_and_memoryview() -> None:
    data = array.array("B", [1, 2, 3, 4])
    assert image_to_array(2, 2, "mono8", 0, 2, data).tolist() == [[1, 2], [3, 4]]
    assert image_to_array(2, 2, "mono8", 0, 2, memoryview(bytes(data))).tolist() == [[1, 2], [3, 4]]


def test_copy_flag_gives_an_owning_writable_array() -> None:
    data = bytes(range(6))
    view = image_to_array(2, 3, "mono8", 0, 3, data)
    assert not view.flags.writeable  # a view on immutable bytes
    owned = image_to_array(2, 3, "mono8", 0, 3, data, copy=True)
    owned[0, 0] = 99
    assert owned.flags.owndata and view[0, 0] == 0


def test_unknown_encoding_is_named_with_the_supported_list() -> None:
    with pytest.raises(UnsupportedEncodingError, match=r"'yuv422'.*supported: mono8"):
        image_to_array(1, 1, "yuv422", 0, 2, b"\x00\x00")
    with pytest.raises(UnsupportedEncodingError, match="did you mean 'rgb8'"):
        encoding_info("RGB8")


def test_step_shorter_than_a_row_is_rejected() -> None:
    with pytest.raises(ImageStepError, match=r"step 8 is smaller than one row \(3 px x 3 B = 9 B\)"):
        image_to_array(2, 3, "rgb8", 0, 8, bytes(16))


def test_data_length_mismatch_is_rejected_with_expected_size() -> None:
    with pytest.raises(ImageSizeError, match="needs 18 data bytes, got 17"):
        image_to_array(2, 3, "rgb8", 0, 9, bytes(17))
    with pytest.raises(ImageSizeError, match="negative"):
        image_to_array(-1, 3, "rgb8", 0, 9, b"")


def test_array_to_image_rejects_wrong_shape_and_dtype() -> None:
    with pytest.raises(ImageShapeError, match=r"shape \(H, W, 3\)"):
        array_to_image(np.zeros((2, 2), np.uint8), "rgb8")
    with pytest.raises(ImageShapeError, match="needs dtype float32, got float64"):
        array_to_image(np.zeros((2, 2)), "32FC1")
    # A single trailing channel is accepted for one-channel encodings.
    assert array_to_image(np.zeros((2, 2, 1), np.uint16), "mono16").step == 4


def test_every_error_is_a_value_error() -> None:
    for cls in (UnsupportedEncodingError, ImageStepError, ImageSizeError, ImageShapeError):
        assert issubclass(cls, ImageCodecError) and issubclass(cls, ValueError)


def test_nan_depth_survives_round_trip() -> None:
    depth = np.array([[1.0, np.nan], [np.inf, 0.25]], np.float32)
    out = fields_to_array(array_to_image(depth, "32FC1"))
    np.testing.assert_array_equal(np.isnan(out), np.isnan(depth))
    assert out[1, 0] == np.inf and out[1, 1] == 0.25


@settings(max_examples=60, deadline=None)
@given(
    encoding=st.sampled_from(sorted(ENCODINGS)),
    height=st.integers(0, 6),
    width=st.integers(0, 6),
    padding=st.integers(0, 7),
    seed=st.integers(0, 1000),
)
def test_random_round_trips_with_padding(
    encoding: str, height: int, width: int, padding: int, seed: int
) -> None:
    image = _sample(encoding, height, width, seed)
    fields = array_to_image(image, encoding, row_padding=padding)
    decoded = image_to_array(
        fields.height, fields.width, fields.encoding, fields.is_bigendian, fields.step, fields.data
    )
    assert decoded.shape == image.shape
    np.testing.assert_array_equal(decoded, image)


def test_unaligned_buffer_decodes_multibyte_pixels() -> None:
    image = _sample("32FC1", 3, 2, seed=3)
    raw = np.frombuffer(b"\x00" + image.tobytes(), dtype=np.uint8)[1:]  # starts at an odd address
    np.testing.assert_array_equal(image_to_array(3, 2, "32FC1", 0, 8, raw), image)
