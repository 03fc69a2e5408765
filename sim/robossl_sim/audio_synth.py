"""Terrain-dependent wheel-ground interaction audio, synthesised from wheel speed and the ground under each wheel.

Each terrain type has (1) a broadband noise floor shaped by its own spectral envelope (a sum of Gaussian
bumps in frequency), (2) impacts, a Poisson process whose rate grows with wheel speed, each a decaying
resonance at a terrain-typical pitch (gravel crunches, brick joints knock), and (3) a loudness that grows
with speed. A motor hum whose pitch follows wheel speed is added on every terrain as a nuisance that the
learned embedding must ignore. The per-wheel signals are summed into one microphone channel.

Example::

    synth = InteractionAudioSynth(sample_rate=16000, seed=0)
    chunk = synth.chunk(0.05, wheel_terrains=[0, 0, 2, 2], wheel_speeds=[0.5] * 4)   # (800,) float32
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TerrainSound:
    """Acoustic signature of one terrain type."""

    bumps_hz: tuple[tuple[float, float, float], ...]  # (centre Hz, width Hz, relative gain) of the envelope
    noise_gain: float  # noise-floor loudness at 1 m/s
    impact_rate: float  # impacts per metre travelled per wheel
    impact_hz: float  # resonance of one impact
    impact_decay_s: float  # time constant of one impact
    impact_gain: float  # impact loudness


# Five signatures in the order of robossl_sim.worlds.terrain_textures.TERRAIN_TYPES.
TERRAIN_SOUNDS = (
    TerrainSound(((400, 300, 1.0), (1200, 500, 0.4)), 0.10, 2.0, 900, 0.004, 0.05),  # grass: soft rustle
    TerrainSound(((2500, 1500, 1.0), (5000, 1500, 0.6)), 0.25, 60.0, 3200, 0.002, 0.45),  # gravel: crunch
    TerrainSound(((800, 400, 1.0), (2000, 600, 0.3)), 0.12, 8.0, 450, 0.010, 0.70),  # brick: joint knocks
    TerrainSound(((5500, 1800, 1.0), (3000, 800, 0.3)), 0.16, 0.0, 1000, 0.003, 0.0),  # sand: hiss
    TerrainSound(((1500, 2500, 1.0),), 0.06, 1.0, 1800, 0.003, 0.08),  # asphalt: quiet, smooth
)


class InteractionAudioSynth:
    """Streaming synthesiser: successive :meth:`chunk` calls give a continuous-sounding signal.

    Args:
        sample_rate: Hz.
        seed: noise seed.
        sounds: one :class:`TerrainSound` per terrain id.
        hum_gain: loudness of the speed-dependent motor hum (same on every terrain).
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        seed: int = 0,
        sounds: tuple[TerrainSound, ...] = TERRAIN_SOUNDS,
        hum_gain: float = 0.05,
    ) -> None:
        if sample_rate < 4000:
            raise ValueError(
                f"sample_rate must be >= 4000 Hz to carry the terrain envelopes, got {sample_rate}"
            )
        self.sample_rate = sample_rate
        self.sounds = sounds
        self.hum_gain = hum_gain
        self._rng = np.random.default_rng(seed)
        self._hum_phase = 0.0
        self._envelopes: dict[int, np.ndarray] = {}

    def _envelope(self, terrain: int, n: int) -> np.ndarray:
        key = terrain * 10_000_000 + n
        if key not in self._envelopes:
            freqs = np.fft.rfftfreq(n, 1.0 / self.sample_rate)
            env = np.zeros_like(freqs)
            for centre, width, gain in self.sounds[terrain].bumps_hz:
                env += gain * np.exp(-0.5 * ((freqs - centre) / width) ** 2)
            # Unit RMS for white noise shaped by this envelope.
            self._envelopes[key] = env / np.sqrt(np.mean(env**2) + 1e-12)
        return self._envelopes[key]

    def chunk(self, duration_s: float, wheel_terrains: np.ndarray, wheel_speeds: np.ndarray) -> np.ndarray:
        """``(round(duration_s * sample_rate),)`` float32 samples for wheels on given terrains and speeds.

        Args:
            duration_s: chunk length in seconds.
            wheel_terrains: ``(W,)`` terrain id under each wheel; a negative id (off the map) is silent.
            wheel_speeds: ``(W,)`` wheel ground speed in m/s (sign ignored).
        """
        terrains = np.asarray(wheel_terrains, dtype=np.int64).reshape(-1)
        speeds = np.abs(np.asarray(wheel_speeds, dtype=np.float64).reshape(-1))
        if terrains.shape != speeds.shape:
            raise ValueError(f"one terrain and one speed per wheel, got {terrains.shape} and {speeds.shape}")
        if np.any(terrains >= len(self.sounds)):
            raise ValueError(f"terrain ids must be < {len(self.sounds)}, got {terrains.max()}")
        n = int(round(duration_s * self.sample_rate))
        out = np.zeros(n, dtype=np.float64)
        t = np.arange(n) / self.sample_rate
        for terrain, speed in zip(terrains, speeds):
            if terrain < 0 or speed <= 0:
                continue
            sound = self.sounds[terrain]
            spectrum = np.fft.rfft(self._rng.standard_normal(n)) * self._envelope(int(terrain), n)
            loudness = speed**0.7 * self._rng.uniform(0.85, 1.15)
            out += sound.noise_gain * loudness * np.fft.irfft(spectrum, n)
            count = self._rng.poisson(sound.impact_rate * speed * duration_s)
            for start in self._rng.integers(0, n, size=count):
                tail = t[: n - start]
                ring = np.exp(-tail / sound.impact_decay_s) * np.sin(2 * np.pi * sound.impact_hz * tail)
                out[start:] += sound.impact_gain * self._rng.uniform(0.5, 1.5) * ring
        mean_speed = float(speeds.mean()) if len(speeds) else 0.0
        hum_hz = 60.0 + 180.0 * mean_speed
        phase = self._hum_phase + 2 * np.pi * hum_hz * t
        out += self.hum_gain * min(mean_speed, 1.0) * (np.sin(phase) + 0.5 * np.sin(2 * phase))
        self._hum_phase = float((self._hum_phase + 2 * np.pi * hum_hz * n / self.sample_rate) % (2 * np.pi))
        out += 0.002 * self._rng.standard_normal(n)  # microphone self-noise
        return out.astype(np.float32)
