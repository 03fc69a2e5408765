"""T-JEPA predictor: context tokens + positional mask tokens -> predicted target-token representations.

Reference: Thimonier et al., "T-JEPA: Augmentation-Free Self-Supervised Learning for Tabular Data", 2024
(after I-JEPA, Assran et al. 2023): the predictor is a narrow Transformer; each target feature is queried by
a shared learned mask token plus that feature's identity embedding.
"""

from __future__ import annotations

import torch
from torch import nn

from robossl.backbones.frames import transformer_stack


class TJEPAPredictor(nn.Module):
    """Predict target-feature representations from encoded context tokens.

    Args:
        dim: encoder token width D.
        num_features: F (size of the feature-identity table).
        predictor_dim: internal width.
        depth: Transformer layers.
        heads: attention heads.

    Shapes:
        ``forward(context (B, Nc, D), target_index (B, Nt)) -> (B, Nt, D)``.
    """

    def __init__(
        self, dim: int, num_features: int, predictor_dim: int = 32, depth: int = 2, heads: int = 4
    ) -> None:
        super().__init__()
        self.input = nn.Linear(dim, predictor_dim)
        self.mask_token = nn.Parameter(torch.zeros(predictor_dim))
        self.feature_embedding = nn.Parameter(torch.randn(num_features, predictor_dim) * 0.02)
        self.encoder = transformer_stack(predictor_dim, depth, heads, dropout=0.0)
        self.output = nn.Sequential(nn.LayerNorm(predictor_dim), nn.Linear(predictor_dim, dim))

    def forward(self, context: torch.Tensor, target_index: torch.Tensor) -> torch.Tensor:
        queries = self.mask_token + self.feature_embedding[target_index]  # (B, Nt, P)
        hidden = self.encoder(torch.cat([self.input(context), queries], dim=1))
        return self.output(hidden[:, context.shape[1] :])
