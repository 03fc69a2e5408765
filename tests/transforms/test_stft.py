"""Spectrogram front end: mel scale, filter bank, log-(mel) STFT."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robossl.transforms.stft import SpectrogramConfig, hz_to_mel, log_spectrogram, mel_filterbank, mel_to_hz


def test_mel_scale_round_trip_and_known_value() -> None:
    assert float(hz_to_mel(1000.0)) == pytest.approx(1000.0, abs=0.5)  # HTK: 1000 Hz ~ 1000 mel
    hz = np.array([0.0, 440.0, 7999.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz)), hz, rtol=1e-9, atol=1e-9)


def test_filterbank_triangles_peak_at_one_and_cover_band() -> None:
    bank = mel_filterbank(20, 512, 16000.0).numpy()
    assert bank.shape == (20, 257)
    assert np.all(bank >= 0) and bank.max() <= 1.0 + 1e-6
    assert np.all(bank.max(axis=1) > 0.5)  # every filter catches at least one FFT bin near its peak
    centres = bank.argmax(axis=1)
    assert np.all(np.diff(centres) >= 0)  # filters ordered by frequency


def test_pure_tone_lands_in_its_mel_band() -> None:
    config = SpectrogramConfig(sample_rate=16000.0, n_fft=512, hop_length=160, n_mels=40)
    t = torch.arange(8000) / 16000.0
    low, high = torch.sin(2 * np.pi * 300 * t), torch.sin(2 * np.pi * 4000 * t)
    spec = log_spectrogram(torch.stack([low, high]), config)
    assert spec.shape == (2, 1, 40, 1 + (8000 - 512) // 160)
    band = spec.mean(dim=-1)[:, 0].argmax(dim=-1)
    bank = mel_filterbank(40, 512, 16000.0).numpy()
    expected = [int(bank[:, round(f * 512 / 16000)].argmax()) for f in (300, 4000)]
    assert abs(int(band[0]) - expected[0]) <= 1 and abs(int(band[1]) - expected[1]) <= 1


def test_too_short_signal_is_rejected_with_fix() -> None:
    with pytest.raises(ValueError, match="n_fft"):
        log_spectrogram(torch.zeros(1, 100), SpectrogramConfig())
