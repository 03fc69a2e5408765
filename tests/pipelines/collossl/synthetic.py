"""Synthetic multi-device activity recordings for tests (real data is used where the test needs it).

Each activity is a sinusoid of its own frequency; every device sees the shared motion through its own gain
and noise, so device 1 (gain ~1) is close to device 0 (gain 1) and device 2 (gain 4) is far from both.
"""

from __future__ import annotations

import numpy as np

from robossl.data.recording import MultiDeviceRecording

DEVICE_GAINS = {"wrist": 1.0, "forearm": 1.1, "ankle": 4.0}
RATE_HZ = 32.0


def make_recording(
    subject: str, seconds: float = 60.0, seed: int = 0, num_classes: int = 3
) -> MultiDeviceRecording:
    """A recording of ``seconds`` with activity segments of 4 s cycling through ``num_classes`` classes."""
    rng = np.random.default_rng(seed)
    count = int(seconds * RATE_HZ)
    t = np.arange(count) / RATE_HZ
    labels = (np.arange(count) // int(4 * RATE_HZ)) % num_classes
    frequency = 0.5 + 1.5 * labels
    phase = np.cumsum(2 * np.pi * frequency / RATE_HZ)
    motion = np.stack([np.sin(phase), np.cos(phase), np.sin(2 * phase), 0.5 * np.sin(phase + 1)], axis=1)
    devices = {}
    for k, (name, gain) in enumerate(DEVICE_GAINS.items()):
        mixing = np.eye(4) + 0.1 * k * rng.normal(size=(4, 4))
        devices[name] = (gain * motion @ mixing + 0.05 * rng.normal(size=(count, 4))).astype(np.float32)
    return MultiDeviceRecording(
        name=f"synthetic/{subject}",
        subject=subject,
        devices=devices,
        labels=labels.astype(np.int64),
        sample_rate_hz=RATE_HZ,
        class_names=tuple(f"class{k}" for k in range(num_classes)),
        timestamps_s=t,
    )
