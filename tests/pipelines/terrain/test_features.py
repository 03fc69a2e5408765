"""Terrain features: vibration spectrograms stacked per channel, and the hand-crafted baseline."""

from __future__ import annotations

import numpy as np
import torch

from robossl.pipelines.terrain.features import handcrafted_spectral_features, vibration_spectrogram


def test_vibration_spectrogram_stacks_channels() -> None:
    imu = np.random.default_rng(0).standard_normal((3, 100, 6)).astype(np.float32)
    pro = np.ones((3, 100, 4), np.float32)
    spec = vibration_spectrogram(imu, pro)
    assert spec.shape == (3, 10, 17, 1 + (100 - 32) // 8)
    # A constant channel has all its energy in the DC bin.
    assert torch.all(spec[:, 6:, 0] > spec[:, 6:, 5] + 10)


def test_handcrafted_features_see_frequency() -> None:
    t = np.arange(100) / 100.0
    slow = np.sin(2 * np.pi * 3 * t)[None, :, None]
    fast = np.sin(2 * np.pi * 40 * t)[None, :, None]
    f = handcrafted_spectral_features(np.concatenate([slow, fast]), bands=4)
    assert f.shape == (2, 2 + 4)
    assert f[0, 2] > f[0, 5] and f[1, 5] > f[1, 2]  # energy in the first vs last band
