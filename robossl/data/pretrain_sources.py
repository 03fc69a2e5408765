"""Pretraining data: an ``.npz`` of windows, a dataset folder, or one topic of a bag -> :class:`WindowSet`.

- ``.npz``: array ``windows`` ``(N, *sample_shape)`` (required), optional ``labels`` ``(N,)`` and
  ``groups`` ``(N,)`` (subject / run ids for held-out splits). The modality follows from the sample rank
  (1 -> features, 2 -> imu ``(T, C)``, 3 -> image ``(C, H, W)``) unless given.
- dataset folder: ActRecTut (``subject*_<task>/data.mat``; all IMUs side by side) or BorealTC
  (``<CLASS>/imu_XX.csv``), windowed with labels and subject / run groups.
- bag (ROS 1 ``.bag``, rosbag2 folder, ``.mcap`` / ``.db3``) with a topic: ``sensor_msgs/Imu`` ->
  sliding windows of (gyro xyz, acc xyz); ``sensor_msgs/Image`` -> RGB frames resized to a square.

Windows are standardised per channel with statistics that the checkpoint keeps (:class:`Standardizer`).
A source that cannot be used (missing, unreadable, fewer than 2 samples, NaN / inf samples, a recording
shorter than one window) raises :class:`robossl.errors.DataSourceError` (or ``DataSourceNotFoundError``)
naming the file, topic or array and saying what to do.
"""

from __future__ import annotations

import functools
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robossl.data.input_spec import InputSpec
from robossl.errors import DataSourceError, DataSourceNotFoundError

MIN_SAMPLES = 2  # contrastive batches and held-out splits need at least two samples


@dataclass
class WindowSet:
    """Samples ready for pretraining and probing.

    Attributes:
        windows: ``(N, *spec.shape)`` float32.
        spec: modality and sample shape.
        labels: ``(N,)`` int64 class ids, or None when the source has none.
        groups: ``(N,)`` int64 subject / run ids for held-out splits, or None.
        class_names: names of the label ids.
        group_names: names of the group ids.
    """

    windows: np.ndarray
    spec: InputSpec
    labels: np.ndarray | None = None
    groups: np.ndarray | None = None
    class_names: tuple[str, ...] = ()
    group_names: tuple[str, ...] = ()

    def subset(self, index: np.ndarray) -> WindowSet:
        return WindowSet(
            self.windows[index],
            self.spec,
            None if self.labels is None else self.labels[index],
            None if self.groups is None else self.groups[index],
            self.class_names,
            self.group_names,
        )


@dataclass
class Standardizer:
    """Per-channel ``(x - mean) / std``; channel axis: last for imu/spectrogram/features, 0 for images."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, windows: np.ndarray, spec: InputSpec) -> Standardizer:
        if spec.modality == "image":
            return cls(np.zeros(1, np.float32), np.ones(1, np.float32))  # images stay in [0, 1]
        flat = windows.reshape(-1, windows.shape[-1])
        return cls(flat.mean(0).astype(np.float32), np.maximum(flat.std(0), 1e-6).astype(np.float32))

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        return ((windows - self.mean) / self.std).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> Standardizer:
        return cls(np.asarray(data["mean"], np.float32), np.asarray(data["std"], np.float32))


def sliding_windows(signal: np.ndarray, length: int, hop: int) -> np.ndarray:
    """``(N, C)`` -> ``(W, length, C)`` windows starting every ``hop`` samples."""
    if length < 1 or hop < 1:
        raise ValueError(f"window length and hop must be >= 1 samples, got {length}, {hop}")
    if signal.shape[0] < length:
        raise ValueError(f"signal of {signal.shape[0]} samples is shorter than one window ({length})")
    starts = np.arange(0, signal.shape[0] - length + 1, hop)
    return signal[starts[:, None] + np.arange(length)[None, :]]


def _infer_modality(path: Path, windows: np.ndarray) -> str:
    modality = {1: "features", 2: "imu", 3: "image"}.get(windows.ndim - 1)
    if modality is None:
        raise DataSourceError(
            f"{path}: cannot infer a modality for samples of shape {windows.shape[1:]}; pass --modality "
            "(image (C, H, W), imu (T, C), spectrogram (T, F) or features (F,))"
        )
    return modality


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``windows``, ``labels``, ``groups`` of an ``.npz``; unreadable files raise DataSourceError."""
    how = "write one with numpy.savez(path, windows=..., labels=..., groups=...)"
    try:
        with np.load(path, allow_pickle=False) as data:
            if "windows" not in data:
                raise DataSourceError(
                    f"{path} has arrays {sorted(data.files)}; it needs 'windows' (N, ...) float ({how})"
                )
            windows = np.asarray(data["windows"], dtype=np.float32)
            labels = np.asarray(data["labels"], dtype=np.int64) if "labels" in data else None
            groups = np.asarray(data["groups"], dtype=np.int64) if "groups" in data else None
    except DataSourceError:
        raise
    # np.load raises each of these for truncated, non-zip, pickled or non-numeric content.
    except (OSError, EOFError, ValueError, TypeError, zipfile.BadZipFile) as exc:
        raise DataSourceError(f"{path} is not a readable .npz of numbers ({exc}); {how}") from exc
    return windows, labels, groups


