"""Feature-token Transformer for feature vectors (T-JEPA's tabular encoder).

Each scalar feature j becomes a token ``x_j * w_j + b_j + e_j`` (a per-feature linear embedding plus a
learned feature-identity embedding), as in FT-Transformer / T-JEPA. ``num_register_tokens`` learned
regularisation tokens are appended inside the encoder (T-JEPA: they stop the representation collapsing)
and dropped from the output.
"""

from __future__ import annotations

import torch
from torch import nn

from robossl.backbones.frames import transformer_stack


class FeatureTokenEncoder(nn.Module):
    """Encoder of a (subset of a) feature vector as a set of tokens.

    Args:
        num_features: F.
        dim: token width D.
        depth: Transformer layers.
        heads: attention heads.
        num_register_tokens: regularisation tokens appended to every sequence.

    Shapes:
        ``encode(x (B, F), index (B, K) | None) -> (B, K, D)`` (K = F without index);
        ``forward(x (B, F)) -> (B, D)`` (mean over all feature tokens).
    """

    def __init__(
        self, num_features: int, dim: int = 64, depth: int = 2, heads: int = 4, num_register_tokens: int = 2
    ) -> None:
        super().__init__()
        if num_features < 2:
            raise ValueError(f"need at least 2 features to tokenise, got {num_features}")
        self.value_weight = nn.Parameter(torch.randn(num_features, dim) * 0.02)
        self.value_bias = nn.Parameter(torch.zeros(num_features, dim))
        self.feature_embedding = nn.Parameter(torch.randn(num_features, dim) * 0.02)
        self.register_tokens = nn.Parameter(torch.randn(num_register_tokens, dim) * 0.02)
        self.encoder = transformer_stack(dim, depth, heads, dropout=0.0)
        self.norm = nn.LayerNorm(dim)
        self.num_features = num_features
        self.out_dim = dim

    def tokens(self, x: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """Embed features ``(B, F)`` (optionally only ``index`` ``(B, K)``) into ``(B, K, D)`` tokens."""
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ValueError(
                f"FeatureTokenEncoder expects (batch, {self.num_features}), got {tuple(x.shape)}"
            )
        tokens = x.unsqueeze(-1) * self.value_weight + self.value_bias + self.feature_embedding  # (B, F, D)
        if index is None:
            return tokens
        return torch.gather(tokens, 1, index.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))

    def encode(self, x: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        tokens = self.tokens(x, index)
        registers = self.register_tokens.unsqueeze(0).expand(tokens.shape[0], -1, -1)
        hidden = self.encoder(torch.cat([tokens, registers], dim=1))
        return self.norm(hidden[:, : tokens.shape[1]])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x).mean(dim=1)
