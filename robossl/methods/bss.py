"""BSS (Batch Styles Standardization) + SimCLR: every view of a batch takes the Fourier style of one of its
samples, so negatives cannot be told apart by style (sensor gain, lighting, device, robot platform).

Reference: Scalbert, Vakalopoulou, Couzinie-Devy, "Towards domain-invariant Self-Supervised Learning with
Batch Styles Standardization", ICLR 2024. The style is the low-frequency amplitude spectrum (Fourier Domain
Adaptation, Yang and Soatto, CVPR 2020): for each view, one sample of the batch is drawn as the reference and
every sample's amplitudes in the band of half-width ``floor(r * size)`` around frequency 0 are replaced by
the reference's, phases kept; ``r`` is drawn per view in ``[band_ratio_min, band_ratio_max]`` (FDA used
0.01-0.09). Images: 2-D spectrum per channel; IMU windows and spectrogram frames ``(B, T, C)``: spectrum
along time per channel. No domain labels are needed. The objective is SimCLR's NT-Xent on the standardised
views (the paper's main combination).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from robossl.heads import ProjectionHead
from robossl.losses.nt_xent import nt_xent_loss
from robossl.methods.base import InputSpec, SSLMethod
from robossl.methods.components import make_backbone, make_views, output_dim
from robossl.methods.registry import register_method
from robossl.methods.two_view import TwoViewMethod


def standardize_series_styles(
    x: torch.Tensor, reference: int, band: int, keep_zero_frequency: bool = False
) -> torch.Tensor:
    """Give every window of ``x`` ``(B, T, C)`` the low-frequency amplitudes of window ``reference``.

    Args:
        x: ``(B, T, C)`` windows (time along axis 1).
        reference: index of the window whose style every window takes.
        band: the lowest ``band + 1`` frequency bins (0 .. band) are replaced.
        keep_zero_frequency: keep each window's own bin 0 (its mean: on IMU windows, gravity / posture).

    Returns:
        ``(B, T, C)`` windows with the reference's amplitudes in the band and their own phases.
    """
    if x.ndim != 3:
        raise ValueError(f"series style standardisation expects (B, T, C), got {tuple(x.shape)}")
    spectrum = torch.fft.rfft(x, dim=1)  # (B, T // 2 + 1, C)
    amplitude, phase = spectrum.abs(), torch.angle(spectrum)
    first = 1 if keep_zero_frequency else 0
    last = min(band, spectrum.shape[1] - 1)
    if last >= first:
        amplitude = amplitude.clone()
        amplitude[:, first : last + 1] = amplitude[reference, first : last + 1]
    return torch.fft.irfft(torch.polar(amplitude, phase), n=x.shape[1], dim=1)


def standardize_image_styles(images: torch.Tensor, reference: int, band: int) -> torch.Tensor:
    """Give every image of ``(B, C, H, W)`` the low-frequency amplitudes of image ``reference``.

    The centred square of frequencies ``-band .. band`` on both axes (FDA's region) takes the reference's
    amplitudes per channel; phases are kept; the result is clamped to [0, 1].
    """
    if images.ndim != 4:
        raise ValueError(f"image style standardisation expects (B, C, H, W), got {tuple(images.shape)}")
    height, width = images.shape[-2:]
    spectrum = torch.fft.fftshift(torch.fft.fft2(images), dim=(-2, -1))
    amplitude, phase = spectrum.abs(), torch.angle(spectrum)
    centre_y, centre_x = height // 2, width // 2
    rows = slice(max(0, centre_y - band), min(height, centre_y + band + 1))
    columns = slice(max(0, centre_x - band), min(width, centre_x + band + 1))
    amplitude = amplitude.clone()
    amplitude[:, :, rows, columns] = amplitude[reference, :, rows, columns]
    standardized = torch.polar(amplitude, phase)
    return torch.fft.ifft2(torch.fft.ifftshift(standardized, dim=(-2, -1))).real.clamp(0, 1)


class BatchStyleViews:
    """Wrap a view generator: ``views(batch, generator)`` then one shared style per call.

    Args:
        views: the modality's view generator ``(batch, generator) -> views``.
        band_ratio: ``(low, high)`` range of ``r``; the band half-width is ``floor(r * size)`` bins, size = T
            for windows and min(H, W) for images.
        keep_zero_frequency: windows only: keep each window's mean.
    """

    def __init__(
        self,
        views: Callable[[torch.Tensor, torch.Generator | None], torch.Tensor],
        band_ratio: tuple[float, float] = (0.01, 0.1),
        keep_zero_frequency: bool = False,
    ) -> None:
        low, high = band_ratio
        if not 0.0 <= low <= high <= 0.5:
            raise ValueError(f"band ratios must satisfy 0 <= min <= max <= 0.5, got {band_ratio}")
        self.views = views
        self.band_ratio = band_ratio
        self.keep_zero_frequency = keep_zero_frequency

    def __call__(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        views = self.views(batch, generator)
        draw = torch.rand(2, generator=generator, device=batch.device).tolist()
        reference = min(int(draw[0] * views.shape[0]), views.shape[0] - 1)
        ratio = self.band_ratio[0] + draw[1] * (self.band_ratio[1] - self.band_ratio[0])
        if views.ndim == 4:
            band = int(ratio * min(views.shape[-2:]))
            return standardize_image_styles(views, reference, band)
        band = int(ratio * views.shape[1])
        return standardize_series_styles(views, reference, band, self.keep_zero_frequency)


@dataclass
class BSSConfig:
    projection_hidden_dim: int = 512  # SimCLR projector width (paper: 2048)
    projection_dim: int = 128  # NT-Xent embedding size (paper: 128)
    temperature: float = 0.5  # NT-Xent temperature
    band_ratio_min: float = 0.01  # smallest style band, fraction of the size (FDA: 0.01)
    band_ratio_max: float = 0.1  # largest style band (FDA: 0.09)
    keep_zero_frequency: bool = False  # IMU/spectrogram: keep each window's mean (gravity/posture cue)
    gather_distributed: bool = False  # NT-Xent negatives from every process


@register_method(
    "bss",
    BSSConfig,
    "Scalbert et al., Towards domain-invariant SSL with Batch Styles Standardization, ICLR 2024 (+ SimCLR)",
    modalities=("image", "imu", "spectrogram"),
)
def build_bss(spec: InputSpec, config: BSSConfig) -> SSLMethod:
    backbone = make_backbone(spec)
    projector = ProjectionHead(
        output_dim(backbone), config.projection_hidden_dim, config.projection_dim, num_layers=2
    )
    views = BatchStyleViews(
        make_views(spec), (config.band_ratio_min, config.band_ratio_max), config.keep_zero_frequency
    )

    def objective(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        return nt_xent_loss(z_a, z_b, config.temperature, config.gather_distributed)

    return TwoViewMethod(backbone, projector, views, objective)
