"""T-JEPA: predict the EMA target encoder's representation of a feature subset from another subset."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from robossl.backbones.feature_tokens import FeatureTokenEncoder
from robossl.heads.tjepa_predictor import TJEPAPredictor
from robossl.losses.tjepa import tjepa_loss
from robossl.methods.base import InputSpec, SSLMethod
from robossl.methods.ema import cosine_momentum, ema_update, make_teacher
from robossl.methods.registry import register_method
from robossl.transforms.features import sample_feature_subsets


class TJEPAMethod(SSLMethod):
    """Context encoder (trained), target encoder (EMA), predictor; probes use the context encoder."""

    backbone: FeatureTokenEncoder

    def __init__(self, backbone: FeatureTokenEncoder, predictor: TJEPAPredictor, config: TJEPAConfig) -> None:
        super().__init__()
        self.backbone = backbone
        self.predictor = predictor
        self.teacher = make_teacher(backbone)
        self.config = config

    def forward(  # type: ignore[override]
        self, batch: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        context_index, target_index = sample_feature_subsets(
            batch.shape[0],
            self.backbone.num_features,
            self.config.context_fraction,
            self.config.target_fraction,
            generator,
            batch.device,
        )
        context = self.backbone.encode(batch, context_index)
        with torch.no_grad():
            full = self.teacher.encode(batch)  # type: ignore[operator]
            target = torch.gather(full, 1, target_index.unsqueeze(-1).expand(-1, -1, full.shape[-1]))
        loss = tjepa_loss(self.predictor(context, target_index), target)
        return loss, {"loss": loss.detach(), "target_std": target.std(0).mean()}

    def after_optimizer_step(self, step: int, total_steps: int | None) -> None:
        ema_update(self.teacher, self.backbone, cosine_momentum(step, total_steps, self.config.momentum))


@dataclass
class TJEPAConfig:
    dim: int = 64  # token width
    depth: int = 2  # encoder layers
    heads: int = 4  # attention heads
    num_register_tokens: int = 2  # regularisation tokens (T-JEPA's anti-collapse device)
    predictor_dim: int = 32  # predictor width
    predictor_depth: int = 2  # predictor layers
    context_fraction: float = 0.5  # share of features the context encoder sees
    target_fraction: float = 0.3  # share of features to predict
    momentum: float = 0.996  # base EMA momentum of the target encoder


@register_method("tjepa", TJEPAConfig, "Thimonier et al., T-JEPA, 2024", modalities=("features",))
def build_tjepa(spec: InputSpec, config: TJEPAConfig) -> SSLMethod:
    backbone = FeatureTokenEncoder(
        spec.shape[0], config.dim, config.depth, config.heads, config.num_register_tokens
    )
    predictor = TJEPAPredictor(
        config.dim, spec.shape[0], config.predictor_dim, config.predictor_depth, config.heads
    )
    return TJEPAMethod(backbone, predictor, config)
