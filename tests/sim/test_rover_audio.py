"""Interaction audio: terrain-dependent spectra, speed-dependent loudness, silence when standing still."""

from __future__ import annotations

import numpy as np
import pytest

from robossl_sim.audio_synth import InteractionAudioSynth


def _centroid(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return float((spectrum * freqs).sum() / spectrum.sum())


def _band_profile(x: np.ndarray, bands: int = 16) -> np.ndarray:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    return np.log(np.array([b.sum() for b in np.array_split(spectrum, bands)]) + 1e-9)


def _clip(terrain: int, speed: float, seed: int = 0) -> np.ndarray:
    synth = InteractionAudioSynth(16000, seed=seed)
    return np.concatenate([synth.chunk(0.05, [terrain] * 4, [speed] * 4) for _ in range(20)])


def test_terrains_have_distinct_spectra() -> None:
    centroids = [_centroid(_clip(t, 0.6), 16000) for t in range(5)]
    # grass (rustle) is low, gravel and sand (hiss) are high.
    assert centroids[0] < 1200 < centroids[1] and centroids[3] > 3000
    # Each terrain's band profile is closer to itself (another noise seed) than to any other terrain.
    profiles = {(t, seed): _band_profile(_clip(t, 0.6, seed)) for t in range(5) for seed in (0, 1)}
    for t in range(5):
        same = np.linalg.norm(profiles[t, 0] - profiles[t, 1])
        other = min(np.linalg.norm(profiles[t, 0] - profiles[u, 1]) for u in range(5) if u != t)
        assert same < 0.5 * other


def test_louder_when_faster_and_quiet_when_still() -> None:
    slow, fast = _clip(1, 0.2), _clip(1, 1.0)
    assert np.sqrt(np.mean(fast**2)) > 1.5 * np.sqrt(np.mean(slow**2))
    still = _clip(1, 0.0)
    assert np.sqrt(np.mean(still**2)) < 0.01  # only microphone self-noise


def test_off_map_wheels_are_silent_and_bad_input_rejected() -> None:
    synth = InteractionAudioSynth(16000, seed=0)
    assert np.sqrt(np.mean(synth.chunk(0.1, [-1] * 4, [0.5] * 4) ** 2)) < 0.06  # hum + self-noise only
    with pytest.raises(ValueError, match="one terrain and one speed"):
        synth.chunk(0.1, [0, 1], [0.5])
    with pytest.raises(ValueError, match="sample_rate"):
        InteractionAudioSynth(1000)
