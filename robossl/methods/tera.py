"""TERA: a frame Transformer reconstructs the original frames from time/frequency/magnitude-altered input."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from robossl.backbones.frames import FrameTransformer
from robossl.losses.tera import tera_loss
from robossl.methods.base import InputSpec, SSLMethod
from robossl.methods.registry import register_method
from robossl.transforms.spectrogram import TeraAlterationConfig, tera_alter


class TERAMethod(SSLMethod):
    """``FrameTransformer`` + linear reconstruction head; probes use the mean-pooled frame encoding."""

    backbone: FrameTransformer

    def __init__(self, backbone: FrameTransformer, alteration: TeraAlterationConfig) -> None:
        super().__init__()
        self.backbone = backbone
        self.reconstruction = nn.Linear(backbone.out_dim, backbone.in_features)
        self.alteration = alteration

    def forward(  # type: ignore[override]
        self, batch: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        altered, mask = tera_alter(batch, self.alteration, generator)
        reconstruction = self.reconstruction(self.backbone.encode_frames(altered))
        loss = tera_loss(reconstruction, batch, mask)
        return loss, {"loss": loss.detach(), "altered_fraction": mask.float().mean()}


@dataclass
class TERAConfig:
    dim: int = 64  # Transformer width (paper: 768)
    depth: int = 2  # Transformer layers (paper: 3)
    heads: int = 4  # attention heads (paper: 12)
    time_block: int = 7  # frames per time-alteration block (paper: 7)
    time_fraction: float = 0.15  # fraction of frames altered in time (paper: 15 %)
    max_frequency_width: int = 2  # widest zeroed frequency/channel band (paper: 20 % of 80 mel bins)
    noise_probability: float = 0.1  # magnitude alteration probability (paper: 0.1)
    noise_std: float = 0.2  # magnitude noise std (standardised units)


@register_method(
    "tera", TERAConfig, "Liu, Li, Lee, TERA, IEEE/ACM TASLP 2021", modalities=("imu", "spectrogram")
)
def build_tera(spec: InputSpec, config: TERAConfig) -> SSLMethod:
    backbone = FrameTransformer(spec.shape[1], config.dim, config.depth, config.heads)
    alteration = TeraAlterationConfig(
        time_block=config.time_block,
        time_fraction=config.time_fraction,
        max_frequency_width=config.max_frequency_width,
        noise_probability=config.noise_probability,
        noise_std=config.noise_std,
    )
    return TERAMethod(backbone, alteration)
