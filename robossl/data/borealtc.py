"""Kept for the import path ``robossl.data.borealtc`` that older docs showed; the loader lives in
:mod:`robossl.data.datasets.borealtc`."""

from robossl.data.datasets.borealtc import (
    BOREALTC_CLASSES,
    BOREALTC_SUBPATH,
    IMU_CHANNELS,
    IMU_RATE_HZ,
    PRO_CHANNELS,
    BorealRun,
    VibrationWindows,
    WindowConfig,
    list_runs,
    load_borealtc,
    load_run,
    make_windows,
    split_by_run,
)

__all__ = [
    "BOREALTC_CLASSES",
    "BOREALTC_SUBPATH",
    "BorealRun",
    "IMU_CHANNELS",
    "IMU_RATE_HZ",
    "PRO_CHANNELS",
    "VibrationWindows",
    "WindowConfig",
    "list_runs",
    "load_borealtc",
    "load_run",
    "make_windows",
    "split_by_run",
]
