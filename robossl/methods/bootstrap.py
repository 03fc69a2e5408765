"""Methods without negatives: BYOL (EMA target + predictor), SimSiam (stop-gradient + predictor) and
DirectPred (EMA target + a linear predictor set from the feature correlation's eigen-decomposition).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from robossl.heads import PredictionHead, ProjectionHead
from robossl.losses.directpred import DirectPredictor
from robossl.losses.negative_cosine import negative_cosine_similarity
from robossl.methods.base import InputSpec, SSLMethod
from robossl.methods.components import make_backbone, make_views, output_dim
from robossl.methods.ema import cosine_momentum, ema_update, make_teacher
from robossl.methods.registry import register_method


def normalized_embedding_std(z: torch.Tensor) -> torch.Tensor:
    """Collapse monitor: mean per-dimension std of the L2-normalised ``(N, D)`` embeddings (0 = collapsed)."""
    return torch.nn.functional.normalize(z.detach(), dim=1).std(0).mean()


class BootstrapMethod(SSLMethod):
    """Online backbone -> projector -> predictor regresses the target branch of the other view.

    Args:
        backbone, projector: the online encoder.
        predictor: maps projections to predictions (``PredictionHead`` or ``DirectPredictor``).
        views: view generator.
        momentum: EMA momentum of the target branch (base of the cosine schedule); ``None`` = SimSiam
            (target = the online branch under stop-gradient, no teacher).
    """

    def __init__(
        self,
        backbone: nn.Module,
        projector: nn.Module,
        predictor: nn.Module,
        views: Callable[[torch.Tensor, torch.Generator | None], torch.Tensor],
        momentum: float | None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = projector
        self.predictor = predictor
        self.views = views
        self.momentum = momentum
        self.teacher = make_teacher(nn.Sequential(backbone, projector)) if momentum is not None else None

    def forward(  # type: ignore[override]
        self, batch: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        views = torch.cat([self.views(batch, generator), self.views(batch, generator)])
        z = self.projector(self.backbone(views))
        if isinstance(self.predictor, DirectPredictor) and self.training:
            self.predictor.update(z)
        p = self.predictor(z)
        if self.teacher is None:
            target = z.detach()
        else:
            with torch.no_grad():
                target = self.teacher(views)
        # Symmetric loss in one call: prediction of view a against target of view b and vice versa
        # (equal to symmetric_negative_cosine on the halves).
        loss = negative_cosine_similarity(p, target.roll(batch.shape[0], dims=0))
        return loss, {
            "loss": loss.detach(),
            "embedding_std": normalized_embedding_std(z),
        }

    def after_optimizer_step(self, step: int, total_steps: int | None) -> None:
        if self.teacher is not None and self.momentum is not None:
            student = nn.Sequential(self.backbone, self.projector)
            ema_update(self.teacher, student, cosine_momentum(step, total_steps, self.momentum))


@dataclass
class BYOLConfig:
    projection_hidden_dim: int = 512  # projector width (paper: 4096)
    projection_dim: int = 128  # projection size (paper: 256)
    prediction_hidden_dim: int = 512  # predictor width (paper: 4096)
    momentum: float = 0.99  # base EMA momentum, cosine-scheduled to 1 (paper: 0.996 for long runs)


@register_method("byol", BYOLConfig, "Grill et al., Bootstrap Your Own Latent, NeurIPS 2020")
def build_byol(spec: InputSpec, config: BYOLConfig) -> SSLMethod:
    backbone = make_backbone(spec)
    projector = ProjectionHead(
        output_dim(backbone), config.projection_hidden_dim, config.projection_dim, num_layers=2
    )
    predictor = PredictionHead(config.projection_dim, config.prediction_hidden_dim)
    return BootstrapMethod(backbone, projector, predictor, make_views(spec), config.momentum)


@dataclass
class SimSiamConfig:
    projection_hidden_dim: int = 512  # projector width (paper: 2048)
    projection_dim: int = 512  # projection size (paper: 2048)
    prediction_hidden_dim: int = 128  # predictor bottleneck (paper: 512 = dim / 4)


@register_method(
    "simsiam", SimSiamConfig, "Chen and He, Exploring Simple Siamese Representation Learning, CVPR 2021"
)
def build_simsiam(spec: InputSpec, config: SimSiamConfig) -> SSLMethod:
    backbone = make_backbone(spec)
    projector = ProjectionHead(
        output_dim(backbone),
        config.projection_hidden_dim,
        config.projection_dim,
        num_layers=3,
        last_batch_norm=True,
    )
    predictor = PredictionHead(config.projection_dim, config.prediction_hidden_dim)
    return BootstrapMethod(backbone, projector, predictor, make_views(spec), momentum=None)


@dataclass
class DirectPredConfig:
    projection_hidden_dim: int = 512  # projector width (paper: 4096)
    projection_dim: int = 128  # projection size (paper: 256)
    momentum: float = 0.99  # base EMA momentum of the target (BYOL setting)
    rho: float = 0.3  # weight of the old correlation estimate
    eps: float = 0.1  # added to the normalised sqrt eigenvalues
    update_interval: int = 1  # recompute the predictor every this many steps
    gather_distributed: bool = False  # average the correlation over processes


@register_method(
    "directpred",
    DirectPredConfig,
    "Tian, Chen, Ganguli, Understanding SSL Dynamics without Contrastive Pairs, ICML 2021",
)
def build_directpred(spec: InputSpec, config: DirectPredConfig) -> SSLMethod:
    backbone = make_backbone(spec)
    projector = ProjectionHead(
        output_dim(backbone), config.projection_hidden_dim, config.projection_dim, num_layers=2
    )
    predictor = DirectPredictor(
        config.projection_dim, config.rho, config.eps, config.update_interval, config.gather_distributed
    )
    return BootstrapMethod(backbone, projector, predictor, make_views(spec), config.momentum)
