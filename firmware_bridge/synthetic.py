"""Deterministic synthetic IMU and audio samples: the same formulas as the host firmware's HAL
(``firmware/host/hal_host.c``), so a test can check every received value exactly.

Sample n, channel c (c = 0..5: accel x, y, z, gyro x, y, z) in raw int16 counts is the low 16 bits of
``n * 97 * (2c + 3) + 4099 * c`` read as a signed integer. Audio sample n (mono int16 PCM) is the low
16 bits of ``n * 1103 + 12345``.
"""

from __future__ import annotations

import math

import numpy as np

IMU_CHANNELS = 6
ACCEL_SCALE = np.float32(9.80665 / 2048.0)  # m/s^2 per count (+-16 g on 16 bits)
GYRO_SCALE = np.float32(2000.0 / 32768.0 * math.pi / 180.0)  # rad/s per count (+-2000 deg/s on 16 bits)
DEFAULT_SCALE = np.array([ACCEL_SCALE] * 3 + [GYRO_SCALE] * 3, dtype=np.float32)


def synthetic_imu_raw(first: int, count: int) -> np.ndarray:
    """Raw synthetic samples ``first .. first + count - 1``.

    Args:
        first: index of the first sample (the firmware counts from 0 at boot).
        count: number of samples.

    Returns:
        (count, 6) int16 counts.
    """
    n = (np.arange(first, first + count, dtype=np.uint64) & np.uint64(0xFFFFFFFF))[:, None]
    c = np.arange(IMU_CHANNELS, dtype=np.uint64)[None, :]
    value = (n * (np.uint64(97) * (np.uint64(2) * c + np.uint64(3))) + np.uint64(4099) * c) & np.uint64(
        0xFFFF
    )
    return value.astype(np.uint16).view(np.int16)


def synthetic_audio(first: int, count: int) -> np.ndarray:
    """Synthetic microphone samples ``first .. first + count - 1``, (count,) int16 PCM."""
    n = np.arange(first, first + count, dtype=np.uint64) & np.uint64(0xFFFFFFFF)
    return ((n * np.uint64(1103) + np.uint64(12345)) & np.uint64(0xFFFF)).astype(np.uint16).view(np.int16)
