"""Projection and prediction heads (MLPs placed after a backbone).

Paper dimensions, for reference: SimCLR 2048 -> 2048 -> 128; Barlow Twins 8192 x 3; VICReg 8192 x 3;
BYOL projector 4096 -> 256 and predictor 256 -> 4096 -> 256; SimSiam 2048 x 3 with a 512 bottleneck
predictor; ColloSSL 256 -> 128 -> 50. The defaults here are edge-sized; pass the paper values offline.
"""

from __future__ import annotations

import torch
from torch import nn


def _mlp(
    in_dim: int, hidden_dim: int, out_dim: int, num_layers: int, batch_norm: bool, last_batch_norm: bool
) -> nn.Sequential:
    if min(in_dim, hidden_dim, out_dim) < 1:
        raise ValueError(f"head dimensions must be >= 1, got in={in_dim} hidden={hidden_dim} out={out_dim}")
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    layers: list[nn.Module] = []
    previous = in_dim
    for _ in range(num_layers - 1):
        layers.append(nn.Linear(previous, hidden_dim, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm1d(hidden_dim))
        layers.append(nn.ReLU(inplace=True))
        previous = hidden_dim
    layers.append(nn.Linear(previous, out_dim, bias=not last_batch_norm))
    if last_batch_norm:
        layers.append(nn.BatchNorm1d(out_dim, affine=False))
    return nn.Sequential(*layers)


class ProjectionHead(nn.Module):
    """MLP projector: ``num_layers`` linear layers, batch norm + ReLU between them.

    Args:
        in_dim: backbone output dimension.
        hidden_dim: width of the hidden layers.
        out_dim: embedding dimension the objective sees.
        num_layers: number of linear layers (2 for SimCLR/BYOL, 3 for Barlow Twins/VICReg/SimSiam).
        batch_norm: batch norm after each hidden linear layer.
        last_batch_norm: affine-free batch norm on the output (SimSiam's projector).

    Shapes:
        input ``(B, in_dim)``; output ``(B, out_dim)``.
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int = 512,
        out_dim: int = 128,
        num_layers: int = 2,
        batch_norm: bool = True,
        last_batch_norm: bool = False,
    ) -> None:
        super().__init__()
        self.layers = _mlp(in_dim, hidden_dim, out_dim, num_layers, batch_norm, last_batch_norm)
        self.in_dim = in_dim
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project ``(B, in_dim)`` to ``(B, out_dim)``."""
        return self.layers(x)


class PredictionHead(nn.Module):
    """Two-layer predictor of BYOL / SimSiam (linear -> BN -> ReLU -> linear).

    Args:
        in_dim: projection dimension.
        hidden_dim: bottleneck width (BYOL 4096, SimSiam 512).
        out_dim: projection dimension again (defaults to ``in_dim``).

    Shapes:
        input ``(B, in_dim)``; output ``(B, out_dim)``.
    """

    def __init__(self, in_dim: int, hidden_dim: int = 256, out_dim: int | None = None) -> None:
        super().__init__()
        out = in_dim if out_dim is None else out_dim
        self.layers = _mlp(in_dim, hidden_dim, out, num_layers=2, batch_norm=True, last_batch_norm=False)
        self.in_dim = in_dim
        self.out_dim = out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predict ``(B, out_dim)`` from ``(B, in_dim)``."""
        return self.layers(x)
