"""Appearance descriptors of traversed ground patches, used only to mine triplets for the audio embedding.

Zurn et al. embed each patch with an ImageNet-pretrained CNN; no pretrained weights can be fetched here, so
the default descriptor is hand-made and cheap: colour statistics in CIE Lab plus texture energy (gradient
magnitude and band-pass contrast of the grey image), pooled over the pixels of the patch.
"""

from __future__ import annotations

import cv2
import numpy as np

DESCRIPTOR_DIM = 10


def pixel_feature_maps(image: np.ndarray) -> np.ndarray:
    """``(H, W, DESCRIPTOR_DIM // 2)`` float32 per-pixel features of an RGB uint8 image.

    Channels: L, a, b (scaled to ~[0, 1]), gradient magnitude, and absolute difference-of-Gaussians.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32) / 255.0
    grey = lab[..., 0]
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    grad = np.sqrt(gx * gx + gy * gy)
    dog = np.abs(cv2.GaussianBlur(grey, (0, 0), 1.0) - cv2.GaussianBlur(grey, (0, 0), 3.0))
    return np.dstack([lab, grad, dog]).astype(np.float32)


def patch_descriptors(
    image: np.ndarray, index_map: np.ndarray, count: int, min_pixels: int = 20
) -> np.ndarray:
    """Mean and standard deviation of :func:`pixel_feature_maps` over each painted patch.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        index_map: ``(H, W)`` int patch index per pixel, -1 where no patch.
        count: number of patches (indices 0..count-1).
        min_pixels: patches with fewer visible pixels get NaN rows.

    Returns:
        ``(count, DESCRIPTOR_DIM)`` float32.
    """
    if index_map.shape != image.shape[:2]:
        raise ValueError(f"index map {index_map.shape} and image {image.shape[:2]} sizes differ")
    feats = pixel_feature_maps(image).reshape(-1, DESCRIPTOR_DIM // 2).astype(np.float64)
    idx = index_map.reshape(-1)
    keep = (idx >= 0) & (idx < count)
    idx, feats = idx[keep], feats[keep]
    n = np.bincount(idx, minlength=count).astype(np.float64)
    sums = np.stack([np.bincount(idx, feats[:, c], minlength=count) for c in range(feats.shape[1])], axis=1)
    sq = np.stack(
        [np.bincount(idx, feats[:, c] ** 2, minlength=count) for c in range(feats.shape[1])], axis=1
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / n[:, None]
        std = np.sqrt(np.maximum(sq / n[:, None] - mean**2, 0.0))
    out = np.concatenate([mean, std], axis=1)
    out[n < min_pixels] = np.nan
    return out.astype(np.float32)
