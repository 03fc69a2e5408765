"""Batched image views on ``(B, C, H, W)`` tensors in [0, 1] (SimCLR / BYOL augmentation family).

Random resized crop (one ``affine_grid`` + ``grid_sample`` for the whole batch), horizontal flip, colour
jitter (brightness, contrast, saturation), random greyscale and Gaussian blur, after Chen et al. 2020
(SimCLR) and Grill et al. 2020 (BYOL). Strengths are the papers' (jitter 0.4/0.4/0.2 at probability 0.8,
greyscale 0.2, blur 0.5); hue jitter is omitted (rarely useful for robot cameras).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class ImageViewConfig:
    output_size: tuple[int, int] = (64, 64)  # (height, width) of a global view in pixels
    local_size: tuple[int, int] = (32, 32)  # (height, width) of a local multi-crop view
    crop_scale: tuple[float, float] = (0.2, 1.0)  # area fraction range of global crops
    local_crop_scale: tuple[float, float] = (0.05, 0.2)  # area fraction range of local crops
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)  # aspect ratio range of crops
    flip_probability: float = 0.5  # chance of a horizontal flip
    color_jitter_probability: float = 0.8  # chance of colour jitter
    brightness: float = 0.4  # brightness factor range 1 +- brightness
    contrast: float = 0.4  # contrast factor range 1 +- contrast
    saturation: float = 0.2  # saturation factor range 1 +- saturation
    grayscale_probability: float = 0.2  # chance of converting to grey
    blur_probability: float = 0.5  # chance of Gaussian blur
    blur_sigma: tuple[float, float] = (0.1, 2.0)  # blur sigma range in pixels (at output size)

    def __post_init__(self) -> None:
        for name in (
            "flip_probability",
            "color_jitter_probability",
            "grayscale_probability",
            "blur_probability",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.0 < self.crop_scale[0] <= self.crop_scale[1] <= 1.0:
            raise ValueError(f"crop_scale must satisfy 0 < low <= high <= 1, got {self.crop_scale}")


def _uniform(
    shape: tuple[int, ...], low: float, high: float, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator, device=device)


def random_resized_crop(
    images: torch.Tensor,
    size: tuple[int, int],
    scale: tuple[float, float],
    ratio: tuple[float, float],
    flip_probability: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Crop a random area fraction/aspect of every image, optionally mirror it, and resize to ``size``."""
    batch, device = images.shape[0], images.device
    area = _uniform((batch,), scale[0], scale[1], generator, device)
    log_ratio = _uniform((batch,), math.log(ratio[0]), math.log(ratio[1]), generator, device)
    aspect = torch.exp(log_ratio)
    width = torch.sqrt(area * aspect).clamp(max=1.0)  # fraction of the image width
    height = torch.sqrt(area / aspect).clamp(max=1.0)
    centre_x = (1 - width) * (2 * torch.rand(batch, generator=generator, device=device) - 1)
    centre_y = (1 - height) * (2 * torch.rand(batch, generator=generator, device=device) - 1)
    flip = torch.rand(batch, generator=generator, device=device) < flip_probability
    theta = torch.zeros(batch, 2, 3, device=device, dtype=images.dtype)
    theta[:, 0, 0] = torch.where(flip, -width, width)
    theta[:, 0, 2] = centre_x
    theta[:, 1, 1] = height
    theta[:, 1, 2] = centre_y
    grid = F.affine_grid(theta, [batch, images.shape[1], size[0], size[1]], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _grey(images: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor([0.299, 0.587, 0.114], device=images.device, dtype=images.dtype)
    return (images * weights.view(1, 3, 1, 1)).sum(1, keepdim=True)


def color_jitter(
    images: torch.Tensor, config: ImageViewConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Per-image random brightness, contrast and saturation (RGB input), applied with probability."""
    batch, device = images.shape[0], images.device
    shape = (batch, 1, 1, 1)
    b = _uniform(shape, 1 - config.brightness, 1 + config.brightness, generator, device)
    c = _uniform(shape, 1 - config.contrast, 1 + config.contrast, generator, device)
    s = _uniform(shape, 1 - config.saturation, 1 + config.saturation, generator, device)
    out = (images * b).clamp(0, 1)
    mean = _grey(out).mean(dim=(2, 3), keepdim=True)
    out = ((out - mean) * c + mean).clamp(0, 1)
    out = ((out - _grey(out)) * s + _grey(out)).clamp(0, 1)
    chosen = torch.rand(shape, generator=generator, device=device) < config.color_jitter_probability
    return torch.where(chosen, out, images)


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each image with its own ``sigma`` ``(B,)`` (pixels) by a separable Gaussian (grouped conv)."""
    batch, channels, height, width = images.shape
    radius = max(1, int(math.ceil(3 * float(sigma.max()))))
    offsets = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    kernel = torch.exp(-0.5 * (offsets.unsqueeze(0) / sigma.unsqueeze(1)) ** 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(channels, dim=0)  # (B*C, k)
    flat = images.reshape(1, batch * channels, height, width)
    flat = F.pad(flat, (radius, radius, radius, radius), mode="reflect")
    flat = F.conv2d(flat, kernel.view(-1, 1, 1, 2 * radius + 1), groups=batch * channels)
    flat = F.conv2d(flat, kernel.view(-1, 1, 2 * radius + 1, 1), groups=batch * channels)
    return flat.view(batch, channels, height, width)


class ImageViews:
    """Random view generator: ``views(images, generator) -> (B, C, *output_size)``; ``views.local`` for
    small multi-crop views."""

    def __init__(self, config: ImageViewConfig | None = None) -> None:
        self.config = config or ImageViewConfig()

    def _augment(
        self,
        images: torch.Tensor,
        size: tuple[int, int],
        scale: tuple[float, float],
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        if images.ndim != 4:
            raise ValueError(
                f"image views expect (batch, channels, height, width) in [0, 1], got {tuple(images.shape)}"
            )
        cfg, batch, device = self.config, images.shape[0], images.device
        out = random_resized_crop(images, size, scale, cfg.crop_ratio, cfg.flip_probability, generator)
        if out.shape[1] == 3:
            out = color_jitter(out, cfg, generator)
            grey = torch.rand(batch, 1, 1, 1, generator=generator, device=device) < cfg.grayscale_probability
            out = torch.where(grey, _grey(out).expand_as(out), out)
        if cfg.blur_probability > 0:
            sigma = _uniform((batch,), cfg.blur_sigma[0], cfg.blur_sigma[1], generator, device)
            blur = torch.rand(batch, 1, 1, 1, generator=generator, device=device) < cfg.blur_probability
            out = torch.where(blur, gaussian_blur(out, sigma.to(out.dtype)), out)
        return out

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self._augment(images, self.config.output_size, self.config.crop_scale, generator)

    def local(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self._augment(images, self.config.local_size, self.config.local_crop_scale, generator)
