"""Evaluation protocol: label subsets, classifiers, macro-F1, leave-one-subject-out on tiny budgets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robossl.backbones.imu import ImuConvEncoder
from robossl.pipelines.collossl.evaluation import (
    ClassifierConfig,
    label_subset,
    leave_one_subject_out,
    macro_f1,
    predict,
    train_classifier,
)
from robossl.pipelines.collossl.pretrain import PretrainConfig
from robossl.pipelines.collossl.protocol import METHODS, ProtocolConfig, mean_over_folds, run_protocol
from robossl.pipelines.collossl.windows import (
    DeviceNormalizer,
    WindowConfig,
    concatenate_windows,
    window_recording,
)
from tests.pipelines.collossl.synthetic import make_recording

torch.set_num_threads(1)


def test_label_subset_is_stratified_and_reproducible() -> None:
    labels = np.array([0] * 80 + [1] * 15 + [2] * 5)
    index = label_subset(labels, 0.1, seed=3)
    assert np.bincount(labels[index]).tolist() == [8, 2, 1]  # round(0.5) -> 0 -> at least one
    np.testing.assert_array_equal(index, label_subset(labels, 0.1, seed=3))
    assert len(label_subset(labels, 1.0)) == 100
    with pytest.raises(ValueError, match="fraction"):
        label_subset(labels, 0.0)


def test_macro_f1_against_hand_computed_value() -> None:
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    # class 0: p=1/2 r=1/2 f=1/2; class 1: p=2/3 r=1 f=0.8; class 2: p=1 r=1/2 f=2/3
    assert macro_f1(y_true, y_pred) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_leave_one_subject_out_folds() -> None:
    folds = list(leave_one_subject_out(np.array(["b", "a", "b", "c"])))
    assert [f[0] for f in folds] == ["a", "b", "c"]
    np.testing.assert_array_equal(folds[1][2], [True, False, True, False])
    np.testing.assert_array_equal(folds[1][1], [False, True, False, True])
    with pytest.raises(ValueError, match=">= 2 subjects"):
        list(leave_one_subject_out(np.array(["a", "a"])))


def test_classifier_learns_synthetic_activities_and_leaves_encoder_untouched() -> None:
    windows = window_recording(make_recording("s1", seed=1), WindowConfig())
    normed = DeviceNormalizer().fit(windows).transform(windows)
    encoder = ImuConvEncoder(4)
    before = [p.clone() for p in encoder.parameters()]
    model = train_classifier(encoder, normed.windows["wrist"], normed.labels, 3, ClassifierConfig(steps=60))
    assert macro_f1(normed.labels, predict(model, normed.windows["wrist"])) > 0.9
    assert all(torch.equal(a, b) for a, b in zip(before, encoder.parameters()))
    frozen = train_classifier(
        encoder, normed.windows["wrist"], normed.labels, 3, ClassifierConfig(steps=60, freeze_encoder=True)
    )
    assert all(torch.equal(a, b) for a, b in zip(before, frozen.encoder.parameters()))


def test_protocol_reports_every_method_fraction_and_fold() -> None:
    windows = concatenate_windows(
        [
            window_recording(make_recording(s, seconds=36, seed=i), WindowConfig(overlap_s=0.5))
            for i, s in enumerate(["s1", "s2"])
        ]
    )
    config = ProtocolConfig(
        anchor_device="wrist",
        label_fractions=(0.25, 1.0),
        pretrain=PretrainConfig(steps=3, batch_size=16),
        finetune=ClassifierConfig(steps=30),
        frozen=ClassifierConfig(steps=30, freeze_encoder=True),
    )
    out = run_protocol(windows, 3, config)
    assert out["folds"] == ["s1", "s2"]
    for mode in ("finetune", "frozen"):
        means = mean_over_folds(out[mode])
        assert set(means) == set(METHODS)
        assert all(set(v) == {"0.25", "1.0"} and all(0 <= x <= 1 for x in v.values()) for v in means.values())
    assert mean_over_folds(out["finetune"])["supervised"]["1.0"] > 0.6  # the synthetic task is learnable
    confusion = np.array(out["confusion"]["collossl"])
    assert confusion.sum() == len(windows)  # every held-out window counted once at the largest fraction
    with pytest.raises(ValueError, match="anchor device"):
        run_protocol(windows, 3, ProtocolConfig(anchor_device="hip"))
