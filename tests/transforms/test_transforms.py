"""View generators: geometric invariants, identities at zero strength, reproducibility, mask fractions."""

from __future__ import annotations

import math

import pytest
import torch

from robossl.transforms import (
    FeatureViews,
    ImageViewConfig,
    ImageViews,
    ImuViewConfig,
    ImuViews,
    SpecAugmentConfig,
    TeraAlterationConfig,
    sample_feature_subsets,
    spec_augment,
    tera_alter,
)
from robossl.transforms.image import gaussian_blur, random_resized_crop
from robossl.transforms.imu import random_rotations, rotate_triplets, time_mask, time_warp


def test_rotations_are_proper_and_preserve_triplet_norms() -> None:
    g = torch.Generator().manual_seed(0)
    rotations = random_rotations(64, g)
    eye = torch.eye(3).expand(64, 3, 3)
    assert torch.allclose(rotations @ rotations.transpose(1, 2), eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(rotations), torch.ones(64), atol=1e-5)
    x = torch.randn(64, 10, 7)
    rotated = rotate_triplets(x, rotations, ((0, 1, 2), (3, 4, 5)))
    assert torch.allclose(rotated[..., :3].norm(dim=-1), x[..., :3].norm(dim=-1), atol=1e-5)
    assert torch.equal(rotated[..., 6], x[..., 6])  # channel outside every group untouched
    assert not torch.allclose(rotated[..., :3], x[..., :3])
    # a non-adjacent triplet takes the indexed path: same rotation as done by hand
    shuffled = rotate_triplets(x, rotations, ((6, 3, 5),))
    expected = x[..., [6, 3, 5]] @ rotations.transpose(1, 2)
    torch.testing.assert_close(shuffled[..., [6, 3, 5]], expected)
    torch.testing.assert_close(rotated[..., 3:6], x[..., 3:6] @ rotations.transpose(1, 2))


def test_rotations_are_uniform_over_so3() -> None:
    """Haar measure: E[R] = 0 and the rotation angle has density (1 - cos t) / pi on [0, pi]."""
    rotations = random_rotations(20000, torch.Generator().manual_seed(3)).double()
    assert rotations.mean(0).abs().max() < 0.02
    trace = rotations.diagonal(dim1=1, dim2=2).sum(-1)
    angle = torch.arccos(((trace - 1) / 2).clamp(-1, 1))
    # CDF of the angle: (t - sin t) / pi; compare at a few points
    for t in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0):
        expected = (t - math.sin(t)) / math.pi
        assert float((angle <= t).double().mean()) == pytest.approx(expected, abs=0.015)


def test_time_warp_identity_at_zero_strength_and_monotone_otherwise() -> None:
    x = torch.randn(4, 50, 3)
    assert torch.allclose(time_warp(x, 0.0), x, atol=1e-5)
    ramp = torch.linspace(0, 1, 50).view(1, 50, 1).expand(8, 50, 1)
    warped = time_warp(ramp, 0.3, torch.Generator().manual_seed(1))
    assert (warped.diff(dim=1) >= -1e-6).all()  # a monotone time map keeps a ramp increasing
    assert warped[:, 0].abs().max() < 1e-5 and (warped[:, -1] - 1).abs().max() < 1e-5


def test_time_mask_zeroes_one_bounded_block() -> None:
    x = torch.ones(200, 40, 2)
    masked = time_mask(x, 0.25, torch.Generator().manual_seed(0))
    zero_counts = (masked[..., 0] == 0).sum(dim=1)
    assert zero_counts.max() <= 10 and zero_counts.float().mean() > 2
    for row in masked[..., 0]:
        zeros = (row == 0).nonzero().flatten()
        if len(zeros):
            assert int(zeros[-1] - zeros[0]) + 1 == len(zeros)  # contiguous