def load_npz(path: Path, modality: str | None = None) -> WindowSet:
    windows, labels, groups = _read_npz(path)
    if windows.ndim < 2:
        raise DataSourceError(
            f"{path}: 'windows' is {windows.shape}; it must be (N, ...) with one sample per row"
        )
    for name, array in (("labels", labels), ("groups", groups)):
        if array is not None and array.shape != (windows.shape[0],):
            raise DataSourceError(f"{path}: '{name}' must be ({windows.shape[0]},), got {array.shape}")
    try:
        spec = InputSpec(modality or _infer_modality(path, windows), tuple(windows.shape[1:]))
    except DataSourceError:
        raise
    except ValueError as exc:  # InputSpec: this --modality does not fit the sample shape
        raise DataSourceError(
            f"{path}: samples of shape {windows.shape[1:]} do not fit --modality {modality} ({exc}); "
            "pass the modality the samples have, or leave --modality out"
        ) from exc
    return WindowSet(windows, spec, labels, groups)


# Channel names of the 6-channel IMU windows of a bag topic and of BorealTC (wx..wz, ax..az).
GYRO_ACCEL_NAMES = ("gyro_x", "gyro_y", "gyro_z", "acc_x", "acc_y", "acc_z")


def acc_triplets(channel_names: tuple[str, ...], num_devices: int) -> tuple[tuple[int, int, int], ...]:
    """Accelerometer xyz channel triplets, found by name, of ``num_devices`` devices side by side."""
    from robossl.data.recording import ACCELEROMETER_CHANNELS, channel_indices

    acc = channel_indices(channel_names, ACCELEROMETER_CHANNELS, "each IMU device")
    width = len(channel_names)
    return tuple(tuple(d * width + i for i in acc) for d in range(num_devices))  # type: ignore[misc]


def load_actrectut_windows(
    root: Path | None, task: str = "gesture", length: int = 32, hop: int = 16
) -> WindowSet:
    """ActRecTut: every IMU side by side ``(T, devices x 5)``; label at the window centre; group = subject."""
    from robossl.data.datasets.actrectut import ACTRECTUT_SUBJECTS, load_actrectut

    parts, labels, groups = [], [], []
    class_names: tuple[str, ...] = ()
    devices = 0
    for index, subject in enumerate(ACTRECTUT_SUBJECTS):
        recording = load_actrectut(subject, task, root)
        signal = np.concatenate([recording.devices[d] for d in recording.device_names], axis=1)
        if signal.shape[0] < length:
            raise DataSourceError(
                f"ActRecTut subject{subject}_{task} holds {signal.shape[0]} samples, fewer than one window "
                f"of {length}; the file is truncated: download it again"
            )
        windows = sliding_windows(signal, length, hop)
        centre = np.arange(0, signal.shape[0] - length + 1, hop) + length // 2
        parts.append(windows)
        labels.append(recording.labels[centre])
        groups.append(np.full(len(windows), index, dtype=np.int64))
        class_names, devices = recording.class_names, len(recording.device_names)
        names = recording.channel_names[recording.device_names[0]]
    windows = np.concatenate(parts).astype(np.float32)
    spec = InputSpec("imu", tuple(windows.shape[1:]), acc_triplets(names, devices), devices, names)
    return WindowSet(
        windows,
        spec,
        np.concatenate(labels),
        np.concatenate(groups),
        tuple(class_names),
        tuple(f"subject{s}" for s in ACTRECTUT_SUBJECTS),
    )


