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
from robossl.data.bags.messages import AudioChunk, decode_audio, decode_image, decode_imu
from robossl.data.recording import ACCELEROMETER_CHANNELS, GYROSCOPE_CHANNELS, MultiDeviceRecording

__all__ = [
    "ImuArrays",
    "audio_stream",
    "image_stream",
    "imu_arrays",
    "imu_windows",
    "multi_device_recording",
    "stereo_pairs",
    "synchronized_imu",
]

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


def synchronized_imu(
    path: PathLike, topics: list[str], start: float | None = None, end: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """IMU samples of several devices at the stamps all of them share (exact header-stamp match).

    Returns:
        ``(stamps_ns (N,), values (N, D, 6) float32)`` with D = len(topics), channels gyro xyz, accel xyz.
    """
    arrays = [imu_arrays(path, topic, start, end) for topic in topics]
    common = arrays[0].stamps_ns
    for imu in arrays[1:]:
        common = np.intersect1d(common, imu.stamps_ns)
    values = np.empty((len(common), len(topics), 6), dtype=np.float32)
    for d, imu in enumerate(arrays):
        rows = np.searchsorted(imu.stamps_ns, common)
        values[:, d, :3] = imu.gyro[rows]
        values[:, d, 3:] = imu.accel[rows]
    return common, values


def multi_device_recording(
    path: PathLike,
    topics: list[str],
    label_topic: str | None = None,
    class_names: tuple[str, ...] = (),
    name: str = "",
    subject: str = "",
) -> MultiDeviceRecording:
    """A bag of several body-worn IMUs as a :class:`robossl.data.recording.MultiDeviceRecording`.

    Device names are the topics without the trailing ``/imu`` and leading ``/`` (``/right_hand/imu`` ->
    ``right_hand``). Labels come from ``label_topic`` (a ``std_msgs`` integer message per instant, e.g.
    ``/activity`` from the ActRecTut converter) matched on log time; without it every label is 0.

    Each device's columns are ``acc_x, acc_y, acc_z, gyro_x, gyro_y, gyro_z`` (m/s^2, rad/s), the layout of
    the other HAR loaders and of the live ``har_node`` (unlike :func:`synchronized_imu`, which keeps the
    message's gyroscope-first order); ``channel_names`` says so, and consumers look channels up by name.
    """
    stamps, values = synchronized_imu(path, topics)
    if len(stamps) < 2:
        raise ValueError(f"{path}: topics {topics} share fewer than 2 stamps; they are not synchronised")
    labels = np.zeros(len(stamps), dtype=np.int64)
    if label_topic is not None:
        by_time = {m.log_time_ns: int(m.msg.data) for m in iter_messages(path, [label_topic])}
        labels = np.array([by_time.get(int(t), 0) for t in stamps], dtype=np.int64)
    accel_then_gyro = [3, 4, 5, 0, 1, 2]  # synchronized_imu gives gyro xyz, accel xyz
    devices = {
        t.strip("/").removesuffix("/imu").replace("/", "_"): np.ascontiguousarray(
            values[:, d, accel_then_gyro]
        )
        for d, t in enumerate(topics)
    }
    rate = 1e9 / float(np.median(np.diff(stamps)))
    names = class_names or tuple(str(k) for k in range(int(labels.max()) + 1))
    channel_names = ACCELEROMETER_CHANNELS + GYROSCOPE_CHANNELS
    return MultiDeviceRecording(
        name=name or str(path),
        subject=subject,
        devices=devices,
        labels=labels,
        sample_rate_hz=rate,
        class_names=names,
        channel_names={device: channel_names for device in devices},
        timestamps_s=(stamps - stamps[0]) / 1e9,
    )
