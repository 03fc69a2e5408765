"""Procedural textures for the simulated worlds (numpy only, deterministic per seed).

Five families give visually distinct surfaces that block matching can lock onto: value noise, bricks,
tiles, blobs and stripes, each in a random two-colour palette with fine grain noise on top. Training and
held-out rooms draw from disjoint seed ranges, so held-out rooms have textures (and layouts) never seen
in training.
"""

from __future__ import annotations

import cv2
import numpy as np

FAMILIES = ("noise", "bricks", "tiles", "blobs", "stripes")


def _palette(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    hue = rng.uniform(0, 180)
    a = np.array([[[hue, rng.uniform(40, 200), rng.uniform(60, 140)]]], np.uint8)
    b = np.array(
        [[[(hue + rng.uniform(20, 90)) % 180, rng.uniform(20, 160), rng.uniform(150, 240)]]], np.uint8
    )
    first = cv2.cvtColor(a, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
    second = cv2.cvtColor(b, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
    return first, second


def _value_noise(rng: np.random.Generator, size: int, octaves: int = 4) -> np.ndarray:
    total = np.zeros((size, size), np.float32)
    for octave in range(octaves):
        cells = 4 * 2**octave
        grid = rng.random((cells, cells)).astype(np.float32)
        # tile-able: wrap the grid before resizing
        grid = np.pad(grid, ((0, 1), (0, 1)), mode="wrap")
        up = cv2.resize(grid, (size + size // cells, size + size // cells), interpolation=cv2.INTER_CUBIC)
        total += up[:size, :size] / 2**octave
    total -= total.min()
    return total / max(float(total.max()), 1e-6)


def _pattern(family: str, rng: np.random.Generator, size: int) -> np.ndarray:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    if family == "noise":
        return _value_noise(rng, size)
    if family == "bricks":
        rows = int(rng.integers(6, 14))
        height = size / rows
        row = np.floor(ys / height)
        width = height * rng.uniform(1.6, 2.6)
        shifted = xs + (row % 2) * width / 2
        mortar = (ys % height < 2) | (shifted % width < 2)
        shade = rng.random((rows + 1, 64))[row.astype(int), (shifted // width).astype(int) % 64]
        return np.where(mortar, 0.0, 0.4 + 0.6 * shade).astype(np.float32)
    if family == "tiles":
        cells = int(rng.integers(4, 12))
        checker = ((xs // (size / cells)) + (ys // (size / cells))) % 2
        return (0.25 + 0.5 * checker + 0.25 * _value_noise(rng, size, 3)).astype(np.float32)
    if family == "blobs":
        canvas = np.zeros((size, size), np.float32)
        for _ in range(int(rng.integers(60, 160))):
            center = (int(rng.integers(0, size)), int(rng.integers(0, size)))
            cv2.circle(canvas, center, int(rng.integers(3, 14)), float(rng.uniform(0.3, 1.0)), -1)
        return canvas
    if family == "stripes":
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(6, 20)
        phase = (xs * np.cos(angle) + ys * np.sin(angle)) / period
        return (0.5 + 0.5 * np.sin(2 * np.pi * phase) * (0.5 + 0.5 * _value_noise(rng, size, 3))).astype(
            np.float32
        )
    raise ValueError(f"unknown texture family {family!r}; use one of {FAMILIES}")


def make_texture(seed: int, size: int = 256, family: str | None = None) -> np.ndarray:
    """A (size, size, 3) uint8 RGB texture, deterministic in ``seed``.

    Args:
        seed: random seed (also picks the family when ``family`` is None).
        size: side in pixels.
        family: one of :data:`FAMILIES` or None for a random one.
    """
    rng = np.random.default_rng(seed)
    chosen = family or FAMILIES[int(rng.integers(0, len(FAMILIES)))]
    pattern = _pattern(chosen, rng, size)
    grain = rng.normal(0.0, 0.15, (size, size)).astype(np.float32)
    mix = np.clip(pattern + grain, 0.0, 1.0)[..., None]
    first, second = _palette(rng)
    image = first * (1 - mix) + second * mix
    return np.clip(image, 0, 255).astype(np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    """Encode an RGB uint8 image as PNG bytes (for MuJoCo's in-memory assets)."""
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("PNG encoding failed")
    return buffer.tobytes()
