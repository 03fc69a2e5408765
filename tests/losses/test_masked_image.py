"""Masked image modelling: the loss by hand and against loops, masks, and the sparse encoder's batch norm."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robossl.backbones import ImageCNN
from robossl.losses.masked_image import MaskedReconstructionLoss, masked_reconstruction_loss
from robossl.methods.masked_image import SparseImageEncoder, random_patch_mask, sparse_batch_norm


def test_one_masked_patch_by_hand() -> None:
    # 4x4 image, 2x2 patches; only the top-left patch [[1, 2], [3, 4]] is masked. Normalised target:
    # (v - 2.5) / sqrt(1.25 + 1e-6); a zero prediction costs mean(t^2) = 1.25 / (1.25 + 1e-6) = 0.9999992.
    image = torch.zeros(1, 1, 4, 4)
    image[0, 0, :2, :2] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    mask = torch.tensor([[[True, False], [False, False]]])
    loss = masked_reconstruction_loss(torch.zeros_like(image), image, mask, patch_size=2)
    assert float(loss) == pytest.approx(1.25 / (1.25 + 1e-6), rel=1e-6)
    # without normalisation: mean(v^2) = (1 + 4 + 9 + 16) / 4 = 7.5; visible patches do not count
    prediction = torch.zeros_like(image)
    prediction[0, 0, 2:, 2:] = 100.0
    assert float(
        masked_reconstruction_loss(prediction, image, mask, 2, normalize_patches=False)
    ) == pytest.approx(7.5)


def test_matches_loop_reference() -> None:
    rng = np.random.default_rng(0)
    target, prediction = rng.normal(size=(2, 3, 8, 8)), rng.normal(size=(2, 3, 8, 8))
    mask = rng.uniform(size=(2, 2, 2)) < 0.5
    mask[0, 0, 0] = True
    errors = []
    for b in range(2):
        for i in range(2):
            for j in range(2):
                if not mask[b, i, j]:
                    continue
                t = target[b, :, 4 * i : 4 * i + 4, 4 * j : 4 * j + 4]
                t = (t - t.mean()) / np.sqrt(t.var() + 1e-6)
                errors.append(np.mean((prediction[b, :, 4 * i : 4 * i + 4, 4 * j : 4 * j + 4] - t) ** 2))
    got = MaskedReconstructionLoss(patch_size=4)(
        torch.from_numpy(prediction), torch.from_numpy(target), torch.from_numpy(mask)
    )
    assert float(got) == pytest.approx(float(np.mean(errors)), rel=1e-10)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="multiple of patch_size"):
        masked_reconstruction_loss(
            torch.zeros(1, 1, 6, 6), torch.zeros(1, 1, 6, 6), torch.ones(1, 1, 1, dtype=torch.bool), 4
        )
    with pytest.raises(ValueError, match="hides no patch"):
        masked_reconstruction_loss(
            torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), torch.zeros(1, 2, 2, dtype=torch.bool), 2
        )


def test_masks_hide_the_requested_share() -> None:
    mask = random_patch_mask(5, (4, 4), 0.6, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert mask.view(5, -1).sum(1).tolist() == [10] * 5  # round(0.6 * 16)
    assert not torch.equal(mask[0], mask[1])


def test_sparse_batch_norm_uses_only_visible_positions() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    visible = (torch.rand(2, 1, 4, 4) > 0.4).double()
    norm = torch.nn.BatchNorm2d(3).double()
    out = sparse_batch_norm(x * visible, visible, norm)
    active = visible[:, 0].bool()
    for c in range(3):
        values = x[:, c][active].numpy()
        expected = (values - values.mean()) / np.sqrt(values.var() + norm.eps)
        assert np.allclose(out[:, c][active].detach().numpy(), expected)
        assert float(norm.running_mean[c]) == pytest.approx(0.1 * values.mean())
    assert out[~active.unsqueeze(1).expand_as(out)].abs().max() == 0


def test_sparse_encoder_ignores_masked_pixels() -> None:
    torch.manual_seed(0)
    encoder = SparseImageEncoder(ImageCNN(3))
    encoder.eval()
    images = torch.rand(2, 3, 32, 32)
    visible = (
        (~random_patch_mask(2, (4, 4), 0.5, torch.Generator().manual_seed(1), torch.device("cpu")))
        .unsqueeze(1)
        .float()
    )
    scribbled = images + 10 * (1 - torch.nn.functional.interpolate(visible, size=(32, 32)))
    for a, b in zip(encoder(images, visible), encoder(scribbled, visible)):
        assert torch.allclose(a, b)
