"""ScatSimCLR objective: SimCLR's NT-Xent plus a pretext-task classification regulariser.

Reference: Kinakh, Taran, Voloshynovskiy, "ScatSimCLR: self-supervised contrastive learning with pretext
task regularization for small-scale datasets", ICCV 2021 workshops. ``loss = NT-Xent(z_a, z_b) + lambda *
cross_entropy(pretext_logits, pretext_labels)`` with the authors' lambda = 0.3 and temperature 0.5; the
pretext task predicts which of a fixed set of transformations (rotation by 0/90/180/270 degrees in the
paper) was applied to an input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from robossl.losses.nt_xent import nt_xent_loss


def scatsimclr_loss(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    pretext_logits: torch.Tensor,
    pretext_labels: torch.Tensor,
    temperature: float = 0.5,
    pretext_weight: float = 0.3,
) -> torch.Tensor:
    """Contrastive loss plus the weighted pretext cross-entropy.

    Args:
        z_a, z_b: ``(N, D)`` projections of the two views (positive pairs row by row).
        pretext_logits: ``(M, P)`` pretext classifier outputs.
        pretext_labels: ``(M,)`` index of the transformation applied to each pretext input.
        temperature: NT-Xent temperature (paper: 0.5).
        pretext_weight: lambda (paper: 0.3).
    """
    if pretext_logits.ndim != 2 or pretext_labels.shape != pretext_logits.shape[:1]:
        raise ValueError(
            f"pretext_logits must be (M, P) and pretext_labels (M,), got {tuple(pretext_logits.shape)} and "
            f"{tuple(pretext_labels.shape)}"
        )
    if pretext_weight < 0:
        raise ValueError(f"pretext_weight must be >= 0, got {pretext_weight}")
    return nt_xent_loss(z_a, z_b, temperature) + pretext_weight * F.cross_entropy(
        pretext_logits, pretext_labels
    )


class ScatSimCLRLoss(nn.Module):
    """Module wrapper of :func:`scatsimclr_loss`."""

    def __init__(self, temperature: float = 0.5, pretext_weight: float = 0.3) -> None:
        super().__init__()
        if temperature <= 0 or pretext_weight < 0:
            raise ValueError(
                f"need temperature > 0 and pretext_weight >= 0, got {temperature}, {pretext_weight}"
            )
        self.temperature = temperature
        self.pretext_weight = pretext_weight

    def forward(
        self, z_a: torch.Tensor, z_b: torch.Tensor, pretext_logits: torch.Tensor, pretext_labels: torch.Tensor
    ) -> torch.Tensor:
        return scatsimclr_loss(
            z_a, z_b, pretext_logits, pretext_labels, self.temperature, self.pretext_weight
        )
