"""Scale-aware depth loss on confident stereo pixels.

For log errors ``e_i = log(pred_i) - log(target_i)`` and confidences ``c_i`` (0 outside confident stereo
pixels)::

    L = sum_i c_i |e_i| / sum_i c_i  +  scale_weight * (sum_i c_i e_i / sum_i c_i) ** 2

The first term is a confidence-weighted L1 in log space (relative error, robust to outliers); the second
penalises a global scale offset. It is the opposite of Eigen et al.'s (2014) scale-INVARIANT loss, which
subtracts that term: a robot needs metric distance, and stereo gives the metric scale for free.
"""

from __future__ import annotations

import torch
from torch import nn


def scale_aware_log_loss(
    pred: torch.Tensor, target: torch.Tensor, confidence: torch.Tensor, scale_weight: float = 1.0
) -> torch.Tensor:
    """Scale-aware log-depth loss.

    Args:
        pred: (B, 1, H, W) predicted depth, metres, > 0.
        target: (B, 1, H, W) stereo depth, metres (any value where ``confidence`` is 0, NaN included).
        confidence: (B, 1, H, W) weights in [0, 1].
        scale_weight: weight of the squared mean log error.

    Returns:
        Scalar loss; 0 (with gradient graph) when no pixel has confidence.
    """
    if pred.shape != target.shape or pred.shape != confidence.shape:
        raise ValueError(
            f"shapes differ: pred {tuple(pred.shape)}, target {tuple(target.shape)}, "
            f"confidence {tuple(confidence.shape)}"
        )
    weight = torch.where(torch.isfinite(target) & (target > 0), confidence, torch.zeros_like(confidence))
    safe_target = torch.where(weight > 0, target, torch.ones_like(target))
    error = (torch.log(pred) - torch.log(safe_target)) * (weight > 0)
    total = weight.sum()
    if total <= 0:
        return (pred * 0.0).sum()
    mean_abs = (weight * error.abs()).sum() / total
    mean = (weight * error).sum() / total
    return mean_abs + scale_weight * mean * mean


class ScaleAwareDepthLoss(nn.Module):
    """Module wrapper of :func:`scale_aware_log_loss`."""

    def __init__(self, scale_weight: float = 1.0) -> None:
        super().__init__()
        if scale_weight < 0:
            raise ValueError(f"scale_weight must be >= 0, got {scale_weight}")
        self.scale_weight = scale_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
        return scale_aware_log_loss(pred, target, confidence, self.scale_weight)
