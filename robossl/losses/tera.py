"""TERA: reconstruction of the original frames from a time/frequency/magnitude-altered copy.

Reference: Liu, Li, Lee, "TERA: Self-Supervised Learning of Transformer Encoder Representation for
Speech", IEEE/ACM TASLP 2021. The alteration policy (time blocks, a frequency band, Gaussian magnitude
noise) is :func:`robossl.transforms.spectrogram.tera_alter`; the objective is the L1 distance between the
model's reconstruction and the original frames, over the altered positions.
"""

from __future__ import annotations

import torch
from torch import nn


def tera_loss(
    reconstruction: torch.Tensor, original: torch.Tensor, altered_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """L1 reconstruction loss.

    Args:
        reconstruction: ``(B, T, F)`` predicted frames.
        original: ``(B, T, F)`` frames before alteration (no gradient).
        altered_mask: optional ``(B, T, F)`` bool, True where the input was altered; the loss averages over
            these positions only (all positions when None or when nothing was altered).

    Returns:
        Scalar mean absolute error.
    """
    if reconstruction.shape != original.shape:
        raise ValueError(
            f"reconstruction {tuple(reconstruction.shape)} and original {tuple(original.shape)} must match; "
            "the reconstruction head must output the input feature size"
        )
    error = (reconstruction - original.detach()).abs()
    if altered_mask is None:
        return error.mean()
    if altered_mask.shape != error.shape:
        raise ValueError(f"altered_mask must be {tuple(error.shape)}, got {tuple(altered_mask.shape)}")
    count = altered_mask.sum()
    if count == 0:
        return error.mean()
    return (error * altered_mask).sum() / count


class TERALoss(nn.Module):
    """Module wrapper of :func:`tera_loss`."""

    def forward(
        self, reconstruction: torch.Tensor, original: torch.Tensor, altered_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return tera_loss(reconstruction, original, altered_mask)
