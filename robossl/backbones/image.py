"""Small image CNN (~1 M parameters) for edge pretraining.

Five stride-2 3x3 convolutions with batch norm and ReLU, then global average pooling. Chosen to run at
tens of frames per second on an embedded CPU; swap in a larger backbone for offline work.
"""

from __future__ import annotations

import torch
from torch import nn


class ImageCNN(nn.Module):
    """Convolutional image encoder.

    Args:
        in_channels: image channels (3 for RGB, 1 for grey).
        widths: channels of the stride-2 stages; the default gives about 1.0 M parameters.

    Shapes:
        input ``(B, in_channels, H, W)`` float in [0, 1] (H, W >= 8); output ``(B, out_dim)``.
    """

    def __init__(self, in_channels: int = 3, widths: tuple[int, ...] = (32, 64, 128, 256, 256)) -> None:
        super().__init__()
        if in_channels < 1 or not widths:
            raise ValueError(f"need in_channels >= 1 and at least one width, got {in_channels}, {widths}")
        layers: list[nn.Module] = []
        previous = in_channels
        for width in widths:
            layers += [
                nn.Conv2d(previous, width, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            previous = width
        self.features = nn.Sequential(*layers)
        self.in_channels = in_channels
        self.out_dim = previous

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode images ``(B, C, H, W)`` into ``(B, out_dim)``."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"ImageCNN expects (batch, {self.in_channels}, height, width) images, got {tuple(x.shape)}; "
                "convert HWC uint8 frames with torch.from_numpy(img).permute(2, 0, 1).float() / 255"
            )
        return self.features(x).mean(dim=(2, 3))
