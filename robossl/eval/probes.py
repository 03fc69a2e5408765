"""Frozen-representation probes: a linear classifier and k-nearest neighbours, scored by accuracy and
macro-F1 (the metric of the HAR and terrain papers)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class ProbeResult:
    accuracy: float  # fraction of correct test predictions
    macro_f1: float  # unweighted mean of per-class F1 over the classes present in the test labels
    num_train: int  # training samples
    num_test: int  # test samples
    # macro-F1 over the test classes that training also holds (a probe cannot predict a class it never
    # saw, so those classes score F1 = 0 above); equals macro_f1 when none is missing, None when all are
    macro_f1_trained_classes: float | None = None

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def _check(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> None:
    if train_x.ndim != 2 or test_x.ndim != 2 or train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"features must be (N, D) with equal D, got {train_x.shape} and {test_x.shape}")
    if train_y.shape != (train_x.shape[0],) or test_y.shape != (test_x.shape[0],):
        raise ValueError("labels must be (N,) and match the feature rows")
    if len(np.unique(train_y)) < 2:
        raise ValueError("the probe's training split holds fewer than 2 classes; use more labelled data")


def unseen_classes(train_y: np.ndarray, test_y: np.ndarray) -> np.ndarray:
    """Sorted class ids of ``test_y`` that ``train_y`` lacks (no probe trained on it can predict them)."""
    return np.setdiff1d(np.unique(test_y), np.unique(train_y))


def _score(
    test_y: np.ndarray, predicted: np.ndarray, num_train: int, train_y: np.ndarray | None = None
) -> ProbeResult:
    """Scores of ``predicted`` against ``test_y``; with ``train_y``, also macro-F1 over the trained classes."""
    from sklearn.metrics import accuracy_score, f1_score

    def macro_f1(labels: np.ndarray) -> float:
        return float(f1_score(test_y, predicted, average="macro", labels=labels, zero_division=0))

    trained = np.unique(test_y) if train_y is None else np.intersect1d(np.unique(test_y), np.unique(train_y))
    return ProbeResult(
        float(accuracy_score(test_y, predicted)),
        macro_f1(np.unique(test_y)),
        num_train,
        int(test_y.shape[0]),
        macro_f1(trained) if trained.size else None,
    )


def linear_probe(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    regularization: float = 1.0,
) -> ProbeResult:
    """Multinomial logistic regression on standardised frozen features (class-balanced weights).

    Args:
        train_x, test_x: ``(N, D)`` representations.
        train_y, test_y: ``(N,)`` integer labels.
        regularization: inverse L2 strength C of scikit-learn's LogisticRegression.
    """
    _check(train_x, train_y, test_x, test_y)
    predicted = linear_classifier_predictions(train_x, train_y, test_x, regularization)
    return _score(test_y, predicted, train_x.shape[0], train_y)


def linear_classifier_predictions(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    regularization: float = 1.0,
    class_weight: str | None = "balanced",
    max_iter: int = 500,
) -> np.ndarray:
    """``(M,)`` predicted labels of ``(M, D)`` ``test_x`` from a multinomial logistic regression fitted on
    standardised ``(N, D)`` ``train_x`` (the linear probe's classifier; ``class_weight=None`` weighs every
    sample alike, as a plain supervised baseline does)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_x)
    model = LogisticRegression(C=regularization, max_iter=max_iter, class_weight=class_weight)
    model.fit(scaler.transform(train_x), train_y)
    return np.asarray(model.predict(scaler.transform(test_x)))


def knn_probe(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, k: int = 20
) -> ProbeResult:
    """Cosine-similarity k-nearest-neighbour vote (distance-weighted), as in DINO's kNN evaluation."""
    from sklearn.neighbors import KNeighborsClassifier

    _check(train_x, train_y, test_x, test_y)
    model = KNeighborsClassifier(n_neighbors=min(k, train_x.shape[0]), metric="cosine", weights="distance")
    model.fit(train_x, train_y)
    return _score(test_y, model.predict(test_x), train_x.shape[0], train_y)
