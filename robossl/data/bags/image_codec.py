"""ROS-free conversion between ``sensor_msgs/Image`` fields and numpy arrays.

A ``sensor_msgs/Image`` is five fields plus bytes: ``height``, ``width`` (pixels), ``encoding`` (a string
such as ``"rgb8"``), ``is_bigendian`` (byte order of multi-byte pixels), ``step`` (bytes per row, which may
be larger than ``width * bytes_per_pixel`` when rows are padded) and ``data`` (``step * height`` bytes).
This module converts those fields to and from numpy without importing rclpy, so bag readers, the
simulator and the ROS nodes share one implementation.

Supported encodings (names as in ``sensor_msgs/image_encodings.hpp``):

=========  ==========  ========  ===================================
encoding   dtype       channels  array shape
=========  ==========  ========  ===================================
mono8      uint8       1         (H, W)
mono16     uint16      1         (H, W)
16UC1      uint16      1         (H, W)  (e.g. depth in millimetres)
32FC1      float32     1         (H, W)  (e.g. depth in metres, NaN = invalid)
rgb8       uint8       3         (H, W, 3)
bgr8       uint8       3         (H, W, 3)
rgba8      uint8       4         (H, W, 4)
bgra8      uint8       4         (H, W, 4)
=========  ==========  ========  ===================================

Every problem raises a subclass of :class:`ImageCodecError` (itself a ``ValueError``) whose message says
what was wrong and how to fix it, so a node can count the drop by class name and keep running.

Example:
    >>> import numpy as np
    >>> fields = array_to_image(np.zeros((2, 3), np.uint8), "mono8")
    >>> image_to_array(fields.height, fields.width, fields.encoding, fields.is_bigendian,
    ...                fields.step, fields.data).shape
    (2, 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "ENCODINGS",
    "EncodingInfo",
    "ImageCodecError",
    "ImageFields",
    "ImageShapeError",
    "ImageSizeError",
    "ImageStepError",
    "UnsupportedEncodingError",
    "array_to_image",
    "encoding_info",
    "fields_to_array",
    "image_to_array",
    "to_rgb8",
]


class ImageCodecError(ValueError):
    """Base class of every image conversion error (a ``ValueError``)."""


class UnsupportedEncodingError(ImageCodecError):
    """The encoding string is not one this codec converts."""


class ImageStepError(ImageCodecError):
    """``step`` (bytes per row) is smaller than one row of pixels."""


class ImageSizeError(ImageCodecError):
    """``len(data)`` does not equal ``step * height``, or height/width are negative."""


class ImageShapeError(ImageCodecError):
    """A numpy array's shape or dtype does not fit the requested encoding."""


@dataclass(frozen=True)
class EncodingInfo:
    """How one encoding lays out a pixel."""

    dtype: np.dtype[Any]  # element type in native byte order
    channels: int  # elements per pixel

    @property
    def pixel_bytes(self) -> int:
        """Bytes per pixel."""
        return self.dtype.itemsize * self.channels


ENCODINGS: dict[str, EncodingInfo] = {
    "mono8": EncodingInfo(np.dtype(np.uint8), 1),
    "mono16": EncodingInfo(np.dtype(np.uint16), 1),
    "16UC1": EncodingInfo(np.dtype(np.uint16), 1),
    "32FC1": EncodingInfo(np.dtype(np.float32), 1),
    "rgb8": EncodingInfo(np.dtype(np.uint8), 3),
    "bgr8": EncodingInfo(np.dtype(np.uint8), 3),
    "rgba8": EncodingInfo(np.dtype(np.uint8), 4),
    "bgra8": EncodingInfo(np.dtype(np.uint8), 4),
}


@dataclass(frozen=True)
class ImageFields:
    """The fields of a ``sensor_msgs/Image`` other than the header."""

    height: int  # rows (pixels)
    width: int  # columns (pixels)
    encoding: str  # one of ENCODINGS
    is_bigendian: int  # 1 when multi-byte elements are big-endian, else 0
    step: int  # bytes per row, including any padding
    data: bytes  # step * height bytes


def encoding_info(encoding: str) -> EncodingInfo:
    """Return the layout of ``encoding``.

    Raises:
        UnsupportedEncodingError: for any encoding not in :data:`ENCODINGS`.
    """
    info = ENCODINGS.get(encoding)
    if info is None:
        hint = ""
        lowered = {name.lower(): name for name in ENCODINGS}
        if encoding.lower() in lowered:
            hint = f" (encodings are case-sensitive: did you mean {lowered[encoding.lower()]!r}?)"
        raise UnsupportedEncodingError(
            f"unsupported image encoding {encoding!r}{hint}; supported: {', '.join(ENCODINGS)}. "
            "Convert the image upstream (e.g. image_proc) or publish one of these encodings"
        )
    return info


