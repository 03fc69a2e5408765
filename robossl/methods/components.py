"""Default backbone and view generator for each input modality."""

from __future__ import annotations

import torch
from torch import nn

from robossl.backbones import ImageCNN, ImuConvEncoder, MLPEncoder, SpectrogramEncoder
from robossl.methods.base import InputSpec
from robossl.transforms import (
    FeatureViews,
    ImageViewConfig,
    ImageViews,
    ImuViewConfig,
    ImuViews,
    SpectrogramViews,
)


class FramesToSpectrogram(nn.Module):
    """Adapter: ``(B, T, F)`` frames -> the spectrogram encoder's ``(B, 1, F, T)`` input."""

    def __init__(self, encoder: SpectrogramEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.out_dim = encoder.out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.transpose(1, 2).unsqueeze(1))


def output_dim(backbone: nn.Module) -> int:
    """The ``out_dim`` every robossl encoder exposes (representation size D)."""
    dim = getattr(backbone, "out_dim", None)
    if not isinstance(dim, int):
        raise ValueError(
            f"{type(backbone).__name__} has no integer out_dim; robossl backbones must expose one"
        )
    return dim


def make_backbone(spec: InputSpec) -> nn.Module:
    """The default edge encoder for ``spec`` (has ``out_dim``)."""
    if spec.modality == "image":
        return ImageCNN(in_channels=spec.shape[0])
    if spec.modality == "imu":
        return ImuConvEncoder(in_channels=spec.shape[1])
    if spec.modality == "spectrogram":
        return FramesToSpectrogram(SpectrogramEncoder(in_channels=1))
    return MLPEncoder(spec.shape[0])


def make_views(spec: InputSpec) -> ImageViews | ImuViews | SpectrogramViews | FeatureViews:
    """The default view generator for ``spec`` (callable ``(batch, generator)`` with a ``local`` method)."""
    if spec.modality == "image":
        height, width = spec.shape[1:]
        return ImageViews(
            ImageViewConfig(output_size=(height, width), local_size=(max(8, height // 2), max(8, width // 2)))
        )
    if spec.modality == "imu":
        return ImuViews(ImuViewConfig(rotation_groups=spec.rotation_groups))
    if spec.modality == "spectrogram":
        return SpectrogramViews()
    return FeatureViews()
