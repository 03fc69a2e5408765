"""Two-view methods with a projector and a symmetric objective: SimCLR, Barlow Twins, VICReg, and an
instance-level batch-hard triplet method (each sample's two views form its own class).

Both views go through the backbone in one batched pass (faster on CPU and GPU).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from robossl.heads import ProjectionHead
from robossl.losses.barlow_twins import barlow_twins_loss
from robossl.losses.nt_xent import nt_xent_loss
from robossl.losses.triplet import batch_hard_triplet_loss
from robossl.losses.vicreg import vicreg_loss
from robossl.methods.base import InputSpec, SSLMethod
from robossl.methods.components import make_backbone, make_views, output_dim
from robossl.methods.registry import register_method


class TwoViewMethod(SSLMethod):
    """backbone -> projector on two random views; ``objective(z_a, z_b) -> loss``."""

    def __init__(
        self,
        backbone: nn.Module,
        projector: nn.Module,
        views: Callable[[torch.Tensor, torch.Generator | None], torch.Tensor],
        objective: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = projector
        self.views = views
        self.objective = objective

    def forward(  # type: ignore[override]
        self, batch: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        view_a, view_b = self.views(batch, generator), self.views(batch, generator)
        z = self.projector(self.backbone(torch.cat([view_a, view_b])))
        z_a, z_b = z.chunk(2)
        loss = self.objective(z_a, z_b)
        return loss, {"loss": loss.detach(), "embedding_std": z_a.detach().std(0).mean()}


@dataclass
class SimCLRConfig:
    projection_hidden_dim: int = 512  # projector width (paper: 2048)
    projection_dim: int = 128  # embedding size seen by NT-Xent (paper: 128)
    temperature: float = 0.5  # NT-Xent temperature (paper: 0.5 on CIFAR, 0.1 on ImageNet)
    gather_distributed: bool = False  # use negatives from every process


@register_method(
    "simclr", SimCLRConfig, "Chen et al., A Simple Framework for Contrastive Learning, ICML 2020"
)
def build_simclr(spec: InputSpec, config: SimCLRConfig) -> SSLMethod:
    backbone = make_backbone(spec)
    projector = ProjectionHead(
        output_dim(backbone), config.projection_hidden_dim, config.projection_dim, num_layers=2
    )

    def objective(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        return nt_xent_loss(z_a, z_b, config.temperature, config.gather_distributed)

    return TwoViewMethod(backbone, projector, make_views(spec), objective)


@dataclass
class BarlowTwinsConfig:
    projection_hidden_dim: int = 512  # projector width (paper: 8192)
    projection_dim: int = 512  # embedding size (paper: 8192)
    lambda_offdiagonal: float = 5e-3  # redundancy-reduction weight (paper: 5e-3)
    gather_distributed: bool = False  # sum the cross-correlation over processes


@register_method("barlow_twins", BarlowTwinsConfig, "Zbontar et al., Barlow Twins, ICML 2021")
def build_barlow_twins(spec: InputSpec, config: BarlowTwinsConfig) -> SSLMethod:
    backbone = make_backbone(spec)
    projector = ProjectionHead(
        output_dim(backbone), config.projection_hidden_dim, config.projection_dim, num_layers=3
    )

    def objective(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        return barlow_twins_loss(z_a, z_b, config.lambda_offdiagonal, config.gather_distributed)

    return TwoViewMethod(backbone, projector, make_views(spec), objective)


@dataclass
class VICRegConfig:
    projection_hidden_dim: int = 512  # expander width (paper: 8192)
    projection_dim: int = 512  # embedding size (paper: 8192)
    invariance_weight: float = 25.0  # lambda (paper: 25)
    variance_weight: float = 25.0  # mu (paper: 25)
    covariance_weight: float = 1.0  # nu (paper: 1)
    gather_distributed: bool = False  # variance/covariance over the global batch


@register_method("vicreg", VICRegConfig, "Bardes et al., VICReg, ICLR 2022")
def build_vicreg(spec: InputSpec, config: VICRegConfig) -> SSLMethod:
    backbone = make_backbone(spec)
    projector = ProjectionHead(
        output_dim(backbone), config.projection_hidden_dim, config.projection_dim, num_layers=3
    )

    def objective(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        return vicreg_loss(
            z_a,
            z_b,
            config.invariance_weight,
            config.variance_weight,
            config.covariance_weight,
            config.gather_distributed,
        )

    return TwoViewMethod(backbone, projector, make_views(spec), objective)


@dataclass
class InstanceTripletConfig:
    projection_hidden_dim: int = 256  # projector width
    projection_dim: int = 64  # embedding size
    margin: float = 0.2  # triplet margin on unit-length embeddings (FaceNet: 0.2)


@register_method(
    "instance_triplet",
    InstanceTripletConfig,
    "Hermans et al. 2017 batch-hard triplet; instance labels from views (terrain pipeline's loss)",
)
def build_instance_triplet(spec: InputSpec, config: InstanceTripletConfig) -> SSLMethod:
    backbone = make_backbone(spec)
    projector = ProjectionHead(
        output_dim(backbone), config.projection_hidden_dim, config.projection_dim, num_layers=2
    )

    def objective(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        embeddings = torch.nn.functional.normalize(torch.cat([z_a, z_b]), dim=1)
        labels = torch.arange(z_a.shape[0], device=z_a.device).repeat(2)
        return batch_hard_triplet_loss(embeddings, labels, config.margin)

    return TwoViewMethod(backbone, projector, make_views(spec), objective)
