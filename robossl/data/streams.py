"""Sample streams from bags for offline (re)training: IMU arrays and windows, images, stereo pairs, audio.

All functions take a bag path (ROS 1 ``.bag``, rosbag2 folder, ``.mcap`` / ``.db3`` file), topic names, and
an optional time range in seconds from the bag's first message; damaged bags yield their readable part
(problems are logged). Messages that fail to decode (bad encoding, NaN IMU values) are dropped and counted
in the returned/attached ``dropped`` counters where the function says so.

Example::

    from robossl.data.streams import imu_windows, stereo_pairs
    for start_ns, window in imu_windows("flight.mcap_dir", "/imu0", window=200, hop=100):
        ...                                         # window: (200, 6) float32 gyro xyz, accel xyz
    for stamp_ns, left, right in stereo_pairs("flight", "/cam0/image_raw", "/cam1/image_raw"):
        ...
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robossl.data.bags import iter_messages
from robossl.data.messages import AudioChunk, decode_audio, decode_image, decode_imu

__all__ = ["ImuArrays", "audio_stream", "image_stream", "imu_arrays", "imu_windows", "stereo_pairs"]

PathLike = str | Path


@dataclass(frozen=True)
class ImuArrays:
    """All IMU samples of one topic."""

    stamps_ns: np.ndarray  # (N,) int64 header stamps, ns
    gyro: np.ndarray  # (N, 3) rad/s
    accel: np.ndarray  # (N, 3) m/s^2
    dropped: int  # messages dropped (non-finite values)

    def __len__(self) -> int:
        return int(self.stamps_ns.shape[0])


def imu_arrays(path: PathLike, topic: str, start: float | None = None, end: float | None = None) -> ImuArrays:
    """Read every ``sensor_msgs/Imu`` of ``topic`` into arrays (sorted by header stamp)."""
    stamps, rows, dropped = [], [], 0
    for m in iter_messages(path, [topic], start, end):
        try:
            sample = decode_imu(m.msg)
        except ValueError:
            dropped += 1
            continue
        stamps.append(sample.stamp_ns)
        rows.append(sample.gyro_accel)
    stamp_array = np.asarray(stamps, dtype=np.int64)
    values = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    order = np.argsort(stamp_array, kind="stable")
    return ImuArrays(stamp_array[order], values[order, :3], values[order, 3:], dropped)


def imu_windows(
    path: PathLike,
    topic: str,
    window: int,
    hop: int,
    start: float | None = None,
    end: float | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Sliding windows over one IMU topic.

    Args:
        window: samples per window (e.g. 200 = 1 s at 200 Hz).
        hop: samples between window starts.

    Yields:
        ``(stamp_ns of the first sample, (window, 6) float32)``: gyro x, y, z (rad/s), accel x, y, z (m/s^2).
    """
    if window < 1 or hop < 1:
        raise ValueError(f"window and hop must be >= 1 sample, got window={window}, hop={hop}")
    imu = imu_arrays(path, topic, start, end)
    values = np.concatenate([imu.gyro, imu.accel], axis=1).astype(np.float32)
    for first in range(0, len(imu) - window + 1, hop):
        yield int(imu.stamps_ns[first]), values[first : first + window]


def image_stream(
    path: PathLike, topic: str, start: float | None = None, end: float | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """``(header stamp ns, array)`` for each decodable ``sensor_msgs/Image`` of ``topic`` (others skipped)."""
    for m in iter_messages(path, [topic], start, end):
        try:
            yield decode_image(m.msg, copy=True)
        except ValueError:
            continue


def stereo_pairs(
    path: PathLike,
    left_topic: str,
    right_topic: str,
    start: float | None = None,
    end: float | None = None,
    max_pending: int = 32,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Left/right images with identical header stamps, in order (unmatched frames are skipped).

    Args:
        max_pending: frames kept per side while waiting for a partner (older ones are dropped).

    Yields:
        ``(stamp_ns, left, right)``.
    """
    pending: dict[str, dict[int, np.ndarray]] = {left_topic: {}, right_topic: {}}
    for m in iter_messages(path, [left_topic, right_topic], start, end):
        try:
            stamp, array = decode_image(m.msg, copy=True)
        except ValueError:
            continue
        other = right_topic if m.topic == left_topic else left_topic
        partner = pending[other].pop(stamp, None)
        if partner is None:
            mine = pending[m.topic]
            mine[stamp] = array
            while len(mine) > max_pending:
                mine.pop(min(mine))
            continue
        # drop the other side's frames older than this pair: their partners will not come any more
        for old in [s for s in pending[other] if s < stamp]:
            del pending[other][old]
        left, right = (array, partner) if m.topic == left_topic else (partner, array)
        yield stamp, left, right


def audio_stream(
    path: PathLike, topic: str, start: float | None = None, end: float | None = None
) -> Iterator[AudioChunk]:
    """robossl audio chunks (docs/logs.md) of ``topic``; malformed messages are skipped."""
    for m in iter_messages(path, [topic], start, end):
        try:
            yield decode_audio(m.msg)
        except ValueError:
            continue