def load_borealtc_windows(
    root: Path | None, window_s: float = 1.0, hop_s: float = 0.5, classes: Sequence[str] | None = None
) -> WindowSet:
    """BorealTC IMU windows ``(100, 6)`` (wx, wy, wz, ax, ay, az); group = run.

    ``classes``: class folders to read (``None``: every folder with IMU runs).
    """
    from robossl.data.datasets.borealtc import WindowConfig, load_borealtc, make_windows

    vib = make_windows(load_borealtc(root, classes), WindowConfig(window_s=window_s, hop_s=hop_s))
    spec = InputSpec("imu", tuple(vib.imu.shape[1:]), ((0, 1, 2), (3, 4, 5)), 1, GYRO_ACCEL_NAMES)
    return WindowSet(
        vib.imu.astype(np.float32), spec, vib.labels, vib.run_ids, vib.class_names, vib.run_names
    )


def _is_bag(path: Path) -> bool:
    return path.suffix in (".bag", ".mcap", ".db3") or (path.is_dir() and (path / "metadata.yaml").is_file())


def load_bag_topic(
    path: Path, topic: str, length: int = 64, hop: int = 32, image_size: int = 64
) -> WindowSet:
    """Windows of an Imu topic or frames of an Image topic of a bag (uses :mod:`robossl.data.bags`)."""
    from robossl.data.bags import BagError

    try:
        return _read_bag_topic(path, topic, length, hop, image_size)
    except BagError as exc:  # unreadable or damaged bag: the message names the file and the problem
        raise DataSourceError(
            f"{exc}; check the bag with `robossl replay --info` or record it again"
        ) from exc


def _read_bag_topic(path: Path, topic: str, length: int, hop: int, image_size: int) -> WindowSet:
    from robossl.data.bags import BagReader

    with BagReader(path) as bag:
        topics = bag.topics
        if topic not in topics:
            raise DataSourceError(
                f"topic {topic!r} is not in {path}; choose one of its topics with --topic: {sorted(topics)}"
            )
        msgtype = topics[topic].msgtype
        if msgtype == "sensor_msgs/msg/Imu":
            rows = [
                (
                    m.msg.angular_velocity.x,
                    m.msg.angular_velocity.y,
                    m.msg.angular_velocity.z,
                    m.msg.linear_acceleration.x,
                    m.msg.linear_acceleration.y,
                    m.msg.linear_acceleration.z,
                )
                for m in bag.messages([topic])
            ]
            signal = np.asarray(rows, dtype=np.float32).reshape(-1, 6)
            finite = signal[np.isfinite(signal).all(axis=1)]
            if finite.shape[0] < length:
                raise DataSourceError(
                    f"topic {topic!r} in {path} has {finite.shape[0]} finite samples "
                    f"({signal.shape[0] - finite.shape[0]} dropped as NaN/inf), fewer than one window of "
                    f"{length}; record for longer or choose another Imu topic"
                )
            windows = sliding_windows(finite, length, hop)
            spec = InputSpec("imu", (length, 6), ((0, 1, 2), (3, 4, 5)), 1, GYRO_ACCEL_NAMES)
            return WindowSet(windows.astype(np.float32), spec)
        if msgtype == "sensor_msgs/msg/Image":
            import cv2

            from robossl.data.bags.image_codec import image_to_array, to_rgb8

            frames = []
            for m in bag.messages([topic]):
                msg = m.msg
                array = image_to_array(
                    msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step, msg.data
                )
                rgb = cv2.resize(
                    to_rgb8(array, msg.encoding), (image_size, image_size), interpolation=cv2.INTER_AREA
                )
                frames.append(rgb.transpose(2, 0, 1).astype(np.float32) / 255.0)
            if len(frames) < MIN_SAMPLES:
                raise DataSourceError(
                    f"topic {topic!r} in {path} has {len(frames)} image(s); pretraining and probing need at "
                    f"least {MIN_SAMPLES}: record for longer or choose another Image topic"
                )
            return WindowSet(np.stack(frames), InputSpec("image", (3, image_size, image_size)))
    raise DataSourceError(
        f"topic {topic!r} in {path} has type {msgtype}; pretraining reads sensor_msgs/msg/Imu or Image "
        f"topics: choose one with --topic (topics: {sorted(topics)})"
    )


_KINDS = (
    "an .npz of windows, a bag with --topic, an ActRecTut folder (subject*_<task>/data.mat) or a BorealTC "
    "folder (<CLASS>/imu_XX.csv)"
)


