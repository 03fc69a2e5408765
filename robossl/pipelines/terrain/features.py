"""Terrain-interaction features: the spectrogram presets, vibration stacking and a hand-crafted baseline.

Two inputs share the front end of :mod:`robossl.transforms.stft`:

- **audio** (mono, e.g. 16 kHz): log-mel spectrogram ``(B, 1, n_mels, frames)`` as in Zurn et al. (T-RO 2021);
- **vibration** (IMU + wheel odometry windows, e.g. BorealTC at 100 Hz): per-channel log-magnitude STFT
  stacked as channels ``(B, C, n_fft // 2 + 1, frames)``.

Plus a hand-crafted baseline: per-channel log band energies, mean and standard deviation.
"""

from __future__ import annotations

import numpy as np
import torch

from robossl.transforms.stft import SpectrogramConfig, log_spectrogram

# BorealTC: 1 s windows at 100 Hz -> 17 bins x 10 frames per channel.
VIBRATION_SPECTROGRAM = SpectrogramConfig(sample_rate=100.0, n_fft=32, hop_length=8, n_mels=0)
# Interaction audio at 16 kHz: 64 mel bands, 10 ms hop.
AUDIO_SPECTROGRAM = SpectrogramConfig()


def vibration_spectrogram(
    imu: np.ndarray, pro: np.ndarray | None = None, config: SpectrogramConfig = VIBRATION_SPECTROGRAM
) -> torch.Tensor:
    """Per-channel log STFT of vibration windows.

    Args:
        imu: ``(B, T, 6)`` IMU windows (rad/s, m/s^2).
        pro: optional ``(B, T, P)`` wheel currents / speeds on the same clock (their DC bin carries the mean).
        config: STFT settings (``n_mels=0`` for linear bins).

    Returns:
        ``(B, 6 + P, F, frames)``.
    """
    x = imu if pro is None else np.concatenate([imu, pro], axis=-1)
    if x.ndim != 3:
        raise ValueError(f"vibration windows must be (batch, time, channels), got {x.shape}")
    return log_spectrogram(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 2, 1))), config)


def handcrafted_spectral_features(x: np.ndarray, bands: int = 8) -> np.ndarray:
    """Hand-crafted baseline: per channel mean, std and log energy in ``bands`` equal FFT bands.

    Args:
        x: ``(B, T, C)`` windows.
        bands: number of equal-width frequency bands.

    Returns:
        ``(B, C * (2 + bands))`` float32.
    """
    if x.ndim != 3:
        raise ValueError(f"windows must be (batch, time, channels), got {x.shape}")
    mean = x.mean(axis=1)
    std = x.std(axis=1)
    spectrum = np.abs(np.fft.rfft(x - mean[:, None, :], axis=1)) ** 2  # (B, F, C)
    edges = np.linspace(1, spectrum.shape[1], bands + 1).astype(int)
    energy = [spectrum[:, a : max(b, a + 1)].sum(axis=1) for a, b in zip(edges[:-1], edges[1:])]
    log_energy = np.log(np.stack(energy, axis=-1) + 1e-8)  # (B, C, bands)
    feats = np.concatenate([mean, std, log_energy.reshape(len(x), -1)], axis=1)
    return feats.astype(np.float32)
