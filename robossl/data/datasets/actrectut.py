"""ActRecTut: the multi-IMU activity-recognition tutorial data of Bulling, Blanke and Schiele.

Source: A. Bulling, U. Blanke, B. Schiele, "A Tutorial on Human Activity Recognition Using Body-worn
Inertial Sensors", ACM Computing Surveys 46(3), 2014; data and MATLAB code at
https://github.com/andreas-bulling/ActRecTut (GPL-3.0). The project finds a copy at
``$ROBOSSL_DATA/har/actrectut`` (default ``../shared/data/har/actrectut``).

On-disk layout: ``subject{1,2}_{gesture,walk}/data.mat`` (MATLAB v5) with ``data`` (N, C) float64 and
``labels`` (N, 1) uint8, 32 Hz, one row per instant for all sensors.

- gesture: 3 IMUs (right hand, right lower arm, right upper arm) x 5 channels (acc x, y, z, gyro x, y);
  12 classes.
- walk: 4 IMUs (right hip, right lower arm, right ankle, upper right leg) x 6 raw channels (acc x, y, z and
  3 gyro-like channels); the authors use the first 5 of each IMU, which is the default here; 6 classes.

The files store labels 1-based with 1 = NULL; this loader returns them 0-based (0 = NULL) so that
``class_names[label]`` is the class.

Example::

    from robossl.data.datasets.actrectut import load_actrectut, load_actrectut_task
    rec = load_actrectut(subject=1, task="walk")
    rec.devices["right_ankle"].shape   # (31392, 5)
    recordings = load_actrectut_task("gesture")   # one per subject
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from robossl.data.locate import require_data
from robossl.data.recording import MultiDeviceRecording

ACTRECTUT_URL = "https://github.com/andreas-bulling/ActRecTut"
ACTRECTUT_SAMPLE_RATE_HZ = 32.0
ACTRECTUT_SUBJECTS = (1, 2)
ACTRECTUT_TASKS = ("gesture", "walk")

_DEVICES = {
    "gesture": ("right_hand", "right_lower_arm", "right_upper_arm"),
    "walk": ("right_hip", "right_lower_arm", "right_ankle", "upper_right_leg"),
}
_RAW_CHANNELS = {
    "gesture": ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y"),
    "walk": ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"),
}
_CLASSES = {
    "gesture": (
        "null",
        "open_window",
        "drink",
        "water_plant",
        "close_window",
        "cut",
        "chop",
        "stir",
        "book",
        "forehand",
        "backhand",
        "smash",
    ),
    "walk": ("null", "sitting", "standing", "walk_horizontal", "walk_down", "walk_up"),
}


def actrectut_devices(task: str) -> tuple[str, ...]:
    """Device (IMU) names of a task, in column order."""
    _check_task(task)
    return _DEVICES[task]


def actrectut_class_names(task: str) -> tuple[str, ...]:
    """Class names of a task; index = 0-based label."""
    _check_task(task)
    return _CLASSES[task]


def load_actrectut(
    subject: int,
    task: str,
    root: str | os.PathLike[str] | None = None,
    channels_per_imu: int | None = None,
) -> MultiDeviceRecording:
    """Load one ActRecTut recording as a :class:`MultiDeviceRecording`.

    Args:
        subject: 1 or 2.
        task: ``"gesture"`` or ``"walk"``.
        root: folder holding ``subject*_*/data.mat``; default ``require_data("har/actrectut")``.
        channels_per_imu: channels kept per IMU (the first ones). Default: 5 (all of gesture's, and the first
            5 of walk's 6, as the dataset authors do). Walk accepts 1-6, gesture 1-5.

    Returns:
        Recording named ``"actrectut/subject<k>_<task>"`` with one float32 ``(N, channels_per_imu)`` array per
        IMU, 0-based int64 labels ``(N,)`` (0 = NULL), subject ``"subject<k>"``, 32 Hz.

    Raises:
        ValueError: unknown task/subject, bad ``channels_per_imu``, or a file whose shape or labels do not
            match the ActRecTut layout.
        FileNotFoundError: the data folder or file is missing.
    """
    _check_task(task)
    if subject not in ACTRECTUT_SUBJECTS:
        raise ValueError(f"ActRecTut subject must be one of {ACTRECTUT_SUBJECTS}, got {subject!r}")
    raw_channels = _RAW_CHANNELS[task]
    keep = 5 if channels_per_imu is None else channels_per_imu
    if not 1 <= keep <= len(raw_channels):
        raise ValueError(
            f"channels_per_imu for {task} must be in 1..{len(raw_channels)}, got {channels_per_imu}"
        )
    folder = Path(root) if root is not None else require_data("har/actrectut")
    path = folder / f"subject{subject}_{task}" / "data.mat"
    if not path.is_file():
        raise FileNotFoundError(f"ActRecTut file {path} not found (download from {ACTRECTUT_URL})")
    data, labels = _read_mat(path)

    devices = _DEVICES[task]
    expected_columns = len(devices) * len(raw_channels)
    if data.ndim != 2 or data.shape[1] != expected_columns:
        raise ValueError(
            f"{path}: 'data' must be (N, {expected_columns}) for {task} "
            f"({len(devices)} IMUs x {len(raw_channels)} channels), got {data.shape}"
        )
    if labels.shape[0] != data.shape[0]:
        raise ValueError(f"{path}: 'labels' has {labels.shape[0]} rows but 'data' has {data.shape[0]}")
    labels0 = labels.astype(np.int64) - 1
    num_classes = len(_CLASSES[task])
    if labels0.size and (labels0.min() < 0 or labels0.max() >= num_classes):
        raise ValueError(
            f"{path}: labels must be 1..{num_classes} on disk (1 = NULL), got {labels.min()}..{labels.max()}"
        )
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{path}: 'data' contains NaN or inf; the ActRecTut files have none, re-download it")

    width = len(raw_channels)
    arrays = {
        device: np.ascontiguousarray(data[:, i * width : i * width + keep], dtype=np.float32)
        for i, device in enumerate(devices)
    }
    return MultiDeviceRecording(
        name=f"actrectut/subject{subject}_{task}",
        subject=f"subject{subject}",
        devices=arrays,
        labels=labels0,
        sample_rate_hz=ACTRECTUT_SAMPLE_RATE_HZ,
        class_names=_CLASSES[task],
        channel_names={device: raw_channels[:keep] for device in devices},
    )


def load_actrectut_task(
    task: str,
    root: str | os.PathLike[str] | None = None,
    channels_per_imu: int | None = None,
) -> list[MultiDeviceRecording]:
    """Load every subject's recording of ``task`` (one :class:`MultiDeviceRecording` per subject)."""
    return [load_actrectut(s, task, root, channels_per_imu) for s in ACTRECTUT_SUBJECTS]


def _check_task(task: str) -> None:
    if task not in ACTRECTUT_TASKS:
        raise ValueError(f"ActRecTut task must be one of {ACTRECTUT_TASKS}, got {task!r}")


def _read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    try:
        content = loadmat(path)
    except Exception as exc:  # scipy raises several types for corrupt files
        raise ValueError(f"{path} is not a readable MATLAB v5 file ({type(exc).__name__}: {exc})") from exc
    missing = [key for key in ("data", "labels") if key not in content]
    if missing:
        raise ValueError(f"{path} lacks variable(s) {missing}; expected 'data' (N, C) and 'labels' (N, 1)")
    data = np.asarray(content["data"], dtype=np.float64)
    labels = np.asarray(content["labels"]).reshape(-1)
    return data, labels
