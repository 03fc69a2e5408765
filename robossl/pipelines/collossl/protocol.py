"""The ColloSSL comparison protocol: leave-one-subject-out x label fractions x methods, macro-F1.

For each held-out subject: fit per-device normalisation on the training subjects, pretrain every
self-supervised method on the training subjects' unlabelled windows, then for every label fraction train
a classifier on the anchor device (fine-tuned and frozen) and score macro-F1 on the held-out subject.

Methods: ``collossl`` (multi-device contrastive), ``simclr_single`` (SimCLR on the anchor device),
``multitask_ssl`` (transformation recognition on all devices' windows pooled), ``supervised``
(the same classifier from a random encoder).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from robossl.backbones.imu import ImuConvEncoder
from robossl.data.recording import ACCELEROMETER_CHANNELS
from robossl.losses.collossl import (
    ColloSSLObjective,
    ColloSSLObjectiveConfig,
    MultiTaskObjective,
    SimCLRObjective,
)
from robossl.pipelines.collossl.evaluation import (
    LABEL_FRACTIONS,
    ClassifierConfig,
    label_subset,
    leave_one_subject_out,
    macro_f1,
    predict,
    train_classifier,
)
from robossl.pipelines.collossl.pretrain import PretrainConfig, pretrain
from robossl.pipelines.collossl.windows import DeviceNormalizer, MultiDeviceWindows

METHODS = ("collossl", "supervised", "simclr_single", "multitask_ssl")


@dataclass(frozen=True)
class ProtocolConfig:
    """One full comparison on one multi-device data set."""

    anchor_device: str  # device whose windows the classifier sees
    methods: tuple[str, ...] = METHODS  # subset of METHODS
    label_fractions: tuple[float, ...] = LABEL_FRACTIONS  # fractions of training labels
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)  # SSL budget (same for every method)
    finetune: ClassifierConfig = field(default_factory=ClassifierConfig)  # fine-tuning classifier
    frozen: ClassifierConfig | None = field(
        default_factory=lambda: ClassifierConfig(freeze_encoder=True, steps=300)
    )  # frozen-encoder classifier, None to skip
    # anchor and (for windows with channel names) acc_channels are overridden by collossl_config()
    collossl: ColloSSLObjectiveConfig = field(default_factory=ColloSSLObjectiveConfig)
    simclr_temperature: float = 0.1  # NT-Xent temperature of the SimCLR baseline
    seed: int = 0  # seed for initialisation, pretraining, label subsets and classifiers


def collossl_config(
    windows: MultiDeviceWindows, anchor: int, base: ColloSSLObjectiveConfig
) -> ColloSSLObjectiveConfig:
    """``base`` with the anchor index and the accelerometer columns found by name in ``windows``.

    Windows without channel names (hand-built recordings) keep ``base.acc_channels``.

    Raises:
        ValueError: a device has no ``acc_x``/``acc_y``/``acc_z`` channel (the message names it), or the
            devices keep them in different columns.
    """
    found = windows.channels(ACCELEROMETER_CHANNELS)
    acc = base.acc_channels if found is None else found
    return dataclasses.replace(base, anchor=anchor, acc_channels=acc)


def _encoder(in_channels: int, seed: int) -> ImuConvEncoder:
    torch.manual_seed(seed)
    return ImuConvEncoder(in_channels)


def pretrain_method(
    method: str,
    windows: np.ndarray,
    anchor: int,
    config: ProtocolConfig,
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[ImuConvEncoder, list[float]]:
    """Pretrained encoder for ``method`` on normalised aligned windows ``(D, W, L, C)``.

    ``supervised`` returns a freshly initialised encoder and no losses. The accelerometer columns come from
    ``config.collossl.acc_channels`` (:func:`run_protocol` fills them by name with :func:`collossl_config`).
    """
    encoder = _encoder(windows.shape[-1], config.seed)
    objective: nn.Module
    if method == "supervised":
        return encoder, []
    if method == "collossl":
        cfg = ColloSSLObjectiveConfig(**{**config.collossl.__dict__, "anchor": anchor})
        objective = ColloSSLObjective(encoder, cfg)
    elif method == "simclr_single":
        objective = SimCLRObjective(encoder, anchor, config.simclr_temperature, config.collossl.acc_channels)
    elif method == "multitask_ssl":
        objective = MultiTaskObjective(encoder, config.collossl.acc_channels)
    else:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    losses = pretrain(objective, windows, config.pretrain, on_step)
    return encoder, losses


def run_protocol(
    windows: MultiDeviceWindows,
    num_classes: int,
    config: ProtocolConfig,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Leave-one-subject-out comparison.

    Args:
        windows: raw (unnormalised) windows of every subject.
        num_classes: number of classes (including NULL).
        config: methods, fractions, budgets.
        progress: optional callback receiving a short text per finished unit of work.

    Returns:
        ``{"finetune": {method: {fraction: [f1 per fold]}}, "frozen": {...}, "folds": [subject, ...],
        "pretrain_loss": {method: [[first, last] per fold]}, "confusion": {method: (K, K) summed at the
        largest fraction, fine-tuned}}``.
    """
    unknown = set(config.methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; choose from {METHODS}")
    if config.anchor_device not in windows.device_names:
        raise ValueError(f"anchor device {config.anchor_device!r} not in {windows.device_names}")
    anchor = windows.device_names.index(config.anchor_device)
    config = dataclasses.replace(config, collossl=collossl_config(windows, anchor, config.collossl))
    modes = {"finetune": config.finetune} | ({"frozen": config.frozen} if config.frozen else {})
    scores: dict[str, dict[str, dict[str, list[float]]]] = {
        mode: {m: {str(f): [] for f in config.label_fractions} for m in config.methods} for mode in modes
    }
    confusion = {m: np.zeros((num_classes, num_classes), dtype=np.int64) for m in config.methods}
    losses: dict[str, list[list[float]]] = {m: [] for m in config.methods}
    folds = []
    for subject, train_mask, test_mask in leave_one_subject_out(windows.subjects):
        folds.append(subject)
        normalizer = DeviceNormalizer().fit(windows.subset(train_mask))
        train = normalizer.transform(windows.subset(train_mask))
        test = normalizer.transform(windows.subset(test_mask))
        stacked = train.stacked()
        x_test = test.windows[config.anchor_device]
        x_train, y_train = train.windows[config.anchor_device], train.labels
        for method in config.methods:
            encoder, curve = pretrain_method(method, stacked, anchor, config)
            if curve:
                losses[method].append([curve[0], float(np.mean(curve[-10:]))])
            for fraction in config.label_fractions:
                index = label_subset(y_train, fraction, seed=config.seed)
                for mode, classifier_config in modes.items():
                    model = train_classifier(
                        encoder, x_train[index], y_train[index], num_classes, classifier_config
                    )
                    predicted = predict(model, x_test)
                    scores[mode][method][str(fraction)].append(macro_f1(test.labels, predicted))
                    if mode == "finetune" and fraction == max(config.label_fractions):
                        np.add.at(confusion[method], (test.labels, predicted), 1)
            if progress is not None:
                summary = ", ".join(
                    f"{f}: {scores['finetune'][method][f][-1]:.3f}" for f in scores["finetune"][method]
                )
                progress(f"held out {subject} | {method} | fine-tune F1 {summary}")
    return {
        **scores,
        "folds": folds,
        "pretrain_loss": losses,
        "confusion": {m: c.tolist() for m, c in confusion.items()},
    }


def mean_over_folds(scores: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    """``{method: {fraction: mean F1}}`` from per-fold lists."""
    return {m: {f: float(np.mean(v)) for f, v in per.items()} for m, per in scores.items()}
