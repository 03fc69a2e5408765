"""Spectrogram front end: signal -> log-(mel) magnitude STFT (torch only; torchaudio is not usable).

:func:`log_spectrogram` turns ``(B, N)`` or ``(B, C, N)`` samples into ``(B, C, F, frames)``: a log-mel
spectrogram for audio (Zurn et al., T-RO 2021) or, with ``n_mels=0``, per-channel log-magnitude STFT bins
(vibration). The terrain pipeline's presets and vibration stacking are in
:mod:`robossl.pipelines.terrain.features`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class SpectrogramConfig:
    """STFT (and optional mel) settings."""

    sample_rate: float = 16000.0  # Hz of the input signal
    n_fft: int = 512  # FFT length in samples
    hop_length: int = 160  # samples between frames
    n_mels: int = 64  # mel bands; 0 keeps the linear STFT bins
    f_min: float = 0.0  # lowest mel band edge in Hz
    f_max: float | None = None  # highest mel band edge in Hz (None: Nyquist)
    log_floor: float = 1e-6  # added before the log so silence stays finite

    def __post_init__(self) -> None:
        if self.n_fft < 4 or self.hop_length < 1 or self.sample_rate <= 0:
            raise ValueError(
                f"need n_fft >= 4, hop_length >= 1, sample_rate > 0; got {self.n_fft}, {self.hop_length}, "
                f"{self.sample_rate}"
            )
        if self.n_mels < 0:
            raise ValueError(f"n_mels must be >= 0 (0 = linear STFT bins), got {self.n_mels}")


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(
    n_mels: int, n_fft: int, sample_rate: float, f_min: float = 0.0, f_max: float | None = None
) -> torch.Tensor:
    """Triangular mel filters ``(n_mels, n_fft // 2 + 1)``, each peaking at 1 (HTK scale)."""
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= Nyquist ({sample_rate / 2} Hz), got {f_min}, {f_max}")
    bin_hz = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bin_hz[None, :] - lower) / np.maximum(centre - lower, 1e-9)
    falling = (upper - bin_hz[None, :]) / np.maximum(upper - centre, 1e-9)
    return torch.from_numpy(np.clip(np.minimum(rising, falling), 0.0, None)).float()


def log_spectrogram(signal: torch.Tensor, config: SpectrogramConfig) -> torch.Tensor:
    """Log-(mel) magnitude spectrogram.

    Args:
        signal: ``(B, N)`` or ``(B, C, N)`` samples.
        config: STFT / mel settings.

    Returns:
        ``(B, C, F, frames)`` with C = 1 for 2-D input and F = ``n_mels`` (or ``n_fft // 2 + 1``); natural log
        of the power.
    """
    if signal.ndim == 2:
        signal = signal.unsqueeze(1)
    if signal.ndim != 3:
        raise ValueError(
            f"signal must be (batch, samples) or (batch, channels, samples), got {tuple(signal.shape)}"
        )
    if signal.shape[-1] < config.n_fft:
        raise ValueError(
            f"signal has {signal.shape[-1]} samples, fewer than n_fft={config.n_fft}; use longer clips or a "
            "smaller n_fft"
        )
    batch, channels, length = signal.shape
    flat = signal.reshape(batch * channels, length).float()
    window = torch.hann_window(config.n_fft, device=flat.device)
    spec = torch.stft(flat, config.n_fft, config.hop_length, window=window, center=False, return_complex=True)
    power = spec.abs().pow(2)
    if config.n_mels:
        bank = mel_filterbank(config.n_mels, config.n_fft, config.sample_rate, config.f_min, config.f_max)
        power = torch.einsum("mf,bft->bmt", bank.to(power.device), power)
    out = torch.log(power + config.log_floor)
    return out.reshape(batch, channels, out.shape[-2], out.shape[-1])