def test_imu_views_reproducible_and_validated() -> None:
    views = ImuViews(ImuViewConfig(rotation_groups=((0, 1, 2),)))
    x = torch.randn(8, 32, 6)
    a = views(x, torch.Generator().manual_seed(3))
    b = views(x, torch.Generator().manual_seed(3))
    c = views(x, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert views.local(x, torch.Generator().manual_seed(0)).shape == (8, 16, 6)
    with pytest.raises(ValueError, match="rotation group"):
        ImuViews(ImuViewConfig(rotation_groups=((4, 5, 6),)))(x)
    with pytest.raises(ValueError, match="rotation_probability"):
        ImuViewConfig(rotation_probability=2.0)


def test_full_crop_without_flip_is_identity_and_flip_mirrors() -> None:
    images = torch.rand(2, 3, 16, 16)
    same = random_resized_crop(images, (16, 16), (1.0, 1.0), (1.0, 1.0), 0.0)
    assert torch.allclose(same, images, atol=1e-5)
    mirrored = random_resized_crop(images, (16, 16), (1.0, 1.0), (1.0, 1.0), 1.0)
    assert torch.allclose(mirrored, images.flip(-1), atol=1e-5)


def test_blur_keeps_constant_images_and_smooths_noise() -> None:
    constant = torch.full((2, 3, 12, 12), 0.3)
    assert torch.allclose(gaussian_blur(constant, torch.tensor([0.5, 2.0])), constant, atol=1e-6)
    noise = torch.rand(1, 1, 32, 32)
    assert gaussian_blur(noise, torch.tensor([2.0])).std() < 0.5 * noise.std()


def test_image_views_shapes_range_and_local_size() -> None:
    views = ImageViews(ImageViewConfig(output_size=(24, 24), local_size=(12, 12)))
    images = torch.rand(5, 3, 40, 30)
    g = torch.Generator().manual_seed(0)
    out = views(images, g)
    assert out.shape == (5, 3, 24, 24)
    assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6
    assert views.local(images, g).shape == (5, 3, 12, 12)
    with pytest.raises(ValueError, match="crop_scale"):
        ImageViewConfig(crop_scale=(0.0, 1.0))


def test_tera_alteration_fractions_and_mask() -> None:
    g = torch.Generator().manual_seed(0)
    frames = torch.randn(400, 50, 10) + 5.0  # offset so zeroed frames are recognisable
    config = TeraAlterationConfig(max_frequency_width=0, noise_probability=0.0)
    altered, mask = tera_alter(frames, config, g)
    fraction = mask[..., 0].float().mean()
    assert 0.08 < fraction < 0.2  # about 15 % of frames, less overlap of blocks
    assert torch.equal(altered[~mask], frames[~mask])  # nothing outside the mask changes
    zeroed = (altered[mask] == 0).float().mean()
    assert 0.7 < zeroed < 0.9  # 80 % of the altered blocks are zeroed
    band_config = TeraAlterationConfig(time_fraction=0.0, max_frequency_width=4, noise_probability=0.0)
    altered, mask = tera_alter(frames, band_config, g)
    assert torch.equal(altered == 0, mask)  # frequency bands zeroed exactly where the mask says


def test_spec_augment_masks_bounded_bands() -> None:
    frames = torch.ones(100, 30, 20)
    config = SpecAugmentConfig(
        num_time_masks=1, max_time_width=5, num_frequency_masks=1, max_frequency_width=3
    )
    out = spec_augment(frames, config, torch.Generator().manual_seed(0))
    fully_zero_frames = (out == 0).all(dim=2).sum(dim=1)
    fully_zero_bins = (out == 0).all(dim=1).sum(dim=1)
    assert fully_zero_frames.max() <= 5 and fully_zero_bins.max() <= 3
    assert fully_zero_frames.sum() > 0 and fully_zero_bins.sum() > 0


def test_feature_subsets_are_disjoint_and_feature_views_drop() -> None:
    context, target = sample_feature_subsets(16, 10, 0.5, 0.3, torch.Generator().manual_seed(0))
    assert context.shape == (16, 5) and target.shape == (16, 3)
    for c, t in zip(context.tolist(), target.tolist()):
        assert not set(c) & set(t)
    with pytest.raises(ValueError, match="exceed"):
        sample_feature_subsets(2, 4, 0.75, 0.5)
    out = FeatureViews()(torch.ones(1000, 10), torch.Generator().manual_seed(0))
    assert 0.15 < (out == 0).float().mean() < 0.25


def test_bounded_rotations_are_proper_and_within_the_angle() -> None:
    from robossl.transforms.imu import bounded_rotations

    rotations = bounded_rotations(500, 15.0, torch.Generator().manual_seed(0))
    eye = torch.eye(3).expand(500, 3, 3)
    assert torch.allclose(rotations @ rotations.transpose(1, 2), eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(rotations), torch.ones(500), atol=1e-5)
    trace = rotations.diagonal(dim1=1, dim2=2).sum(-1)
    angles = torch.rad2deg(torch.arccos(((trace - 1) / 2).clamp(-1, 1)))
    assert angles.max() <= 15.0 + 1e-3 and angles.max() > 12.0  # uses the range, never beyond it


def test_default_imu_views_keep_the_gravity_direction() -> None:
    # A static device with gravity on +z: the default views must not rotate it away (it is the posture cue).
    x = torch.zeros(64, 32, 3)
    x[..., 2] = 9.81
    config = ImuViewConfig(
        rotation_groups=((0, 1, 2),), jitter_std=0.0, scale_std=0.0, channel_mask_probability=0.0,
        time_mask_fraction=0.0,
    )  # fmt: skip
    out = ImuViews(config)(x, torch.Generator().manual_seed(0))
    assert torch.allclose(out, x)
    tilted = ImuViews(
        ImuViewConfig(**{**config.__dict__, "rotation_probability": 1.0, "rotation_max_degrees": 10.0})
    )(x, torch.Generator().manual_seed(0))
    cos = tilted[:, 0, 2] / 9.81
    assert (cos > math.cos(math.radians(10.0)) - 1e-4).all() and (cos < 1 - 1e-6).any()
