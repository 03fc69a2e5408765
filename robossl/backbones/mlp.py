"""MLP encoder for feature vectors (proprioception summaries, hand-crafted features)."""

from __future__ import annotations

import torch
from torch import nn


class MLPEncoder(nn.Module):
    """Linear -> LayerNorm -> GELU blocks.

    LayerNorm (not batch norm) keeps the encoder usable on single samples on the robot.

    Args:
        in_features: input feature count F.
        hidden_dims: widths of the hidden blocks; the last one is the output dimension.
        dropout: dropout after every block.

    Shapes:
        input ``(B, F)``; output ``(B, out_dim)`` with ``out_dim = hidden_dims[-1]``.
    """

    def __init__(
        self, in_features: int, hidden_dims: tuple[int, ...] = (256, 256), dropout: float = 0.0
    ) -> None:
        super().__init__()
        if in_features < 1 or not hidden_dims:
            raise ValueError(
                f"need in_features >= 1 and at least one hidden dim, got {in_features}, {hidden_dims}"
            )
        layers: list[nn.Module] = []
        previous = in_features
        for width in hidden_dims:
            layers += [nn.Linear(previous, width), nn.LayerNorm(width), nn.GELU(), nn.Dropout(dropout)]
            previous = width
        self.layers = nn.Sequential(*layers)
        self.in_features = in_features
        self.out_dim = previous

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode ``(B, F)`` feature vectors into ``(B, out_dim)``."""
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"MLPEncoder expects (batch, {self.in_features}) features, got {tuple(x.shape)}; "
                "flatten windows with x.flatten(1) and pass in_features accordingly"
            )
        return self.layers(x)
