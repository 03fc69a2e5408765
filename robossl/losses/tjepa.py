"""T-JEPA: predict the latent representation of one feature subset from another (tabular / feature data).

Reference: Thimonier, Popineau, Rimmel, Doan, "T-JEPA: Augmentation-Free Self-Supervised Learning for
Tabular Data", 2024. Each feature is a token; a context encoder sees a subset of feature tokens plus
learned regularisation tokens; a predictor maps the context and positional mask tokens to the EMA target
encoder's representations of the target subset. The architecture is
:class:`robossl.backbones.feature_tokens.FeatureTokenEncoder` and
:class:`robossl.heads.tjepa_predictor.TJEPAPredictor`; this file holds the objective.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def tjepa_loss(predicted: torch.Tensor, target: torch.Tensor, normalize_target: bool = True) -> torch.Tensor:
    """Mean squared error between predicted and (stop-gradient) target token representations.

    Args:
        predicted: ``(B, M, D)`` predictions for the M target feature tokens.
        target: ``(B, M, D)`` target-encoder representations of the same tokens (detached here).
        normalize_target: layer-normalise the targets over D first (as I-JEPA does; avoids scale drift).

    Returns:
        Scalar loss.
    """
    if predicted.shape != target.shape or predicted.ndim != 3:
        raise ValueError(
            f"predicted and target must both be (B, M, D) with equal shapes, got {tuple(predicted.shape)} "
            f"and {tuple(target.shape)}"
        )
    target = target.detach()
    if normalize_target:
        target = F.layer_norm(target, target.shape[-1:])
    return F.mse_loss(predicted, target)


class TJEPALoss(nn.Module):
    """Module wrapper of :func:`tjepa_loss`."""

    def __init__(self, normalize_target: bool = True) -> None:
        super().__init__()
        self.normalize_target = normalize_target

    def forward(self, predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return tjepa_loss(predicted, target, self.normalize_target)
