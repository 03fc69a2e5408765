"""Ground textures for the terrain rover world: photographs where a free one exists, procedural otherwise.

scikit-image ships CC0 grey photographs of grass, gravel and brick (``skimage.data.grass()``, ``gravel()``,
``brick()``); they are tinted here. Sand and asphalt are procedural value noise. Each terrain type has one
fixed texture, so a terrain looks the same on every map (as a real surface type does), while the maps
differ in layout.
"""

from __future__ import annotations

import cv2
import numpy as np

TERRAIN_TYPES = ("grass", "gravel", "brick", "sand", "asphalt")

# RGB tints multiplied onto the grey photograph / noise (0..1 per channel)
_TINTS = {
    "grass": (0.45, 0.85, 0.35),
    "gravel": (0.80, 0.78, 0.74),
    "brick": (0.95, 0.50, 0.38),
    "sand": (0.95, 0.85, 0.60),
    "asphalt": (0.42, 0.42, 0.45),
}


def _value_noise(rng: np.random.Generator, size: int, cells: int, octaves: int) -> np.ndarray:
    total = np.zeros((size, size), np.float32)
    for octave in range(octaves):
        n = cells * 2**octave
        grid = np.pad(rng.random((n, n)).astype(np.float32), ((0, 1), (0, 1)), mode="wrap")
        up = cv2.resize(grid, (size + size // n, size + size // n), interpolation=cv2.INTER_CUBIC)
        total += up[:size, :size] / 2**octave
    total -= total.min()
    return total / max(float(total.max()), 1e-6)


def _grey(terrain: str, size: int) -> np.ndarray:
    rng = np.random.default_rng(TERRAIN_TYPES.index(terrain) + 11)
    if terrain in ("grass", "gravel", "brick"):
        import skimage.data

        photo = getattr(skimage.data, terrain)().astype(np.float32) / 255.0
        return cv2.resize(photo, (size, size), interpolation=cv2.INTER_AREA)
    if terrain == "sand":
        ripples = 0.5 + 0.5 * np.sin(np.linspace(0, 18 * np.pi, size))[None, :] * np.ones((size, 1))
        return (0.55 + 0.25 * _value_noise(rng, size, 8, 3) + 0.1 * ripples).astype(np.float32)
    if terrain == "asphalt":
        return (0.4 + 0.6 * _value_noise(rng, size, 32, 2) ** 2).astype(np.float32)
    raise ValueError(f"unknown terrain {terrain!r}; known: {TERRAIN_TYPES}")


def terrain_texture(terrain: str, size: int = 256) -> np.ndarray:
    """``(size, size, 3)`` uint8 RGB texture of a terrain type (deterministic)."""
    grey = _grey(terrain, size)
    # Stretch contrast so that each photograph fills the range before tinting.
    lo, hi = np.percentile(grey, (2, 98))
    grey = np.clip((grey - lo) / max(hi - lo, 1e-6), 0, 1) * 0.8 + 0.2
    rgb = grey[..., None] * np.asarray(_TINTS[terrain], np.float32)[None, None, :]
    return np.clip(rgb * 255, 0, 255).astype(np.uint8)
