"""Evaluation protocol pieces: label fractions, classifier training (frozen or fine-tuned), macro-F1, LOSO.

ColloSSL evaluates an encoder on the anchor device only: a classifier is trained on a stratified fraction of
the training subjects' labelled windows, either on top of the frozen encoder or with the encoder fine-tuned,
and scored by macro-F1 on a held-out subject.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robossl.backbones.imu import ImuConvEncoder

LABEL_FRACTIONS = (0.1, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class ClassifierConfig:
    """How the downstream activity classifier is trained."""

    steps: int = (
        200  # optimiser steps (independent of the label fraction, so small fractions are not starved)
    )
    batch_size: int = 64  # windows per step
    learning_rate: float = 1e-3  # Adam learning rate of the classifier head
    encoder_learning_rate: float = 5e-4  # Adam learning rate of the encoder when fine-tuning
    freeze_encoder: bool = False  # True: train only the head on frozen features
    hidden_dim: int = 128  # classifier hidden width
    seed: int = 0  # seed for batches and initialisation


class ActivityClassifier(nn.Module):
    """Encoder + MLP head: windows ``(B, L, C)`` -> logits ``(B, K)``; :meth:`embed` gives ``(B, F)``."""

    def __init__(self, encoder: ImuConvEncoder, num_classes: int, hidden_dim: int = 128) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Sequential(
            nn.Linear(encoder.out_dim, hidden_dim),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Linear(hidden_dim, num_classes),
        )

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder features ``(B, F)``."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K)``."""
        return self.head(self.encoder(x))


def label_subset(labels: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Indices of a class-stratified random ``fraction`` of ``labels`` (at least one window per class).

    Raises:
        ValueError: if ``fraction`` is not in (0, 1].
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    chosen = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        take = max(1, int(round(fraction * len(members))))
        chosen.append(rng.choice(members, size=take, replace=False))
    return np.sort(np.concatenate(chosen))


def train_classifier(
    encoder: ImuConvEncoder, x: np.ndarray, y: np.ndarray, num_classes: int, config: ClassifierConfig
) -> ActivityClassifier:
    """Train a classifier on windows ``x`` ``(N, L, C)`` with labels ``y`` ``(N,)``.

    The encoder is deep-copied, so the caller's (pretrained) encoder is left untouched.
    """
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must be non-empty with equal length, got {len(x)} and {len(y)}")
    torch.manual_seed(config.seed)
    model = ActivityClassifier(copy.deepcopy(encoder), num_classes, config.hidden_dim)
    generator = torch.Generator().manual_seed(config.seed)
    data, target = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.astype(np.int64))
    if config.freeze_encoder:
        model.encoder.eval()
        with torch.no_grad():
            data = torch.cat([model.encoder(chunk) for chunk in data.split(1024)])
        params = [{"params": model.head.parameters(), "lr": config.learning_rate}]
    else:
        params = [
            {"params": model.head.parameters(), "lr": config.learning_rate},
            {"params": model.encoder.parameters(), "lr": config.encoder_learning_rate},
        ]
    optimizer = torch.optim.Adam(params)
    batch = min(config.batch_size, len(data))
    model.train()
    if config.freeze_encoder:
        model.encoder.eval()
    for _ in range(config.steps):
        index = torch.randint(len(data), (batch,), generator=generator)
        inputs = data[index]
        logits = model.head(inputs) if config.freeze_encoder else model(inputs)
        loss = F.cross_entropy(logits, target[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    return model


@torch.no_grad()
def predict(model: ActivityClassifier, x: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Predicted class ``(N,)`` for windows ``(N, L, C)``."""
    model.eval()
    data = torch.from_numpy(np.ascontiguousarray(x))
    return torch.cat([model(part).argmax(1) for part in data.split(chunk)]).numpy()


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-averaged F1 over the classes present in ``y_true`` or ``y_pred``."""
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def leave_one_subject_out(subjects: np.ndarray) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Yield ``(held_out_subject, train_mask, test_mask)`` for every subject.

    Raises:
        ValueError: with fewer than two subjects.
    """
    unique = sorted(set(subjects.tolist()))
    if len(unique) < 2:
        raise ValueError(f"leave-one-subject-out needs >= 2 subjects, got {unique}")
    for subject in unique:
        test = subjects == subject
        yield subject, ~test, test
