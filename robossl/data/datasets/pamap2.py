"""PAMAP2 Physical Activity Monitoring (Reiss and Stricker, ISWC 2012): 3 IMUs (hand, chest, ankle), 100 Hz.

Download: https://archive.ics.uci.edu/dataset/231/pamap2+physical+activity+monitoring
(archive ``PAMAP2_Dataset.zip``; files ``PAMAP2_Dataset/Protocol/subject101.dat`` ... ``subject109.dat`` and
``PAMAP2_Dataset/Optional/subject1xx.dat``).

File format: whitespace-separated text, one row per 0.01 s, 54 columns: timestamp (s), activityID,
heart rate (bpm, mostly NaN), then 17 columns for each IMU in the order hand, chest, ankle: temperature (C),
3D acceleration +-16 g (m/s^2), 3D acceleration +-6 g, 3D gyroscope (rad/s), 3D magnetometer (uT),
4 orientation values (documented as invalid). Missing values (wireless packet loss) are ``NaN``.
Activity 0 marks transient periods between activities and becomes the NULL class here.

This loader keeps acc (+-16 g) and gyroscope per IMU (6 channels), bridges packet-loss holes of up to
``max_gap_s`` by linear interpolation and leaves longer holes as NaN (windowing drops those windows).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from robossl.data.recording import MultiDeviceRecording
from robossl.data.sync import fill_short_gaps

PAMAP2_URL = "https://archive.ics.uci.edu/dataset/231/pamap2+physical+activity+monitoring"
PAMAP2_SAMPLE_RATE_HZ = 100.0
PAMAP2_DEVICES = ("hand", "chest", "ankle")
PAMAP2_COLUMNS = 54
# activityID -> name; 0 (transient) is the NULL class
PAMAP2_ACTIVITIES = {
    0: "null",
    1: "lying",
    2: "sitting",
    3: "standing",
    4: "walking",
    5: "running",
    6: "cycling",
    7: "nordic_walking",
    9: "watching_tv",
    10: "computer_work",
    11: "car_driving",
    12: "ascending_stairs",
    13: "descending_stairs",
    16: "vacuum_cleaning",
    17: "ironing",
    18: "folding_laundry",
    19: "house_cleaning",
    20: "playing_soccer",
    24: "rope_jumping",
}
_IMU_OFFSET = {"hand": 3, "chest": 20, "ankle": 37}  # 0-based column of each IMU's temperature
_CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
_CHANNEL_OFFSETS = (1, 2, 3, 7, 8, 9)  # acc +-16 g and gyroscope, relative to the temperature column


def pamap2_class_names() -> tuple[str, ...]:
    """Class names in label order (label k = ``pamap2_class_names()[k]``)."""
    return tuple(PAMAP2_ACTIVITIES.values())


def load_pamap2_file(
    path: str | os.PathLike[str],
    subject: str | None = None,
    devices: tuple[str, ...] = PAMAP2_DEVICES,
    max_gap_s: float = 0.1,
) -> MultiDeviceRecording:
    """Load one ``subject1xx.dat`` file.

    Args:
        path: the ``.dat`` file.
        subject: subject id; default the file stem (``"subject101"``).
        devices: IMUs to keep, any of ``("hand", "chest", "ankle")``.
        max_gap_s: longest packet-loss hole (seconds) that is interpolated.

    Returns:
        Recording with one ``(T, 6)`` array per IMU (acc x/y/z in m/s^2, gyro x/y/z in rad/s), labels
        mapped to ``0..18`` in :data:`PAMAP2_ACTIVITIES` order, timestamps from the file.

    Raises:
        ValueError: wrong column count, unknown activity ids, unknown devices, unsorted timestamps.
    """
    path = Path(path)
    unknown = [d for d in devices if d not in _IMU_OFFSET]
    if unknown or not devices:
        raise ValueError(f"unknown PAMAP2 devices {unknown}; choose from {PAMAP2_DEVICES}")
    if not path.is_file():
        raise FileNotFoundError(f"PAMAP2 file {path} not found (download from {PAMAP2_URL})")
    table = np.loadtxt(path, dtype=np.float64, ndmin=2)
    if table.shape[1] != PAMAP2_COLUMNS:
        raise ValueError(f"{path}: PAMAP2 rows have {PAMAP2_COLUMNS} columns, got {table.shape[1]}")
    stamps = table[:, 0]
    if len(stamps) > 1 and not np.all(np.diff(stamps) > 0):
        raise ValueError(f"{path}: timestamps (column 1) must be strictly increasing")
    ids = table[:, 1].astype(np.int64)
    lookup = {activity: k for k, activity in enumerate(PAMAP2_ACTIVITIES)}
    bad = sorted(set(ids.tolist()) - set(lookup))
    if bad:
        raise ValueError(f"{path}: unknown activity ids {bad}; PAMAP2 uses {sorted(lookup)}")
    labels = np.array([lookup[i] for i in ids], dtype=np.int64)
    max_gap = int(round(max_gap_s * PAMAP2_SAMPLE_RATE_HZ))
    arrays = {
        device: fill_short_gaps(table[:, [_IMU_OFFSET[device] + o for o in _CHANNEL_OFFSETS]], max_gap)
        for device in devices
    }
    return MultiDeviceRecording(
        name=f"pamap2/{path.stem}",
        subject=subject or path.stem,
        devices=arrays,
        labels=labels,
        sample_rate_hz=PAMAP2_SAMPLE_RATE_HZ,
        class_names=pamap2_class_names(),
        channel_names={d: _CHANNELS for d in devices},
        timestamps_s=stamps - stamps[0] if len(stamps) else stamps,
    )


def load_pamap2(
    root: str | os.PathLike[str], include_optional: bool = False, max_gap_s: float = 0.1
) -> list[MultiDeviceRecording]:
    """All subjects under ``root`` (``Protocol/`` and, optionally, ``Optional/``), one recording per file."""
    root = Path(root)
    folders = ["Protocol"] + (["Optional"] if include_optional else [])
    files = [f for folder in folders for f in sorted((root / folder).glob("subject*.dat"))]
    if not files:
        raise FileNotFoundError(
            f"no PAMAP2 subject*.dat files under {root}/Protocol (download from {PAMAP2_URL})"
        )
    return [load_pamap2_file(f, max_gap_s=max_gap_s) for f in files]