def image_to_array(
    height: int,
    width: int,
    encoding: str,
    is_bigendian: int | bool,
    step: int,
    data: Any,
    copy: bool = False,
) -> np.ndarray:
    """Convert ``sensor_msgs/Image`` fields to a numpy array.

    Row padding (``step`` larger than ``width * bytes_per_pixel``) is removed; big-endian multi-byte data is
    converted to native byte order.

    Args:
        height: rows.
        width: columns.
        encoding: one of :data:`ENCODINGS`.
        is_bigendian: byte order of multi-byte elements (ignored for 8-bit encodings).
        step: bytes per row including padding.
        data: the pixel bytes (``bytes``, ``bytearray``, ``memoryview``, ``array.array('B')`` or a uint8
            numpy array), exactly ``step * height`` long.
        copy: return an array that owns its memory. When False the result may be a read-only view on
            ``data`` (no copy when rows are unpadded and the byte order is native).

    Returns:
        ``(H, W)`` for one-channel encodings, ``(H, W, C)`` otherwise, dtype from :data:`ENCODINGS`
        in native byte order.

    Raises:
        UnsupportedEncodingError: unknown encoding.
        ImageSizeError: negative height/width, or ``len(data) != step * height``.
        ImageStepError: ``step`` shorter than one row.
    """
    info = encoding_info(encoding)
    height, width, step = int(height), int(width), int(step)
    if height < 0 or width < 0:
        raise ImageSizeError(
            f"image size {width}x{height} is negative; fill height and width from the camera"
        )
    row_bytes = width * info.pixel_bytes
    if step < row_bytes:
        raise ImageStepError(
            f"{encoding} image {width}x{height}: step {step} is smaller than one row "
            f"({width} px x {info.pixel_bytes} B = {row_bytes} B); set step = width * {info.pixel_bytes} "
            "plus any row padding"
        )
    buffer = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8)
    buffer = buffer.reshape(-1)
    expected = step * height
    if buffer.size != expected:
        raise ImageSizeError(
            f"{encoding} image {width}x{height} with step {step} needs {expected} data bytes, got {buffer.size}; "
            "check that height, width, step and encoding describe the data (truncated or resized frame?)"
        )
    rows = buffer.reshape(height, step)[:, :row_bytes]
    fresh = False  # True once ``rows`` owns a copy of the data
    if step != row_bytes or rows.ctypes.data % info.dtype.itemsize != 0:
        rows = np.ascontiguousarray(rows) if step != row_bytes else rows.copy()
        fresh = True
    wire_dtype = info.dtype.newbyteorder(">" if is_bigendian else "<")
    shape = (height, width) if info.channels == 1 else (height, width, info.channels)
    pixels = rows.view(wire_dtype).reshape(shape)
    if not pixels.dtype.isnative:
        return pixels.astype(info.dtype)
    if copy and not fresh:
        return pixels.copy()
    return pixels


def fields_to_array(fields: ImageFields, copy: bool = False) -> np.ndarray:
    """:func:`image_to_array` for an :class:`ImageFields` (or any object with the same attributes)."""
    return image_to_array(
        fields.height, fields.width, fields.encoding, fields.is_bigendian, fields.step, fields.data, copy
    )


def array_to_image(array: np.ndarray, encoding: str, row_padding: int = 0) -> ImageFields:
    """Convert a numpy array to ``sensor_msgs/Image`` fields (little-endian, ``is_bigendian = 0``).

    Args:
        array: ``(H, W)`` or ``(H, W, 1)`` for one-channel encodings, ``(H, W, C)`` otherwise; its dtype
            must be the encoding's (no silent casts: a float depth map is not mono16).
        encoding: one of :data:`ENCODINGS`.
        row_padding: extra zero bytes appended to every row (some drivers align rows); 0 for none.

    Returns:
        The fields, with ``step = W * bytes_per_pixel + row_padding``.

    Raises:
        UnsupportedEncodingError: unknown encoding.
        ImageShapeError: wrong number of dimensions or channels, or wrong dtype.
    """
    info = encoding_info(encoding)
    if row_padding < 0:
        raise ImageShapeError(f"row_padding must be >= 0 bytes, got {row_padding}")
    arr = np.asarray(array)
    if info.channels == 1 and arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    expected_ndim = 2 if info.channels == 1 else 3
    if arr.ndim != expected_ndim or (info.channels > 1 and arr.shape[2] != info.channels):
        want = "(H, W)" if info.channels == 1 else f"(H, W, {info.channels})"
        raise ImageShapeError(f"{encoding} needs an array of shape {want}, got {arr.shape}")
    if arr.dtype.newbyteorder("=") != info.dtype.newbyteorder("="):
        raise ImageShapeError(
            f"{encoding} needs dtype {info.dtype}, got {arr.dtype}; convert explicitly "
            f"(e.g. array.astype(np.{info.dtype.name})) or choose the encoding that matches"
        )
    little = arr.astype(info.dtype.newbyteorder("<"), copy=False)
    height, width = int(little.shape[0]), int(little.shape[1])
    row_bytes = width * info.pixel_bytes
    if row_padding:
        padded = np.zeros((height, row_bytes + row_padding), dtype=np.uint8)
        padded[:, :row_bytes] = np.ascontiguousarray(little).view(np.uint8).reshape(height, row_bytes)
        data = padded.tobytes()
    else:
        data = np.ascontiguousarray(little).tobytes()
    return ImageFields(height, width, encoding, 0, row_bytes + row_padding, data)


def to_rgb8(array: np.ndarray, encoding: str) -> np.ndarray:
    """Convert a decoded 8-bit colour or mono image to ``(H, W, 3)`` uint8 RGB (alpha dropped).

    Raises:
        UnsupportedEncodingError: for 16-bit and float encodings, which have no defined colour mapping.
    """
    if encoding == "rgb8":
        return array
    if encoding == "bgr8":
        return array[:, :, ::-1]
    if encoding == "rgba8":
        return array[:, :, :3]
    if encoding == "bgra8":
        return array[:, :, 2::-1]
    if encoding == "mono8":
        return np.repeat(array[:, :, None], 3, axis=2)
    encoding_info(encoding)
    raise UnsupportedEncodingError(
        f"{encoding} has no colour meaning; scale it to mono8 yourself before converting to rgb8"
    )
