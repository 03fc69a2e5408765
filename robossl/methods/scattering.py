"""A fixed 2-D Morlet scattering transform (Mallat 2012; Bruna and Mallat 2013) in plain torch: ScatSimCLR's
front end, without a new dependency.

Filters follow Kymatio's 2-D Morlet bank: ``psi_{j, l}`` at scale ``2^j`` (``sigma = 0.8 * 2^j``, centre
frequency ``xi = 3 pi / 4 / 2^j``, slant ``4 / L``) and angle ``pi l / L``, made zero-mean; the low-pass
``phi_J`` is a unit-sum Gaussian of ``sigma = 0.8 * 2^J``. Coefficients, each averaged by ``phi_J`` and
subsampled by ``2^J``: order 0 ``x * phi``; order 1 ``|x * psi_{j1}| * phi``; order 2
``||x * psi_{j1}| * psi_{j2}| * phi`` for ``j2 > j1``: ``1 + J L + L^2 J (J - 1) / 2`` maps per input
channel (81 for J = 2, L = 8). Convolutions are products in the Fourier domain on the reflect-padded input (as Kymatio does).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _grid(radius: int) -> tuple[torch.Tensor, torch.Tensor]:
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    y, x = torch.meshgrid(offsets, offsets, indexing="ij")
    return y, x


def gaussian_filter(sigma: float, radius: int) -> torch.Tensor:
    """``(2 r + 1, 2 r + 1)`` isotropic Gaussian normalised to unit sum."""
    y, x = _grid(radius)
    g = torch.exp(-(x**2 + y**2) / (2 * sigma**2))
    return g / g.sum()


def morlet_filter(sigma: float, theta: float, xi: float, slant: float, radius: int) -> torch.Tensor:
    """``(2 r + 1, 2 r + 1)`` complex zero-mean Morlet wavelet oriented at ``theta`` (radians)."""
    y, x = _grid(radius)
    along = x * math.cos(theta) + y * math.sin(theta)  # coordinate along the oscillation
    across = -x * math.sin(theta) + y * math.cos(theta)
    envelope = torch.exp(-(along**2 + (slant * across) ** 2) / (2 * sigma**2))
    gabor = envelope * torch.exp(1j * xi * along)
    beta = gabor.sum() / envelope.sum()  # removes the mean so the wavelet ignores constant regions
    return (gabor - beta * envelope) * (slant / (2 * math.pi * sigma**2))


def scattering_channels(scales: int, orientations: int) -> int:
    """Output maps per input channel: ``1 + J L + L^2 J (J - 1) / 2``."""
    return 1 + scales * orientations + orientations**2 * scales * (scales - 1) // 2


class Scattering2D(nn.Module):
    """Fixed (non-trainable) scattering of ``(B, C, H, W)`` -> ``(B, C * K, ceil(H / 2^J), ceil(W / 2^J))``.

    Args:
        scales: J >= 1 (ScatSimCLR: 2).
        orientations: L >= 1 (ScatSimCLR: 8).
        max_order: 1 or 2.
    """

    wavelets: torch.Tensor
    lowpass: torch.Tensor

    def __init__(self, scales: int = 2, orientations: int = 8, max_order: int = 2) -> None:
        super().__init__()
        if scales < 1 or orientations < 1 or max_order not in (1, 2):
            raise ValueError(
                f"need scales >= 1, orientations >= 1, max_order 1 or 2; got {scales}, {orientations}, {max_order}"
            )
        self.scales, self.orientations, self.max_order = scales, orientations, max_order
        radius = int(math.ceil(3 * 0.8 * 2 ** (scales - 1))) + 1
        wavelets = [
            morlet_filter(
                0.8 * 2**j, math.pi * ell / orientations, 3 * math.pi / 4 / 2**j, 4 / orientations, radius
            )
            for j in range(scales)
            for ell in range(orientations)
        ]
        self.register_buffer(
            "wavelets", torch.stack(wavelets).to(torch.complex64), persistent=False
        )  # (J L, k, k)
        phi_radius = int(math.ceil(3 * 0.8 * 2**scales))
        self.register_buffer(
            "lowpass", gaussian_filter(0.8 * 2**scales, phi_radius).float(), persistent=False
        )
        self.padding = max(
            radius, phi_radius
        )  # reflect padding so circular FFT convolution acts linearly inside
        self.out_channels_per_input = (
            scattering_channels(scales, orientations) if max_order == 2 else 1 + scales * orientations
        )

    @staticmethod
    def _spectrum(kernel: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """FFT of ``(..., k, k)`` kernels centred at the origin of a ``height x width`` periodic grid."""
        radius = kernel.shape[-1] // 2
        grid = torch.zeros(*kernel.shape[:-2], height, width, dtype=kernel.dtype, device=kernel.device)
        grid[..., : kernel.shape[-2], : kernel.shape[-1]] = kernel
        return torch.fft.fft2(torch.roll(grid, shifts=(-radius, -radius), dims=(-2, -1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"scattering expects (B, C, H, W), got {tuple(x.shape)}")
        batch, channels, height, width = x.shape
        if min(height, width) <= self.padding:
            raise ValueError(
                f"inputs of {height}x{width} are too small for scattering with J={self.scales} (reflect padding "
                f"needs more than {self.padding} pixels); lower scales or use larger frames"
            )
        p, stride = self.padding, 2**self.scales
        padded = F.pad(x.reshape(batch * channels, 1, height, width), (p, p, p, p), mode="reflect").squeeze(1)
        grid_h, grid_w = padded.shape[-2:]
        psi = self._spectrum(self.wavelets, grid_h, grid_w)  # (J L, Hp, Wp)
        phi = self._spectrum(self.lowpass.to(psi.dtype), grid_h, grid_w)

        def average(maps: torch.Tensor) -> torch.Tensor:
            """Low-pass ``(N, M, Hp, Wp)`` maps, crop the padding and subsample: ``(N, M, H', W')``."""
            smooth = torch.fft.ifft2(torch.fft.fft2(maps) * phi).real
            return smooth[..., p : p + height : stride, p : p + width : stride]

        spectrum = torch.fft.fft2(padded).unsqueeze(1)  # (N, 1, Hp, Wp)
        first = torch.fft.ifft2(spectrum * psi).abs()  # (N, J L, Hp, Wp)
        maps = [average(padded.unsqueeze(1)), average(first)]
        if self.max_order == 2:
            per_scale = first.view(len(first), self.scales, self.orientations, grid_h, grid_w)
            psi_scales = psi.view(self.scales, self.orientations, grid_h, grid_w)
            for j1 in range(self.scales - 1):
                u1 = torch.fft.fft2(per_scale[:, j1]).unsqueeze(2).unsqueeze(2)  # (N, L, 1, 1, Hp, Wp)
                u2 = torch.fft.ifft2(u1 * psi_scales[j1 + 1 :]).abs()  # (N, L, J - j1 - 1, L, Hp, Wp)
                maps.append(average(u2.reshape(len(first), -1, grid_h, grid_w)))
        out = torch.cat(maps, dim=1)
        return out.view(batch, channels * out.shape[1], *out.shape[-2:])
