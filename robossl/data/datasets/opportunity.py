"""OPPORTUNITY Activity Recognition (Roggen et al., INSS 2010; Chavarriaga et al., PRL 2013), 30 Hz.

Download: https://archive.ics.uci.edu/dataset/226/opportunity+activity+recognition
(archive ``OpportunityUCIDataset.zip``; files ``OpportunityUCIDataset/dataset/S1-ADL1.dat`` ...
``S4-ADL5.dat`` and ``S1-Drill.dat`` ... ``S4-Drill.dat``; column meanings in ``column_names.txt``).

File format: whitespace-separated text, 250 columns per row: column 1 is time in milliseconds, columns
2-243 sensors, columns 244-250 labels (244 Locomotion, 245 HL_Activity, 246 LL_Left_Arm,
247 LL_Left_Arm_Object, 248 LL_Right_Arm, 249 LL_Right_Arm_Object, 250 ML_Both_Arms). Missing values are
``NaN``. The five body-worn Xsens IMUs ColloSSL uses are BACK (columns 38-50), RUA (51-63), RLA (64-76),
LUA (77-89) and LLA (90-102), each as accX/Y/Z (milli-g), gyroX/Y/Z, magneticX/Y/Z, quaternion 1-4.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from robossl.data.recording import MultiDeviceRecording
from robossl.data.sync import fill_short_gaps

OPPORTUNITY_URL = "https://archive.ics.uci.edu/dataset/226/opportunity+activity+recognition"
OPPORTUNITY_SAMPLE_RATE_HZ = 30.0
OPPORTUNITY_COLUMNS = 250
OPPORTUNITY_IMUS = ("back", "rua", "rla", "lua", "lla")
_IMU_FIRST_COLUMN = {"back": 38, "rua": 51, "rla": 64, "lua": 77, "lla": 90}  # 1-based, accX
_CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
_LABEL_COLUMN = {"locomotion": 244, "ml_both_arms": 250}  # 1-based
# label column -> (raw code -> class id, class names)
_LABEL_CODES = {
    "locomotion": ({0: 0, 1: 1, 2: 2, 4: 3, 5: 4}, ("null", "stand", "walk", "sit", "lie")),
    "ml_both_arms": (
        {
            0: 0,
            406516: 1,
            406517: 2,
            404516: 3,
            404517: 4,
            406520: 5,
            404520: 6,
            406505: 7,
            404505: 8,
            406519: 9,
            404519: 10,
            406511: 11,
            404511: 12,
            406508: 13,
            404508: 14,
            408512: 15,
            407521: 16,
            405506: 17,
        },
        (
            "null",
            "open_door_1",
            "open_door_2",
            "close_door_1",
            "close_door_2",
            "open_fridge",
            "close_fridge",
            "open_dishwasher",
            "close_dishwasher",
            "open_drawer_1",
            "close_drawer_1",
            "open_drawer_2",
            "close_drawer_2",
            "open_drawer_3",
            "close_drawer_3",
            "clean_table",
            "drink_from_cup",
            "toggle_switch",
        ),
    ),
}


def opportunity_class_names(label: str = "locomotion") -> tuple[str, ...]:
    """Class names of a label track (``"locomotion"`` or ``"ml_both_arms"``)."""
    if label not in _LABEL_CODES:
        raise ValueError(f"label must be one of {tuple(_LABEL_CODES)}, got {label!r}")
    return _LABEL_CODES[label][1]


def load_opportunity_file(
    path: str | os.PathLike[str],
    label: str = "locomotion",
    devices: tuple[str, ...] = OPPORTUNITY_IMUS,
    max_gap_s: float = 0.2,
) -> MultiDeviceRecording:
    """Load one ``S<k>-ADL<n>.dat`` / ``S<k>-Drill.dat`` file.

    Args:
        path: the ``.dat`` file.
        label: label track, ``"locomotion"`` (5 classes) or ``"ml_both_arms"`` (18 gestures).
        devices: IMUs to keep, from :data:`OPPORTUNITY_IMUS`.
        max_gap_s: longest NaN hole (seconds) that is interpolated; longer holes stay NaN.

    Returns:
        Recording with one ``(T, 6)`` array (acc x/y/z in milli-g, gyro x/y/z) per IMU, subject ``"S<k>"``.

    Raises:
        ValueError: wrong column count, unknown label codes, unknown devices or label track.
    """
    path = Path(path)
    codes, names = _LABEL_CODES[label] if label in _LABEL_CODES else (None, None)
    if codes is None or names is None:
        raise ValueError(f"label must be one of {tuple(_LABEL_CODES)}, got {label!r}")
    unknown = [d for d in devices if d not in _IMU_FIRST_COLUMN]
    if unknown or not devices:
        raise ValueError(f"unknown Opportunity IMUs {unknown}; choose from {OPPORTUNITY_IMUS}")
    if not path.is_file():
        raise FileNotFoundError(f"Opportunity file {path} not found (download from {OPPORTUNITY_URL})")
    table = np.loadtxt(path, dtype=np.float64, ndmin=2)
    if table.shape[1] != OPPORTUNITY_COLUMNS:
        raise ValueError(f"{path}: Opportunity rows have {OPPORTUNITY_COLUMNS} columns, got {table.shape[1]}")
    stamps_ms = table[:, 0]
    if len(stamps_ms) > 1 and not np.all(np.diff(stamps_ms) > 0):
        raise ValueError(f"{path}: time column (milliseconds) must be strictly increasing")
    raw = table[:, _LABEL_COLUMN[label] - 1].astype(np.int64)
    bad = sorted(set(raw.tolist()) - set(codes))
    if bad:
        raise ValueError(f"{path}: unknown {label} label codes {bad}")
    labels = np.array([codes[c] for c in raw], dtype=np.int64)
    max_gap = int(round(max_gap_s * OPPORTUNITY_SAMPLE_RATE_HZ))
    arrays = {
        d: fill_short_gaps(table[:, _IMU_FIRST_COLUMN[d] - 1 : _IMU_FIRST_COLUMN[d] + 5], max_gap)
        for d in devices
    }
    match = re.match(r"(S\d+)", path.stem)
    return MultiDeviceRecording(
        name=f"opportunity/{path.stem}",
        subject=match.group(1) if match else path.stem,
        devices=arrays,
        labels=labels,
        sample_rate_hz=OPPORTUNITY_SAMPLE_RATE_HZ,
        class_names=names,
        channel_names={d: _CHANNELS for d in devices},
        timestamps_s=(stamps_ms - stamps_ms[0]) / 1000.0 if len(stamps_ms) else stamps_ms,
    )


def load_opportunity(root: str | os.PathLike[str], label: str = "locomotion") -> list[MultiDeviceRecording]:
    """Every ``S*-ADL*.dat`` and ``S*-Drill.dat`` file under ``root`` (the ``dataset`` folder)."""
    files = sorted(Path(root).glob("S*-*.dat"))
    if not files:
        raise FileNotFoundError(f"no S*-ADL*.dat files under {root} (download from {OPPORTUNITY_URL})")
    return [load_opportunity_file(f, label) for f in files]
