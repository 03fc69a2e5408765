"""Frame-sequence Transformer encoder (TERA-style) for spectrogram frames or IMU samples.

A small version of TERA's encoder (Liu, Li, Lee 2021: 3 layers, 768 wide): a linear input projection,
sinusoidal positions, pre-norm Transformer layers. ``encode_frames`` keeps the time axis (for
reconstruction objectives); ``forward`` mean-pools it into one vector (for probes and other objectives).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """``(length, dim)`` sine/cosine position table of Vaswani et al. 2017."""
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(
        torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim)
    )
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table


def transformer_stack(dim: int, depth: int, heads: int, dropout: float) -> nn.TransformerEncoder:
    """Pre-norm Transformer encoder with GELU and a 4x feed-forward, batch first."""
    if dim % heads != 0:
        raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
    layer = nn.TransformerEncoderLayer(
        dim, heads, 4 * dim, dropout, activation="gelu", batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)


class FrameTransformer(nn.Module):
    """Transformer over frames.

    Args:
        in_features: features per frame F (mel bins, or IMU channels).
        dim: model width D.
        depth: Transformer layers.
        heads: attention heads (must divide ``dim``).
        dropout: dropout inside the Transformer.

    Shapes:
        ``encode_frames``: ``(B, T, F) -> (B, T, D)``; ``forward``: ``(B, T, F) -> (B, D)``.
    """

    def __init__(
        self, in_features: int, dim: int = 64, depth: int = 2, heads: int = 4, dropout: float = 0.1
    ) -> None:
        super().__init__()
        if in_features < 1:
            raise ValueError(f"in_features must be >= 1, got {in_features}")
        self.input = nn.Sequential(nn.Linear(in_features, dim), nn.LayerNorm(dim))
        self.encoder = transformer_stack(dim, depth, heads, dropout)
        self.norm = nn.LayerNorm(dim)
        self.in_features = in_features
        self.out_dim = dim

    def encode_frames(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, F)`` frames -> ``(B, T, D)`` contextual frame representations."""
        if x.ndim != 3 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"FrameTransformer expects (batch, frames, {self.in_features}), got {tuple(x.shape)}"
            )
        hidden = self.input(x) + sinusoidal_positions(x.shape[1], self.out_dim, x.device).to(x.dtype)
        return self.norm(self.encoder(hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_frames(x).mean(dim=1)
