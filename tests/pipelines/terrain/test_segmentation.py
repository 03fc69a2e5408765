"""Segmentation network, class weights and mIoU."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from robossl.pipelines.terrain.projection import IGNORE_INDEX

torch.set_num_threads(1)

from robossl.pipelines.terrain.segmentation import (  # noqa: E402
    SegmentationConfig,
    SegmentationLearner,
    TerrainSegNet,
    log_frequency_weights,
    mean_iou,
)


def test_log_frequency_weights_formula() -> None:
    labels = np.array([0] * 70 + [1] * 20 + [2] * 10 + [IGNORE_INDEX] * 50)
    w = log_frequency_weights(labels, 4)
    raw = np.array([1 / math.log(1.02 + p) for p in (0.7, 0.2, 0.1, 0.0)])
    np.testing.assert_allclose(w, raw / raw.mean(), rtol=1e-6)
    assert w[3] > w[2] > w[1] > w[0]  # rarer classes weigh more; unseen most


def test_mean_iou_against_hand_count() -> None:
    target = np.array([[0, 0, 1, 1], [2, 2, IGNORE_INDEX, IGNORE_INDEX]])
    pred = np.array([[0, 1, 1, 1], [2, 0, 0, 2]])
    miou, iou = mean_iou(pred, target, 4)
    # class 0: inter 1, union 3; class 1: inter 2, union 3; class 2: inter 1, union 2; class 3 absent.
    np.testing.assert_allclose(iou[:3], [1 / 3, 2 / 3, 1 / 2])
    assert math.isnan(iou[3])
    assert miou == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)


def test_network_shapes_and_bad_input() -> None:
    net = TerrainSegNet(num_classes=5, width=8)
    assert net(torch.zeros(2, 3, 48, 64)).shape == (2, 5, 48, 64)
    assert net(torch.zeros(1, 3, 45, 61)).shape == (1, 5, 45, 61)  # odd sizes survive the skips
    with pytest.raises(ValueError, match="RGB"):
        net(torch.zeros(1, 1, 32, 32))


def test_learns_dense_regions_from_sparse_stripes() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images, labels, dense = [], [], []
    for _ in range(8):
        split = int(rng.integers(16, 48))
        img = np.zeros((32, 64, 3), np.float32)
        img[:, :split] = [0.8, 0.3, 0.2]
        img[:, split:] = [0.2, 0.6, 0.3]
        img += rng.normal(0, 0.05, img.shape).astype(np.float32)
        truth = np.where(np.arange(64)[None, :] < split, 0, 1).repeat(32, 0)
        sparse = np.full_like(truth, IGNORE_INDEX)
        sparse[26:30] = truth[26:30]  # only a thin band near the bottom is labelled, as a wheel track
        images.append(img.transpose(2, 0, 1))
        labels.append(sparse)
        dense.append(truth)
    x = torch.from_numpy(np.stack(images))
    y = torch.from_numpy(np.stack(labels).astype(np.int64))
    learner = SegmentationLearner(SegmentationConfig(num_classes=2, width=8, learning_rate=1e-2), seed=0)
    learner.set_class_weights(y.numpy())
    for _ in range(60):
        learner.step(x, y)
    miou, _ = mean_iou(learner.predict(x), np.stack(dense), 2)
    assert miou > 0.9


def test_state_round_trip_keeps_predictions() -> None:
    learner = SegmentationLearner(SegmentationConfig(num_classes=3, width=4), seed=1)
    x = torch.rand(2, 3, 24, 32)
    learner.step(x, torch.randint(0, 3, (2, 24, 32)))
    other = SegmentationLearner(SegmentationConfig(num_classes=3, width=4), seed=2)
    other.load_state_dict(learner.state_dict())
    np.testing.assert_array_equal(other.predict(x), learner.predict(x))
    assert other.steps == 1
