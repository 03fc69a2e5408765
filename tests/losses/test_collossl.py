"""ColloSSL objective wiring, baselines, and that pretraining lowers each loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robossl.backbones.imu import ImuConvEncoder
from robossl.losses.collossl import (
    ColloSSLObjective,
    ColloSSLObjectiveConfig,
    MultiTaskObjective,
    SimCLRObjective,
)
from robossl.losses.multiview_contrastive import multiview_contrastive_loss
from robossl.pipelines.collossl.pretrain import PretrainConfig, pretrain
from robossl.pipelines.collossl.windows import DeviceNormalizer, WindowConfig, window_recording
from robossl.transforms.imu_multitask import MULTITASK_TRANSFORMS, simclr_view
from tests.pipelines.collossl.synthetic import make_recording

torch.set_num_threads(1)


def _stacked() -> np.ndarray:
    windows = window_recording(make_recording("s1", seconds=40, seed=5), WindowConfig(overlap_s=0.5))
    return DeviceNormalizer().fit(windows).transform(windows).stacked()


def test_collossl_objective_equals_explicit_positive_and_other_time_step_negatives() -> None:
    torch.manual_seed(0)
    encoder = ImuConvEncoder(4, dropout=0.0)
    objective = ColloSSLObjective(encoder, ColloSSLObjectiveConfig(anchor=0)).eval()
    batch = torch.from_numpy(_stacked()[:, :6])
    loss = objective(batch, torch.Generator().manual_seed(0))
    selection = objective.last_selection
    assert selection is not None and selection.positives == (1,)
    z = objective.projection(encoder(batch.reshape(-1, 32, 4))).reshape(3, 6, -1)
    weights = {1: selection.negative_weights[0], 2: selection.negative_weights[1], 0: 1.0}
    negatives = torch.stack(
        [torch.stack([z[d, j] for d in (1, 2, 0) for j in range(6) if j != i]) for i in range(6)]
    )
    neg_w = torch.tensor([weights[d] for d in (1, 2, 0) for _ in range(5)])
    expected = multiview_contrastive_loss(z[0], z[1], negatives, None, neg_w, temperature=0.05)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("name", ["collossl", "simclr", "multitask"])
def test_pretraining_lowers_the_loss(name: str) -> None:
    torch.manual_seed(1)
    encoder = ImuConvEncoder(4)
    objective = {
        "collossl": lambda: ColloSSLObjective(encoder, ColloSSLObjectiveConfig()),
        "simclr": lambda: SimCLRObjective(encoder),
        "multitask": lambda: MultiTaskObjective(encoder),
    }[name]()
    losses = pretrain(objective, _stacked(), PretrainConfig(steps=40, batch_size=32, learning_rate=2e-3))
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])


def test_transforms_keep_shape_and_change_the_windows() -> None:
    x = torch.from_numpy(_stacked()[0, :8])
    generator = torch.Generator().manual_seed(0)
    for name, transform in MULTITASK_TRANSFORMS.items():
        out = transform(x, generator)
        assert out.shape == x.shape, name
        assert not torch.allclose(out, x), name
    assert simclr_view(x, generator).shape == x.shape


def test_collossl_rejects_single_device_batches() -> None:
    objective = ColloSSLObjective(ImuConvEncoder(4), ColloSSLObjectiveConfig())
    with pytest.raises(ValueError, match="devices>=2"):
        objective(torch.zeros(1, 4, 32, 4), torch.Generator())
