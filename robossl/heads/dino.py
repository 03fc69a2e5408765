"""DINO head: MLP, L2-normalised bottleneck, weight-normalised prototype layer.

Reference: Caron et al., "Emerging Properties in Self-Supervised Vision Transformers", ICCV 2021
(paper: 3 layers, hidden 2048, bottleneck 256, 65536 prototypes; defaults here are edge-sized).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from robossl.heads.projection import ProjectionHead


class DINOHead(nn.Module):
    """Projector followed by L2 normalisation and a weight-normalised linear layer onto K prototypes.

    Args:
        in_dim: backbone output dimension.
        hidden_dim: MLP width.
        bottleneck_dim: dimension before the prototype layer.
        num_prototypes: output dimension K (logits over prototypes).
        num_layers: linear layers in the MLP.
        freeze_last_layer_steps: the learner zeroes the prototype gradient for this many steps (paper: 1 epoch).
        batch_norm: batch norm in the MLP (the DINO code's option for convolutional backbones).

    Shapes:
        input ``(B, in_dim)``; output logits ``(B, num_prototypes)``.
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int = 512,
        bottleneck_dim: int = 128,
        num_prototypes: int = 1024,
        num_layers: int = 3,
        freeze_last_layer_steps: int = 0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        if num_prototypes < 2:
            raise ValueError(f"num_prototypes must be >= 2, got {num_prototypes}")
        self.mlp = ProjectionHead(
            in_dim, hidden_dim, bottleneck_dim, num_layers=num_layers, batch_norm=batch_norm
        )
        self.prototypes = nn.utils.parametrizations.weight_norm(
            nn.Linear(bottleneck_dim, num_prototypes, bias=False)
        )
        # The paper fixes the norm of the prototype weights to 1 (g is not trained).
        self.prototypes.parametrizations.weight.original0.data.fill_(1.0)
        self.prototypes.parametrizations.weight.original0.requires_grad = False
        self.freeze_last_layer_steps = freeze_last_layer_steps
        self.out_dim = num_prototypes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(B, in_dim)`` features to ``(B, num_prototypes)`` logits."""
        return self.prototypes(F.normalize(self.mlp(x), dim=-1))

    def cancel_last_layer_gradients(self, step: int) -> None:
        """Zero the prototype-layer gradient while ``step < freeze_last_layer_steps`` (stabilises start)."""
        if step < self.freeze_last_layer_steps:
            for parameter in self.prototypes.parameters():
                parameter.grad = None
