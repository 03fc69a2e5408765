"""Spectrogram encoder for audio and vibration (log-mel or STFT magnitude).

Four 3x3 convolution blocks (batch norm, ReLU, 2x2 max pool except the last), then mean over frequency and
max over time, so the encoder accepts clips of any length and any number of frequency bins >= 8.
"""

from __future__ import annotations

import torch
from torch import nn


class SpectrogramEncoder(nn.Module):
    """2-D CNN over a spectrogram.

    Args:
        in_channels: spectrogram channels (1 for a mono log-mel).
        widths: channels of the convolution blocks.

    Shapes:
        input ``(B, in_channels, F, T)`` (frequency bins x frames, log scale); output ``(B, out_dim)``.
    """

    def __init__(self, in_channels: int = 1, widths: tuple[int, ...] = (32, 64, 128, 128)) -> None:
        super().__init__()
        if in_channels < 1 or not widths:
            raise ValueError(f"need in_channels >= 1 and at least one width, got {in_channels}, {widths}")
        layers: list[nn.Module] = []
        previous = in_channels
        for index, width in enumerate(widths):
            layers += [nn.Conv2d(previous, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            if index < len(widths) - 1:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            previous = width
        self.features = nn.Sequential(*layers)
        self.in_channels = in_channels
        self.out_dim = previous

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode ``(B, C, F, T)`` spectrograms into ``(B, out_dim)``."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"SpectrogramEncoder expects (batch, {self.in_channels}, freq, frames), got {tuple(x.shape)}; "
                "add the channel axis with x.unsqueeze(1)"
            )
        return self.features(x).mean(dim=2).amax(dim=-1)
