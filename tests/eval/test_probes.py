"""Probes, held-out splits and the supervised baseline, on data whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robossl.eval import SupervisedConfig, knn_probe, linear_probe, train_supervised
from robossl.eval.splits import held_out_split, label_subset


def _blobs(n: int, seed: int, separation: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    centres = np.eye(3) * separation  # distinct directions, so the cosine kNN separates them too
    return centres[labels] + rng.normal(size=(n, 3)), labels


def test_probes_separate_separable_classes_and_fail_on_noise() -> None:
    x_train, y_train = _blobs(150, 0, 10.0)
    x_test, y_test = _blobs(90, 1, 10.0)
    for probe in (linear_probe, knn_probe):
        result = probe(x_train, y_train, x_test, y_test)
        assert result.accuracy > 0.97 and result.macro_f1 > 0.97
        assert (result.num_train, result.num_test) == (150, 90)
    # Features that carry no label information: near chance (1/3).
    noise_train, noise_test = (
        np.random.default_rng(2).normal(size=(150, 2)),
        np.random.default_rng(3).normal(size=(90, 2)),
    )
    assert linear_probe(noise_train, y_train, noise_test, y_test).macro_f1 < 0.55


def test_balanced_class_weights_favour_the_rare_class() -> None:
    from robossl.eval.probes import linear_classifier_predictions

    rng = np.random.default_rng(0)
    labels = (np.arange(400) % 10 == 0).astype(int)  # 10 % class 1, overlapping with class 0
    x = (labels * 1.0 + rng.normal(size=400))[:, None]
    plain = linear_classifier_predictions(x, labels, x, class_weight=None)
    balanced = linear_classifier_predictions(x, labels, x)
    assert plain.shape == balanced.shape == (400,)
    rare_recall = [float((p[labels == 1] == 1).mean()) for p in (plain, balanced)]
    assert rare_recall[0] < 0.3 < 0.6 < rare_recall[1]  # unweighted mostly says "common"; balanced finds it


def test_macro_f1_matches_hand_computation() -> None:
    # Constant features: the linear probe predicts one class for every test sample.
    x_train = np.zeros((4, 1))
    y_train = np.array([0, 0, 0, 1])
    result = knn_probe(x_train + np.array([[1.0]]), y_train, np.ones((3, 1)), np.array([0, 0, 1]), k=4)
    # Predicts class 0 everywhere: F1(class 0) = 2*2/(2*2+1) = 0.8, F1(class 1) = 0 -> macro 0.4.
    assert result.macro_f1 == pytest.approx(0.4)
    assert result.accuracy == pytest.approx(2 / 3)


def test_probe_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="equal D"):
        linear_probe(np.zeros((4, 2)), np.array([0, 1, 0, 1]), np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(ValueError, match="fewer than 2 classes"):
        linear_probe(np.zeros((4, 2)), np.zeros(4, int), np.zeros((2, 2)), np.array([0, 1]))


def test_held_out_split_never_shares_groups() -> None:
    labels = np.repeat(np.arange(3), 40)
    groups = np.repeat(np.arange(12), 10)  # 4 runs per class
    train, test = held_out_split(labels, groups, 0.3, seed=0)
    assert not set(groups[train]) & set(groups[test])
    for label in range(3):
        assert (labels[test] == label).any() and (labels[train] == label).any()
    subjects = np.repeat([0, 1], 60)
    train, test = held_out_split(labels, subjects)
    assert np.array_equal(test, subjects == 1)
    train, test = held_out_split(labels, None, 0.25)
    assert test.sum() == 30 and not (train & test).any()


def test_label_subset_is_stratified() -> None:
    labels = np.repeat(np.arange(4), [100, 50, 20, 3])
    chosen = label_subset(labels, 0.1)
    assert np.bincount(labels[chosen]).tolist() == [10, 5, 2, 1]
    with pytest.raises(ValueError, match="fraction"):
        label_subset(labels, 0.0)


def test_supervised_baseline_learns() -> None:
    torch.manual_seed(0)
    x, y = _blobs(120, 0, 4.0)
    model = train_supervised(
        torch.nn.Linear(3, 8), 8, x.astype(np.float32), y, SupervisedConfig(steps=150, learning_rate=1e-2)
    )
    with torch.no_grad():
        predicted = model(torch.from_numpy(x.astype(np.float32))).argmax(1).numpy()
    assert (predicted == y).mean() > 0.85
