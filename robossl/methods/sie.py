"""SIE: the backbone's representation split into an invariant and an equivariant part; the equivariant
embedding of view a is mapped onto view b's by a hypernetwork predictor fed with the known transformation.

Transformations with known parameters: IMU windows get a 3-D rotation of every xyz triplet per view (the
predictor sees the relative rotation ``R_b R_a^T``, 9 numbers); images get brightness, contrast and saturation
factors per view (the predictor sees the 3 log-ratios b / a). The other augmentations of the modality's
default views still apply (they are what the invariant part ignores). Probes use the whole representation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from robossl.heads import ProjectionHead
from robossl.losses.sie import sie_loss
from robossl.methods.base import InputSpec, SSLMethod
from robossl.methods.components import make_backbone, output_dim
from robossl.methods.registry import register_method
from robossl.transforms import ImageViewConfig, ImageViews, ImuViewConfig, ImuViews
from robossl.transforms.imu import bounded_rotations, random_rotations, rotate_triplets

_GREY_WEIGHTS = (0.299, 0.587, 0.114)


class HypernetworkPredictor(nn.Module):
    """Linear predictor whose ``(D, D)`` weight is produced from the transformation parameters by an MLP
    (SIE's "linear" hypernetwork): ``prediction = W(t) z``.

    Shapes: ``z`` ``(N, D)``, ``t`` ``(N, P)`` -> ``(N, D)``.
    """

    def __init__(self, dim: int, parameter_dim: int, hidden_dim: int = 64) -> None:
        super().__init__()
        if min(dim, parameter_dim, hidden_dim) < 1:
            raise ValueError(f"predictor sizes must be >= 1, got dim={dim}, parameters={parameter_dim}")
        self.dim = dim
        self.weights = nn.Sequential(
            nn.Linear(parameter_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, dim * dim)
        )

    def forward(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        weight = self.weights(t).view(-1, self.dim, self.dim)
        return (weight @ z.unsqueeze(-1)).squeeze(-1)


class RotatedImuPairs:
    """Two views of ``(B, T, C)`` windows, each with its own rotation of every xyz triplet; returns
    ``(view_a, view_b, relative rotation (B, 9))``."""

    parameter_dim = 9

    def __init__(self, rotation_groups: tuple[tuple[int, int, int], ...], max_degrees: float) -> None:
        if not rotation_groups:
            raise ValueError(
                "SIE on IMU windows needs rotation_groups (the xyz channel triplets) in the InputSpec; "
                "give them, or use an invariant method such as vicreg"
            )
        if not 0.0 < max_degrees <= 180.0:
            raise ValueError(f"rotation_max_degrees must be in (0, 180], got {max_degrees}")
        self.rotation_groups = rotation_groups
        self.max_degrees = max_degrees
        self.base = ImuViews(ImuViewConfig(rotation_groups=rotation_groups, rotation_probability=0.0))

    def _rotations(self, count: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
        if self.max_degrees >= 180.0:
            return random_rotations(count, generator, device)
        return bounded_rotations(count, self.max_degrees, generator, device)

    def __call__(
        self, batch: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rotation_a = self._rotations(batch.shape[0], generator, batch.device)
        rotation_b = self._rotations(batch.shape[0], generator, batch.device)
        view_a = rotate_triplets(self.base(batch, generator), rotation_a, self.rotation_groups)
        view_b = rotate_triplets(self.base(batch, generator), rotation_b, self.rotation_groups)
        relative = rotation_b @ rotation_a.transpose(1, 2)
        return view_a, view_b, relative.flatten(1)


def photometric(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast and saturation of ``(B, 3, H, W)`` images in [0, 1] scaled by ``factors``
    ``(B, 3)`` (1 = unchanged), in that order, like the colour jitter of the default views."""
    brightness, contrast, saturation = (f.view(-1, 1, 1, 1) for f in factors.unbind(1))
    weights = torch.tensor(_GREY_WEIGHTS, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    out = (images * brightness).clamp(0, 1)
    mean = (out * weights).sum(1, keepdim=True).mean(dim=(2, 3), keepdim=True)
    out = ((out - mean) * contrast + mean).clamp(0, 1)
    grey = (out * weights).sum(1, keepdim=True)
    return ((out - grey) * saturation + grey).clamp(0, 1)


class PhotometricImagePairs:
    """Two views of ``(B, 3, H, W)`` images with known photometric factors; returns
    ``(view_a, view_b, log(factors_b / factors_a) (B, 3))``."""

    parameter_dim = 3

    def __init__(self, output_size: tuple[int, int], strengths: tuple[float, float, float]) -> None:
        # colour jitter and greyscale off in the base views: the known photometric factors replace them
        self.base = ImageViews(
            ImageViewConfig(
                output_size=output_size,
                local_size=output_size,
                color_jitter_probability=0.0,
                grayscale_probability=0.0,
            )
        )
        if not all(0.0 <= s < 1.0 for s in strengths):
            raise ValueError(f"photometric strengths must be in [0, 1), got {strengths}")
        self.strengths = torch.tensor(strengths)

    def __call__(
        self, batch: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if batch.ndim != 4 or batch.shape[1] != 3:
            raise ValueError(f"SIE photometric views need RGB images (B, 3, H, W), got {tuple(batch.shape)}")
        strengths = self.strengths.to(batch.device, batch.dtype)
        views, factors = [], []
        for _ in range(2):
            draw = torch.rand(batch.shape[0], 3, generator=generator, device=batch.device, dtype=batch.dtype)
            factor = 1 + (2 * draw - 1) * strengths
            views.append(photometric(self.base(batch, generator), factor))
            factors.append(factor)
        return views[0], views[1], torch.log(factors[1] / factors[0])


class SIEMethod(SSLMethod):
    """Backbone -> [invariant | equivariant] split -> one projector each; hypernetwork predictor."""

    def __init__(
        self,
        backbone: nn.Module,
        equivariant_dim: int,
        invariant_projector: nn.Module,
        equivariant_projector: nn.Module,
        predictor: HypernetworkPredictor,
        pairs: RotatedImuPairs | PhotometricImagePairs,
        weights: tuple[float, float, float, float],
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.equivariant_dim = equivariant_dim
        self.invariant_projector = invariant_projector
        self.equivariant_projector = equivariant_projector
        self.predictor = predictor
        self.pairs = pairs
        self.weights = weights

    def forward(  # type: ignore[override]
        self, batch: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        view_a, view_b, transformation = self.pairs(batch, generator)
        representation = self.backbone(torch.cat([view_a, view_b]))
        split = representation.shape[1] - self.equivariant_dim
        invariant_a, invariant_b = self.invariant_projector(representation[:, :split]).chunk(2)
        equivariant_a, equivariant_b = self.equivariant_projector(representation[:, split:]).chunk(2)
        prediction_b = self.predictor(equivariant_a, transformation)
        loss = sie_loss(invariant_a, invariant_b, equivariant_a, equivariant_b, prediction_b, *self.weights)
        with torch.no_grad():
            equivariance_error = (prediction_b - equivariant_b).pow(2).mean()
        return loss, {"loss": loss.detach(), "equivariance_mse": equivariance_error}


@dataclass
class SIEConfig:
    equivariant_fraction: float = 0.5  # share of the representation that is equivariant (paper: 256 of 512)
    projection_hidden_dim: int = 256  # projector width, split between the parts like the representation
    projection_dim: int = 128  # embedding size, split the same way (paper: 2048 in 3 layers)
    predictor_hidden_dim: int = 64  # hypernetwork width
    invariance_weight: float = 10.0  # sim_coeff (paper: 10)
    equivariance_factor: float = 0.45  # equivariant MSE weight relative to sim_coeff (paper: 0.45)
    variance_weight: float = 10.0  # std_coeff (paper: 10)
    covariance_weight: float = 1.0  # cov_coeff (paper: 1)
    rotation_max_degrees: float = 180.0  # imu: rotation range per view (180 = uniform over SO(3))
    brightness: float = 0.4  # image: brightness factor range 1 +- brightness
    contrast: float = 0.4  # image: contrast factor range 1 +- contrast
    saturation: float = 0.2  # image: saturation factor range 1 +- saturation


def _split(total: int, fraction: float) -> tuple[int, int]:
    """(invariant, equivariant) sizes of ``total`` with at least 1 in each."""
    equivariant = min(total - 1, max(1, round(total * fraction)))
    return total - equivariant, equivariant


@register_method(
    "sie",
    SIEConfig,
    "Garrido, Najman, LeCun, Self-supervised learning of Split Invariant Equivariant representations, "
    "ICML 2023",
    modalities=("imu", "image"),
)
def build_sie(spec: InputSpec, config: SIEConfig) -> SSLMethod:
    if not 0.0 < config.equivariant_fraction < 1.0:
        raise ValueError(f"equivariant_fraction must be in (0, 1), got {config.equivariant_fraction}")
    backbone = make_backbone(spec)
    pairs: RotatedImuPairs | PhotometricImagePairs
    if spec.modality == "imu":
        pairs = RotatedImuPairs(spec.rotation_groups, config.rotation_max_degrees)
    else:
        pairs = PhotometricImagePairs(
            (spec.shape[1], spec.shape[2]), (config.brightness, config.contrast, config.saturation)
        )
    invariant_dim, equivariant_dim = _split(output_dim(backbone), config.equivariant_fraction)
    hidden_inv, hidden_eq = _split(config.projection_hidden_dim, config.equivariant_fraction)
    out_inv, out_eq = _split(config.projection_dim, config.equivariant_fraction)
    return SIEMethod(
        backbone,
        equivariant_dim,
        ProjectionHead(invariant_dim, hidden_inv, out_inv, num_layers=3),
        ProjectionHead(equivariant_dim, hidden_eq, out_eq, num_layers=3),
        HypernetworkPredictor(out_eq, pairs.parameter_dim, config.predictor_hidden_dim),
        pairs,
        (
            config.invariance_weight,
            config.equivariance_factor,
            config.variance_weight,
            config.covariance_weight,
        ),
    )
