"""Negative cosine similarity with stop-gradient (BYOL, SimSiam, DirectPred).

References: Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020 (loss 2 - 2 cos, EMA target network);
Chen and He, "Exploring Simple Siamese Representation Learning", CVPR 2021 (loss -cos, stop-gradient on
the target branch, no EMA). Both are -cos up to an affine change; this module returns -cos in [-1, 1].
The EMA teacher helper lives in :mod:`robossl.methods.ema`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def negative_cosine_similarity(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of ``-cos(prediction_i, stopgrad(target_i))``.

    Args:
        prediction: ``(N, D)`` online predictions.
        target: ``(N, D)`` targets; detached here, so no gradient ever reaches the target branch.

    Returns:
        Scalar in [-1, 1]; -1 when every prediction points along its target.
    """
    if prediction.shape != target.shape or prediction.ndim != 2:
        raise ValueError(
            f"prediction and target must both be (N, D) with equal shapes, got {prediction.shape} and "
            f"{target.shape}"
        )
    return -F.cosine_similarity(prediction, target.detach(), dim=1).mean()


def symmetric_negative_cosine(
    p_a: torch.Tensor, p_b: torch.Tensor, z_a: torch.Tensor, z_b: torch.Tensor
) -> torch.Tensor:
    """SimSiam / BYOL symmetrised loss: ``(D(p_a, z_b) + D(p_b, z_a)) / 2`` with stop-gradient on z."""
    return 0.5 * (negative_cosine_similarity(p_a, z_b) + negative_cosine_similarity(p_b, z_a))


class NegativeCosineSimilarity(nn.Module):
    """Module wrapper: forward ``(N, D) predictions, (N, D) targets -> scalar``."""

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return negative_cosine_similarity(prediction, target)
