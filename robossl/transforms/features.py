"""Views and masks for feature vectors ``(B, F)``.

- :class:`FeatureViews`: Gaussian noise plus random feature dropout (for contrastive / non-contrastive
  objectives on feature vectors).
- :func:`sample_feature_subsets`: T-JEPA's context / target split of the feature tokens, disjoint per
  sample, same sizes across the batch (so tokens can be gathered in one call).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class FeatureViewConfig:
    noise_std: float = 0.1  # std of additive Gaussian noise (standardised units)
    dropout_probability: float = 0.2  # chance that each feature is zeroed


class FeatureViews:
    """``views(x (B, F), generator) -> (B, F)`` noisy copy with random features zeroed."""

    def __init__(self, config: FeatureViewConfig | None = None) -> None:
        self.config = config or FeatureViewConfig()
        if not 0.0 <= self.config.dropout_probability < 1.0:
            raise ValueError(f"dropout_probability must be in [0, 1), got {self.config.dropout_probability}")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        keep = torch.rand(x.shape, generator=generator, device=x.device) >= self.config.dropout_probability
        noise = self.config.noise_std * torch.randn(x.shape, generator=generator, device=x.device)
        return (x + noise) * keep

    def local(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self(x, generator)


def sample_feature_subsets(
    batch: int,
    num_features: int,
    context_fraction: float,
    target_fraction: float,
    generator: torch.Generator | None = None,
    device: torch.device | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint random context and target feature indices per sample.

    Returns:
        ``(context (B, Nc), target (B, Nt))`` long tensors, ``Nc = round(context_fraction * F)`` (>= 1),
        ``Nt = round(target_fraction * F)`` (>= 1), ``Nc + Nt <= F``.
    """
    num_context = max(1, round(context_fraction * num_features))
    num_target = max(1, round(target_fraction * num_features))
    if num_context + num_target > num_features:
        raise ValueError(
            f"context ({num_context}) + target ({num_target}) features exceed the {num_features} available; "
            "lower context_fraction or target_fraction"
        )
    order = torch.rand(batch, num_features, generator=generator, device=device).argsort(dim=1)
    return order[:, :num_context], order[:, num_context : num_context + num_target]
