"""ScatSimCLR: the objective by hand, the scattering transform against a loop-written convolution, the
pretext transformations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from robossl.losses.scatsimclr import ScatSimCLRLoss, scatsimclr_loss
from robossl.methods.scatsimclr import pretext_transform
from robossl.methods.scattering import Scattering2D, gaussian_filter, morlet_filter, scattering_channels


def test_objective_by_hand() -> None:
    # Collapsed embeddings: NT-Xent = log(2N - 1) = log 3 for N = 2; uniform pretext logits over 4 classes:
    # cross-entropy log 4; total log 3 + 0.3 log 4 = 1.514492.
    z = torch.ones(2, 3)
    loss = scatsimclr_loss(z, z, torch.zeros(2, 4), torch.tensor([0, 3]))
    assert float(loss) == pytest.approx(math.log(3) + 0.3 * math.log(4), rel=1e-6)
    assert float(
        ScatSimCLRLoss(pretext_weight=0.0)(z, z, torch.zeros(2, 4), torch.tensor([0, 3]))
    ) == pytest.approx(math.log(3), rel=1e-6)
    with pytest.raises(ValueError, match="pretext_labels"):
        scatsimclr_loss(z, z, torch.zeros(2, 4), torch.tensor([0]))


def test_filters_are_zero_mean_wavelets_and_a_unit_lowpass() -> None:
    psi = morlet_filter(sigma=1.6, theta=math.pi / 4, xi=3 * math.pi / 8, slant=0.5, radius=6)
    assert abs(complex(psi.sum())) < 1e-12
    assert float(gaussian_filter(3.2, 10).sum()) == pytest.approx(1.0)
    assert scattering_channels(2, 8) == 81 and scattering_channels(3, 8) == 1 + 24 + 64 * 3


def test_first_order_matches_a_loop_written_convolution() -> None:
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(40, 40))
    scattering = Scattering2D(scales=2, orientations=4, max_order=1)
    out = (
        scattering(torch.from_numpy(image).float().view(1, 1, 40, 40))[0].double().numpy()
    )  # (1 + 8, 10, 10)
    phi = gaussian_filter(0.8 * 4, 10).numpy()
    # output pixel (5, 5) sits at image position (20, 20); every sum below stays inside the image
    centre = 20
    zeroth = sum(
        phi[10 + dy, 10 + dx] * image[centre - dy, centre - dx]
        for dy in range(-10, 11)
        for dx in range(-10, 11)
    )
    assert out[0, 5, 5] == pytest.approx(zeroth, rel=1e-4)
    for channel, (j, ell) in enumerate(((j, ell) for j in range(2) for ell in range(4)), start=1):
        psi = morlet_filter(0.8 * 2**j, math.pi * ell / 4, 3 * math.pi / 4 / 2**j, 1.0, radius=6).numpy()
        total = 0.0
        for dy in range(-10, 11):
            for dx in range(-10, 11):
                ty, tx = centre - dy, centre - dx
                patch = image[ty - 6 : ty + 7, tx - 6 : tx + 7][::-1, ::-1]  # x(t - v) for v = -6 .. 6
                total += phi[10 + dy, 10 + dx] * abs((patch * psi).sum())
        assert out[channel, 5, 5] == pytest.approx(total, rel=1e-3), f"order-1 map {channel}"


def test_constant_images_have_only_the_zeroth_order() -> None:
    out = Scattering2D(scales=2, orientations=8, max_order=2)(torch.full((2, 3, 24, 24), 0.4))
    assert out.shape == (2, 3 * 81, 6, 6)
    per_channel = out.view(2, 3, 81, 6, 6)
    assert torch.allclose(per_channel[:, :, 0], torch.full_like(per_channel[:, :, 0], 0.4), atol=1e-5)
    assert per_channel[:, :, 1:].abs().max() < 1e-4
    with pytest.raises(ValueError, match="too small"):
        Scattering2D(scales=2)(torch.zeros(1, 1, 8, 8))


def test_pretext_transforms() -> None:
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4).repeat(2, 1, 1, 1)  # 4 samples
    labels = torch.tensor([0, 1, 2, 3])
    rotated = pretext_transform(x, labels, rotations=True)
    for i in range(4):
        assert torch.equal(rotated[i], torch.rot90(x[i], i, dims=(-2, -1)))
    flipped = pretext_transform(x, labels, rotations=False)
    assert torch.equal(flipped[0], x[0]) and torch.equal(flipped[1], x[1].flip(-1))
    assert torch.equal(flipped[2], x[2].flip(-2)) and torch.equal(flipped[3], x[3].flip(-2, -1))
