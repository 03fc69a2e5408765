"""IMU / time-series encoder: ColloSSL's three-convolution 1-D CNN.

Reference: Jain et al., "ColloSSL: Collaborative Self-Supervised Learning for Human Activity Recognition",
IMWUT 2022 (the authors' TensorFlow encoder: Conv1D 32 k24 -> 64 k16 -> 96 k8, ReLU, dropout 0.1, global
max pool). Their code uses "valid" padding on long windows; the default here is "same" padding so that
short windows (1 s at 32 Hz) still fit.
"""

from __future__ import annotations

import torch
from torch import nn

_PADDINGS = ("same", "valid")


class ImuConvEncoder(nn.Module):
    """Three 1-D convolutions with ReLU and dropout, then a global max pool over time.

    Args:
        in_channels: sensor channels C (6 for accelerometer + gyroscope).
        channels: output channels of the three convolutions.
        kernel_sizes: kernel sizes (samples) of the three convolutions.
        dropout: dropout probability after every convolution.
        padding: "same" (any window length) or "valid" (the authors' choice; window must be longer than
            the sum of the kernel sizes minus 2).

    Shapes:
        input ``(B, T, C)`` float (time first, like a window of IMU rows); output ``(B, out_dim)``.
    """

    def __init__(
        self,
        in_channels: int,
        channels: tuple[int, int, int] = (32, 64, 96),
        kernel_sizes: tuple[int, int, int] = (24, 16, 8),
        dropout: float = 0.1,
        padding: str = "same",
    ) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        if len(channels) != len(kernel_sizes):
            raise ValueError(
                f"channels ({len(channels)}) and kernel_sizes ({len(kernel_sizes)}) must have equal length"
            )
        if padding not in _PADDINGS:
            raise ValueError(f"padding must be one of {_PADDINGS}, got {padding!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        layers: list[nn.Module] = []
        previous = in_channels
        for width, kernel in zip(channels, kernel_sizes):
            if padding == "same":
                # Explicit asymmetric zero padding: torch's padding="same" copies the input for even kernels.
                layers.append(nn.ConstantPad1d(((kernel - 1) // 2, kernel // 2), 0.0))
            layers += [nn.Conv1d(previous, width, kernel), nn.ReLU(), nn.Dropout(dropout)]
            previous = width
        self.features = nn.Sequential(*layers)
        self.in_channels = in_channels
        self.min_length = 1 if padding == "same" else sum(kernel_sizes) - len(kernel_sizes) + 1
        self.out_dim = previous

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode ``x`` of shape ``(B, T, C)`` into ``(B, out_dim)``."""
        if x.ndim != 3 or x.shape[-1] != self.in_channels:
            raise ValueError(
                f"ImuConvEncoder expects (batch, time, {self.in_channels}) windows, got {tuple(x.shape)}; "
                "transpose (B, C, T) input with x.transpose(1, 2)"
            )
        if x.shape[1] < self.min_length:
            raise ValueError(
                f"window of {x.shape[1]} samples is shorter than the {self.min_length} that 'valid' "
                "padding needs; use padding='same' or longer windows"
            )
        return self.features(x.transpose(1, 2)).amax(dim=-1)
