"""Monocular depth student: a FastDepth-like encoder-decoder for edge CPUs.

After Wofk et al. 2019 (FastDepth): a MobileNet-style encoder of depthwise-separable convolutions, a
decoder of nearest-neighbour upsampling + 5x5 depthwise-separable convolutions ("NNConv5"), and additive
skip connections from the encoder. Differences: a width multiplier and a single grey input channel (the
stereo cameras are grey), and the head predicts log depth, so depth = exp(output) is positive and the loss
can work in log space. With the default ``width=0.75`` the network has about 1.0 M parameters (1.8 M at 1.0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class StudentConfig:
    """Architecture and input geometry of the student."""

    input_height: int = 128  # network input height, pixels; multiple of 32
    input_width: int = 160  # network input width, pixels; multiple of 32
    width: float = 0.75  # channel multiplier (0.75: ~1.0 M parameters, 1.0: ~1.8 M, 0.5: ~0.5 M)
    min_depth_m: float = 0.1  # predictions are clamped to [min_depth_m, max_depth_m]
    max_depth_m: float = 20.0
    init_depth_m: float = 2.0  # depth the untrained network predicts everywhere (bias of the head)

    def __post_init__(self) -> None:
        if self.input_height % 32 or self.input_width % 32:
            raise ValueError(
                f"student input {self.input_width}x{self.input_height} must be multiples of 32 (5 stride-2 stages)"
            )
        if not 0 < self.min_depth_m < self.init_depth_m < self.max_depth_m:
            raise ValueError("need 0 < min_depth_m < init_depth_m < max_depth_m")


def _separable(in_ch: int, out_ch: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, in_ch, kernel, stride, kernel // 2, groups=in_ch, bias=False),
        nn.BatchNorm2d(in_ch),
        nn.ReLU(inplace=True),
        nn.Conv2d(in_ch, out_ch, 1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class MonoDepthNet(nn.Module):
    """Grey image (B, 1, H, W) uint8-range float or [0, 1] -> depth (B, 1, H, W) in metres.

    Input values are expected in [0, 1]; the network normalises them itself, so exported ONNX models take
    the same input.
    """

    def __init__(self, config: StudentConfig | None = None) -> None:
        super().__init__()
        self.config = config or StudentConfig()
        w = self.config.width

        def ch(n: int) -> int:
            return max(8, int(round(n * w / 8)) * 8)

        c = [ch(32), ch(64), ch(128), ch(256), ch(512)]
        self.stem = nn.Sequential(
            nn.Conv2d(1, c[0], 3, 2, 1, bias=False), nn.BatchNorm2d(c[0]), nn.ReLU(inplace=True)
        )
        # encoder stages at 1/2, 1/4, 1/8, 1/16, 1/32 resolution
        self.enc1 = _separable(c[0], c[1])  # 1/2
        self.enc2 = nn.Sequential(_separable(c[1], c[2], 2), _separable(c[2], c[2]))  # 1/4
        self.enc3 = nn.Sequential(_separable(c[2], c[3], 2), _separable(c[3], c[3]))  # 1/8
        self.enc4 = nn.Sequential(
            _separable(c[3], c[4], 2), _separable(c[4], c[4]), _separable(c[4], c[4])
        )  # 1/16
        self.enc5 = nn.Sequential(_separable(c[4], c[4], 2), _separable(c[4], c[4]))  # 1/32
        # decoder: NNConv5 blocks, each followed by x2 nearest upsampling and an additive skip
        self.dec5 = _separable(c[4], c[4], kernel=5)  # 1/32 -> 1/16, + enc4
        self.dec4 = _separable(c[4], c[3], kernel=5)  # 1/16 -> 1/8, + enc3
        self.dec3 = _separable(c[3], c[2], kernel=5)  # 1/8 -> 1/4, + enc2
        self.dec2 = _separable(c[2], c[1], kernel=5)  # 1/4 -> 1/2, + enc1
        self.dec1 = _separable(c[1], c[0], kernel=5)  # 1/2 -> 1/1
        self.head = nn.Conv2d(c[0], 1, 1)
        nn.init.zeros_(self.head.weight)
        assert self.head.bias is not None
        nn.init.constant_(self.head.bias, float(torch.log(torch.tensor(self.config.init_depth_m))))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Args: image (B, 1, H, W) in [0, 1], H and W multiples of 32. Returns depth (B, 1, H, W), metres."""
        x = (image - 0.5) * 4.0
        s0 = self.stem(x)
        s1 = self.enc1(s0)
        s2 = self.enc2(s1)
        s3 = self.enc3(s2)
        s4 = self.enc4(s3)
        s5 = self.enc5(s4)
        y = F.interpolate(self.dec5(s5), scale_factor=2.0, mode="nearest") + s4
        y = F.interpolate(self.dec4(y), scale_factor=2.0, mode="nearest") + s3
        y = F.interpolate(self.dec3(y), scale_factor=2.0, mode="nearest") + s2
        y = F.interpolate(self.dec2(y), scale_factor=2.0, mode="nearest") + s1
        # The 1x1 head, clamp and exp act per pixel, so they commute with nearest upsampling: running them at
        # half resolution and upsampling one channel gives the same output as upsampling 24 channels first,
        # with a quarter of the work at the largest resolution.
        log_depth = self.head(self.dec1(y))
        depth = torch.exp(
            torch.clamp(log_depth, math.log(self.config.min_depth_m), math.log(self.config.max_depth_m))
        )
        return F.interpolate(depth, scale_factor=2.0, mode="nearest")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
