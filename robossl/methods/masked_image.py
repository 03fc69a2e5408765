"""Masked image modelling for CNNs (SparK-style): the image CNN sees only the visible patches, run as a
sparse network; a light U-Net-style decoder fills the masked positions with learned mask tokens at every
scale and reconstructs the masked patches (:mod:`robossl.losses.masked_image`).

Sparse emulation, as SparK does it on dense hardware: the masked pixels are zeroed, every convolution's
output is zeroed again outside the visible positions of its resolution, and batch norm takes its
statistics from visible positions only (sparse batch norm). A position of a map coarser than the patch grid
is visible when any patch under it is. Probes use the ordinary dense encoder on whole frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from robossl.backbones import ImageCNN
from robossl.losses.masked_image import masked_reconstruction_loss
from robossl.methods.base import InputSpec, SSLMethod
from robossl.methods.registry import register_method


def random_patch_mask(
    batch: int, grid: tuple[int, int], ratio: float, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """``(B, h, w)`` bool masks with exactly ``round(ratio * h * w)`` masked (True) patches per sample."""
    count = grid[0] * grid[1]
    masked = min(count - 1, max(1, round(ratio * count)))
    order = torch.rand(batch, count, generator=generator, device=device).argsort(dim=1)
    mask = torch.zeros(batch, count, dtype=torch.bool, device=device)
    mask.scatter_(1, order[:, :masked], True)
    return mask.view(batch, *grid)


def visible_at(visible: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Visible-position map ``(B, 1, *size)`` float from the patch-grid ``(B, 1, h, w)`` float map."""
    if size[0] >= visible.shape[-2]:
        return F.interpolate(visible, size=tuple(size), mode="nearest")
    return F.adaptive_max_pool2d(visible, (size[0], size[1]))


def sparse_batch_norm(x: torch.Tensor, visible: torch.Tensor, norm: nn.BatchNorm2d) -> torch.Tensor:
    """Batch norm of ``(B, C, H, W)`` with statistics (and running-statistic updates) from the positions where
    ``visible`` ``(B, 1, H, W)`` is 1; masked positions stay 0."""
    active = visible[:, 0] > 0  # (B, H, W)
    values = x.permute(0, 2, 3, 1)[active]  # (M, C)
    normalised = F.batch_norm(
        values,
        norm.running_mean,
        norm.running_var,
        norm.weight,
        norm.bias,
        norm.training,
        norm.momentum if norm.momentum is not None else 0.1,
        norm.eps,
    )
    out = torch.zeros_like(x.permute(0, 2, 3, 1))
    out[active] = normalised
    return out.permute(0, 3, 1, 2)


class SparseImageEncoder(nn.Module):
    """Runs an :class:`ImageCNN` sparsely: returns the masked feature map of every stride-2 stage."""

    def __init__(self, cnn: ImageCNN) -> None:
        super().__init__()
        self.cnn = cnn
        self.widths = [m.out_channels for m in cnn.features if isinstance(m, nn.Conv2d)]

    def forward(self, images: torch.Tensor, visible_patches: torch.Tensor) -> list[torch.Tensor]:
        x = images * visible_at(visible_patches, images.shape[-2:])
        stages, visible = [], None
        for layer in self.cnn.features:
            if isinstance(layer, nn.Conv2d):
                x = layer(x)
                visible = visible_at(visible_patches, x.shape[-2:])
                x = x * visible
            elif isinstance(layer, nn.BatchNorm2d):
                assert visible is not None
                x = sparse_batch_norm(x, visible, layer)
            else:
                x = layer(x) * visible
                stages.append(x)
        return stages


class MaskedDecoder(nn.Module):
    """Deepest map upward: densify each stage (mask token where masked), upsample, add the next stage,
    3x3 conv + batch norm + ReLU; a last 3x3 conv maps to image channels at full resolution."""

    def __init__(self, widths: list[int], out_channels: int) -> None:
        super().__init__()
        self.mask_tokens = nn.ParameterList([nn.Parameter(torch.zeros(1, w, 1, 1)) for w in widths])
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(widths[i + 1], widths[i], 3, padding=1, bias=False),
                nn.BatchNorm2d(widths[i]),
                nn.ReLU(inplace=True),
            )
            for i in range(len(widths) - 1)
        )
        self.output = nn.Conv2d(widths[0], out_channels, 3, padding=1)

    def forward(
        self, stages: list[torch.Tensor], visible_patches: torch.Tensor, size: tuple[int, int]
    ) -> torch.Tensor:
        def densify(index: int) -> torch.Tensor:
            visible = visible_at(visible_patches, stages[index].shape[-2:])
            return stages[index] * visible + self.mask_tokens[index] * (1 - visible)

        x = densify(len(stages) - 1)
        for index in range(len(stages) - 2, -1, -1):
            x = F.interpolate(x, size=stages[index].shape[-2:], mode="nearest")
            x = self.blocks[index](x) + densify(index)
        return self.output(F.interpolate(x, size=size, mode="bilinear", align_corners=False))


class MaskedImageMethod(SSLMethod):
    def __init__(
        self, backbone: ImageCNN, decoder: MaskedDecoder, patch_size: int, mask_ratio: float, normalize: bool
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.encoder = SparseImageEncoder(backbone)
        self.decoder = decoder
        self.patch_size = patch_size
        self.mask_ratio = mask_ratio
        self.normalize = normalize

    def forward(  # type: ignore[override]
        self, batch: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        height, width = batch.shape[-2:]
        grid = (height // self.patch_size, width // self.patch_size)
        mask = random_patch_mask(batch.shape[0], grid, self.mask_ratio, generator, batch.device)
        visible = (~mask).unsqueeze(1).to(batch.dtype)
        reconstruction = self.decoder(self.encoder(batch, visible), visible, (height, width))
        loss = masked_reconstruction_loss(reconstruction, batch, mask, self.patch_size, self.normalize)
        return loss, {"loss": loss.detach(), "masked_fraction": mask.float().mean()}


@dataclass
class MaskedImageConfig:
    patch_size: int = 8  # masking patch side in pixels (SparK: 32 = the encoder's stride, on 224 px images)
    mask_ratio: float = 0.6  # fraction of patches hidden (SparK: 0.6)
    normalize_patches: bool = True  # per-patch normalised targets (SparK default)


@register_method(
    "masked_image",
    MaskedImageConfig,
    "Tian et al., SparK (ICLR 2023), as studied by Wolf et al., SSL with contrastive and masked autoencoder "
    "methods for small medical datasets, 2023",
    modalities=("image",),
)
def build_masked_image(spec: InputSpec, config: MaskedImageConfig) -> SSLMethod:
    channels, height, width = spec.shape
    if config.patch_size < 1 or height % config.patch_size or width % config.patch_size:
        raise ValueError(
            f"patch_size {config.patch_size} must divide the {height}x{width} frames; pick a divisor or resize"
        )
    if not 0.0 < config.mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in (0, 1), got {config.mask_ratio}")
    backbone = ImageCNN(in_channels=channels)
    decoder = MaskedDecoder(SparseImageEncoder(backbone).widths, channels)
    return MaskedImageMethod(
        backbone, decoder, config.patch_size, config.mask_ratio, config.normalize_patches
    )
