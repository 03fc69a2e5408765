"""Masked image modelling loss for CNN encoders (SparK-style): reconstruct the pixels of masked patches.

Reference: Tian et al., "Designing BERT for Convolutional Networks: Sparse and Hierarchical Masked
Modeling" (SparK), ICLR 2023, as compared with contrastive pretraining for small medical datasets by
Wolf et al. (the seed paper). The loss is the mean squared error on masked patches only, against targets
normalised per patch (each patch's pixels minus their mean, over their standard deviation), as SparK and
MAE do by default.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, h, w, C * p * p)`` non-overlapping patches (H, W multiples of p)."""
    batch, channels, height, width = images.shape
    if height % patch_size or width % patch_size:
        raise ValueError(
            f"image size {height}x{width} is not a multiple of patch_size {patch_size}; resize or crop the frames"
        )
    h, w = height // patch_size, width // patch_size
    patches = images.reshape(batch, channels, h, patch_size, w, patch_size)
    return patches.permute(0, 2, 4, 1, 3, 5).reshape(batch, h, w, channels * patch_size * patch_size)


def masked_reconstruction_loss(
    prediction: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    patch_size: int,
    normalize_patches: bool = True,
) -> torch.Tensor:
    """Mean squared error over the masked patches.

    Args:
        prediction: ``(B, C, H, W)`` reconstruction.
        target: ``(B, C, H, W)`` original images.
        mask: ``(B, h, w)`` bool, True = masked (to be reconstructed), h = H / patch_size.
        patch_size: patch side in pixels.
        normalize_patches: compare against per-patch normalised targets (SparK / MAE default).

    Returns:
        Scalar: mean over masked patches of the per-pixel squared error.
    """
    if prediction.shape != target.shape or prediction.ndim != 4:
        raise ValueError(
            f"prediction and target must both be (B, C, H, W), got {tuple(prediction.shape)} and {tuple(target.shape)}"
        )
    predicted, wanted = patchify(prediction, patch_size), patchify(target, patch_size)
    if mask.shape != predicted.shape[:3]:
        raise ValueError(f"mask must be (B, h, w) = {tuple(predicted.shape[:3])}, got {tuple(mask.shape)}")
    if not bool(mask.any()):
        raise ValueError("the mask hides no patch: raise mask_ratio")
    if normalize_patches:
        mean = wanted.mean(dim=-1, keepdim=True)
        variance = wanted.var(dim=-1, unbiased=False, keepdim=True)
        wanted = (wanted - mean) / torch.sqrt(variance + 1e-6)
    per_patch = F.mse_loss(predicted, wanted, reduction="none").mean(dim=-1)  # (B, h, w)
    return per_patch[mask].mean()


class MaskedReconstructionLoss(nn.Module):
    """Module wrapper of :func:`masked_reconstruction_loss`."""

    def __init__(self, patch_size: int = 8, normalize_patches: bool = True) -> None:
        super().__init__()
        if patch_size < 1:
            raise ValueError(f"patch_size must be >= 1, got {patch_size}")
        self.patch_size = patch_size
        self.normalize_patches = normalize_patches

    def forward(self, prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return masked_reconstruction_loss(prediction, target, mask, self.patch_size, self.normalize_patches)
