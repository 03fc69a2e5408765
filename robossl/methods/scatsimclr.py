"""ScatSimCLR: a fixed scattering front end (:mod:`robossl.methods.scattering`, J = 2, L = 8) and a small
trainable CNN as the encoder, SimCLR's two views and projector, and a pretext head that predicts which
transformation was applied to a third input (:mod:`robossl.losses.scatsimclr`).

Pretext transformations: rotation by 0/90/180/270 degrees for square images (the paper's task); for
non-square images and spectrograms (frequency x time) the four flips (none, time/horizontal,
frequency/vertical, both), which keep the shape. The pretext head is the authors' (512 -> 128 -> 4 with
dropout 0.5, here on the encoder output). A batch norm on the scattering maps scales the coefficients for
the CNN (our addition).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from robossl.backbones import ImageCNN
from robossl.heads import ProjectionHead
from robossl.losses.scatsimclr import scatsimclr_loss
from robossl.methods.base import InputSpec, SSLMethod
from robossl.methods.components import make_views
from robossl.methods.registry import register_method
from robossl.methods.scattering import Scattering2D


class ScatteringEncoder(nn.Module):
    """Scattering -> batch norm -> stride-2 CNN -> global average: ``(B, C, H, W)`` (or spectrogram frames
    ``(B, T, F)``) -> ``(B, out_dim)``."""

    def __init__(
        self,
        in_channels: int,
        scattering: Scattering2D,
        widths: tuple[int, ...],
        frames: bool,
    ) -> None:
        super().__init__()
        self.scattering = scattering
        channels = in_channels * self.scattering.out_channels_per_input
        self.norm = nn.BatchNorm2d(channels)
        self.cnn = ImageCNN(channels, widths)
        self.frames = frames
        self.out_dim = self.cnn.out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.frames:
            x = x.transpose(1, 2).unsqueeze(1)  # (B, T, F) -> (B, 1, F, T)
        return self.cnn(self.norm(self.scattering(x)))


def pretext_transform(x: torch.Tensor, labels: torch.Tensor, rotations: bool) -> torch.Tensor:
    """Apply transformation ``labels[i]`` in {0, 1, 2, 3} to sample i of ``x`` over its last two axes:
    rotation by ``90 * label`` degrees, or the flips none / last axis / second-to-last axis / both."""
    out = x.clone()
    for label in range(1, 4):
        chosen = labels == label
        if not bool(chosen.any()):
            continue
        if rotations:
            out[chosen] = torch.rot90(x[chosen], label, dims=(-2, -1))
        else:
            dims = {1: (-1,), 2: (-2,), 3: (-2, -1)}[label]
            out[chosen] = torch.flip(x[chosen], dims=dims)
    return out


class ScatSimCLRMethod(SSLMethod):
    def __init__(
        self,
        backbone: ScatteringEncoder,
        projector: nn.Module,
        pretext_head: nn.Module,
        views: Callable,
        rotations: bool,
        temperature: float,
        pretext_weight: float,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = projector
        self.pretext_head = pretext_head
        self.views = views
        self.rotations = rotations
        self.temperature = temperature
        self.pretext_weight = pretext_weight

    def forward(  # type: ignore[override]
        self, batch: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        n = batch.shape[0]
        labels = torch.randint(0, 4, (n,), generator=generator, device=batch.device)
        pretext_input = pretext_transform(self.views(batch, generator), labels, self.rotations)
        features = self.backbone(
            torch.cat([self.views(batch, generator), self.views(batch, generator), pretext_input])
        )
        z_a, z_b = self.projector(features[: 2 * n]).chunk(2)
        logits = self.pretext_head(features[2 * n :])
        loss = scatsimclr_loss(z_a, z_b, logits, labels, self.temperature, self.pretext_weight)
        accuracy = (logits.detach().argmax(1) == labels).float().mean()
        return loss, {"loss": loss.detach(), "pretext_accuracy": accuracy}


@dataclass
class ScatSimCLRConfig:
    scales: int = 2  # scattering J (paper: 2)
    orientations: int = 8  # scattering L (paper: 8)
    max_order: int = 1  # scattering order (paper: 2, 81 maps per channel at J=2, L=8; order 2 costs about
    # 3x the CPU time of order 1, 17 maps)
    projection_hidden_dim: int = 512  # projector width
    projection_dim: int = 128  # NT-Xent embedding size (paper: 128)
    temperature: float = 0.5  # paper: 0.5
    pretext_weight: float = 0.3  # lambda (paper: 0.3)


@register_method(
    "scatsimclr",
    ScatSimCLRConfig,
    "Kinakh, Taran, Voloshynovskiy, ScatSimCLR, ICCV 2021 workshops",
    modalities=("image", "spectrogram"),
)
def build_scatsimclr(spec: InputSpec, config: ScatSimCLRConfig) -> SSLMethod:
    frames = spec.modality == "spectrogram"
    in_channels = 1 if frames else spec.shape[0]
    height, width = (spec.shape[1], spec.shape[0]) if frames else spec.shape[1:]
    scattering = Scattering2D(config.scales, config.orientations, config.max_order)
    if min(height, width) <= scattering.padding:
        raise ValueError(
            f"{height}x{width} inputs are too small for scattering with scales={config.scales} (needs more than "
            f"{scattering.padding} pixels per side); set scales=1 or use larger frames"
        )
    backbone = ScatteringEncoder(in_channels, scattering, (128, 256, 256), frames)
    projector = ProjectionHead(
        backbone.out_dim, config.projection_hidden_dim, config.projection_dim, num_layers=2
    )
    pretext_head = nn.Sequential(
        nn.Linear(backbone.out_dim, 512),
        nn.ReLU(inplace=True),
        nn.Dropout(0.5),
        nn.Linear(512, 128),
        nn.ReLU(inplace=True),
        nn.Dropout(0.5),
        nn.Linear(128, 4),
    )
    rotations = not frames and height == width
    return ScatSimCLRMethod(
        backbone,
        projector,
        pretext_head,
        make_views(spec),
        rotations,
        config.temperature,
        config.pretext_weight,
    )