def load_source(
    source: str | Path,
    topic: str | None = None,
    task: str = "gesture",
    modality: str | None = None,
    classes: Sequence[str] | None = None,
    columns: str | None = None,
) -> WindowSet:
    """Dispatch on the kind of ``source`` (see the module docstring); ``classes``: BorealTC class folders;
    ``columns``: a CSV / Parquet IMU table's columns for t,ax,ay,az,gx,gy,gz (:mod:`robossl.data.imu_table`).

    Raises:
        DataSourceNotFoundError: ``source`` (or a file a dataset folder needs) does not exist.
        DataSourceError: the source cannot be read or holds unusable samples; the message says which.
    """
    path = Path(source)
    if not path.exists():
        raise DataSourceNotFoundError(f"data source {path} does not exist; check the --data path ({_KINDS})")
    data = _load_table(path, columns) if columns or is_table(path) else None
    data = data or _load(path, topic, task, modality, classes)
    count = data.windows.shape[0]
    if count < MIN_SAMPLES:
        raise DataSourceError(
            f"{path}: 'windows' holds {count} sample{'s' if count != 1 else ''}; pretraining and probing "
            f"need at least {MIN_SAMPLES}: use a longer recording or more windows"
        )
    finite = np.isfinite(data.windows.reshape(count, -1)).all(axis=1)
    if not finite.all():
        raise DataSourceError(
            f"{path}: 'windows' holds NaN or inf in {count - int(finite.sum())} of {count} samples (first at "
            f"index {int(np.argmin(finite))}); drop or impute those samples before pretraining or probing"
        )
    return data


def is_table(path: Path) -> bool:
    """A CSV / Parquet file, or a format refused with a named reason (spreadsheet, JSON, HDF5, ...)."""
    from robossl.data.imu_table import TABLE_SUFFIXES, unsupported_reason

    return path.is_file() and (path.suffix.lower() in TABLE_SUFFIXES or unsupported_reason(path) is not None)


def _load_table(path: Path, columns: str | None, length: int = 64, hop: int = 32) -> WindowSet:
    """Sliding windows (gyro xyz, accel xyz) of a CSV / Parquet IMU table, as for a bag's Imu topic."""
    from robossl.data.imu_table import ROLES, ImuColumns, read_imu_table, unsupported_reason

    reason = unsupported_reason(path)
    if not columns and reason is None:
        raise DataSourceError(f"{path} is an IMU table: name its columns with --columns {','.join(ROLES)}")
    table = read_imu_table(path, ImuColumns.parse(columns or ",".join(ROLES)))
    signal = np.concatenate([table.gyro, table.accel], axis=1)
    if signal.shape[0] < length:
        raise DataSourceError(
            f"{path} has {signal.shape[0]} finite IMU rows ({table.dropped} dropped as NaN/inf), fewer than "
            f"one window of {length}; use a longer log"
        )
    spec = InputSpec("imu", (length, 6), ((0, 1, 2), (3, 4, 5)), 1, GYRO_ACCEL_NAMES)
    return WindowSet(sliding_windows(signal, length, hop), spec)


def _load(
    path: Path, topic: str | None, task: str, modality: str | None, classes: Sequence[str] | None
) -> WindowSet:
    if path.suffix == ".npz":
        return load_npz(path, modality)
    if _is_bag(path):
        if not topic:
            raise DataSourceError(f"{path} is a bag: choose a topic with --topic (an Imu or Image topic)")
        return load_bag_topic(path, topic)
    if path.is_dir():
        if not any(path.iterdir()):
            raise DataSourceError(f"folder {path} is empty; --data takes {_KINDS}")
        if any(path.glob(f"subject*_{task}/data.mat")):
            return _dataset(load_actrectut_windows, path, task)
        tasks = sorted({p.parent.name.partition("_")[2] for p in path.glob("subject*_*/data.mat")})
        if tasks:
            raise DataSourceError(
                f"ActRecTut folder {path} has tasks {tasks}, not {task!r}; choose one with --task"
            )
        if any(path.glob("*/imu_*.csv")):
            return _dataset(functools.partial(load_borealtc_windows, classes=classes), path)
    raise DataSourceError(f"do not know how to read {path}: expected {_KINDS}")


def _dataset(loader: Callable[..., WindowSet], path: Path, *args: Any) -> WindowSet:
    """Run a dataset-folder loader; its documented data errors (which name the file) become DataSource*."""
    try:
        return loader(path, *args)
    except (DataSourceError, DataSourceNotFoundError):
        raise
    except FileNotFoundError as exc:
        raise DataSourceNotFoundError(f"{exc}; the dataset folder {path} is incomplete") from exc
    except ValueError as exc:
        raise DataSourceError(f"{exc} (reading dataset folder {path})") from exc
