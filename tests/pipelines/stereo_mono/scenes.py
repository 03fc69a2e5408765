"""Synthetic stereo scenes with known disparity for the stereo -> mono tests."""

from __future__ import annotations

import numpy as np


def random_texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Band-limited random texture (uint8) that block matching can lock onto."""
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.random((height, width)).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), 1.0)
    blurred = (blurred - blurred.min()) / (blurred.max() - blurred.min())
    return (blurred * 255).astype(np.uint8)


def two_plane_pair(
    height: int = 120, width: int = 160, background: int = 4, foreground: int = 10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Left, right and true disparity of a textured background plane with a nearer square in front."""
    back = random_texture(height, width + 64, seed)
    front = random_texture(height, width + 64, seed + 1)
    left = back[:, :width].copy()
    right = back[:, background : background + width].copy()
    truth = np.full((height, width), float(background), np.float32)
    top, bottom, lo, hi = height // 4, 3 * height // 4, width // 3, 2 * width // 3
    # a point at left column x sits at right column x - d
    left[top:bottom, lo:hi] = front[top:bottom, lo:hi]
    right[top:bottom, lo - foreground : hi - foreground] = front[top:bottom, lo:hi]
    truth[top:bottom, lo:hi] = foreground
    return left, right, truth
