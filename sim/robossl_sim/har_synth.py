"""Synthetic multi-device body-worn IMU streams with activity labels (for the demo without real data).

Four devices (hip, lower arm, ankle, upper leg) see one simulated person who switches between sitting,
standing, level walking, walking down and walking up stairs. Gravity direction per device depends on the
posture; gait activities add a periodic signal at the step frequency whose amplitude and phase differ per
body position and activity (ankle strongest, arm swing in antiphase, stairs with more vertical
acceleration), plus sensor noise and slow per-device drift. Every device sees the same instants, so the
streams are naturally time-synchronised views of one activity, which is what ColloSSL exploits.

Channels per device: accelerometer x, y, z [m/s^2] then gyroscope x, y, z [rad/s].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEVICES = ("right_hip", "right_lower_arm", "right_ankle", "upper_right_leg")
CLASSES = ("null", "sitting", "standing", "walk_horizontal", "walk_down", "walk_up")
GRAVITY = 9.81

# Gravity direction (unit vector in the sensor frame) per device for upright and seated postures.
_UPRIGHT = np.array([[0.0, 0.0, 1.0], [0.2, 0.0, 0.98], [0.0, 0.1, 0.99], [0.0, 0.0, 1.0]])
_SEATED = np.array([[0.3, 0.0, 0.95], [0.7, 0.0, 0.7], [0.1, 0.2, 0.97], [0.95, 0.0, 0.3]])
# Gait amplitude per device (acceleration m/s^2, rotation rad/s) and phase (radians).
_GAIT_ACC = np.array([1.5, 2.5, 6.0, 3.0])
_GAIT_GYRO = np.array([0.4, 1.2, 3.0, 1.5])
_GAIT_PHASE = np.array([0.0, np.pi, 0.3, 0.15])
# Per activity: (step frequency Hz, amplitude factor, vertical share of the gait acceleration).
_GAIT = {"walk_horizontal": (1.8, 1.0, 0.3), "walk_down": (2.0, 1.3, 0.6), "walk_up": (1.5, 1.2, 0.8)}


@dataclass
class SyntheticHar:
    """A generated recording: per-device ``(N, 6)`` float32 streams and ``(N,)`` labels at ``rate_hz``."""

    streams: dict[str, np.ndarray]
    labels: np.ndarray
    rate_hz: float
    class_names: tuple[str, ...] = CLASSES


def synthetic_har(
    duration_s: float, rate_hz: float = 32.0, seed: int = 0, segment_s: tuple[float, float] = (4.0, 9.0)
) -> SyntheticHar:
    """Generate ``duration_s`` seconds of activity segments (each ``segment_s`` long, random order).

    Raises:
        ValueError: for a non-positive duration or rate.
    """
    if duration_s <= 0 or rate_hz <= 0:
        raise ValueError(f"duration_s and rate_hz must be > 0, got {duration_s}, {rate_hz}")
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * rate_hz))
    labels = np.empty(n, dtype=np.int64)
    i, previous = 0, -1
    while i < n:
        choices = [c for c in range(1, len(CLASSES)) if c != previous]
        label = int(rng.choice(choices))
        length = int(rng.uniform(*segment_s) * rate_hz)
        labels[i : i + length] = label
        i += length
        previous = label
    streams = {}
    freq = np.array([_GAIT.get(CLASSES[c], (0.0, 0.0, 0.0))[0] for c in labels])
    step_phase = 2 * np.pi * np.cumsum(freq * (1 + 0.05 * rng.standard_normal(n))) / rate_hz
    amplitude = np.array([_GAIT.get(CLASSES[c], (0.0, 0.0, 0.0))[1] for c in labels])
    vertical = np.array([_GAIT.get(CLASSES[c], (0.0, 0.0, 0.0))[2] for c in labels])
    seated = labels == CLASSES.index("sitting")
    for d, name in enumerate(DEVICES):
        gravity = np.where(seated[:, None], _SEATED[d], _UPRIGHT[d])
        gravity = gravity / np.linalg.norm(gravity, axis=1, keepdims=True) * GRAVITY
        phase = step_phase + _GAIT_PHASE[d]
        gait = amplitude * _GAIT_ACC[d]
        acc = gravity.copy()
        acc[:, 0] += gait * (1 - vertical) * np.sin(phase)
        acc[:, 2] += gait * vertical * np.sin(2 * phase)
        acc[:, 1] += 0.3 * gait * np.sin(phase + 0.5)
        gyro = np.zeros((n, 3))
        gyro[:, 1] = amplitude * _GAIT_GYRO[d] * np.cos(phase)
        gyro[:, 2] = 0.3 * amplitude * _GAIT_GYRO[d] * np.sin(phase)
        drift = np.cumsum(rng.normal(0, 0.002, size=(n, 6)), axis=0)
        noise = rng.normal(0, 1, size=(n, 6)) * np.array([0.15, 0.15, 0.15, 0.03, 0.03, 0.03])
        streams[name] = (np.concatenate([acc, gyro], axis=1) + drift + noise).astype(np.float32)
    return SyntheticHar(streams=streams, labels=labels, rate_hz=rate_hz)
