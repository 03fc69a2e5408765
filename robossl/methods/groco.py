"""GroCo (learning by sorting): SimCLR's two views and projector, trained with the group ordering loss."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from robossl.heads import ProjectionHead
from robossl.losses.groco import groco_loss
from robossl.methods.base import InputSpec, SSLMethod
from robossl.methods.components import make_backbone, make_views, output_dim
from robossl.methods.registry import register_method
from robossl.methods.two_view import TwoViewMethod


@dataclass
class GroCoConfig:
    projection_hidden_dim: int = 512  # projector width (paper: SimCLR's 2048)
    projection_dim: int = 128  # embedding size (paper: 128)
    num_negatives: int = 10  # hardest negatives sorted with each positive (paper: 10); < batch size
    steepness: float = 10.0  # sorting-network relaxation steepness (larger = closer to a hard sort)
    stop_gradient: bool = True  # gradients only through the anchor (authors' code)


@register_method(
    "groco",
    GroCoConfig,
    "Shvetsova et al., Learning by Sorting: SSL with Group Ordering Constraints, ICCV 2023",
)
def build_groco(spec: InputSpec, config: GroCoConfig) -> SSLMethod:
    if config.num_negatives < 1 or config.steepness <= 0:
        raise ValueError(
            f"need num_negatives >= 1 and steepness > 0, got {config.num_negatives} and {config.steepness}"
        )
    backbone = make_backbone(spec)
    projector = ProjectionHead(
        output_dim(backbone), config.projection_hidden_dim, config.projection_dim, num_layers=2
    )

    def objective(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        return groco_loss(z_a, z_b, config.num_negatives, config.steepness, config.stop_gradient)

    return TwoViewMethod(backbone, projector, make_views(spec), objective)
