"""k-means terrain clusters, silhouette choice of k, Hungarian accuracy and NMI."""

from __future__ import annotations

import numpy as np
import pytest

from robossl.pipelines.terrain.clustering import (
    cluster_accuracy,
    confusion,
    fit_clusters,
    match_clusters,
    nmi,
)


def _blobs(k: int, n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, size=(k, 4))
    labels = np.repeat(np.arange(k), n)
    return centres[labels] + rng.normal(0, 0.5, size=(k * n, 4)), labels


def test_accuracy_is_invariant_to_cluster_naming() -> None:
    true = np.array([0, 0, 1, 1, 2, 2])
    assert cluster_accuracy(true, np.array([2, 2, 0, 0, 1, 1])) == 1.0
    assert cluster_accuracy(true, np.array([0, 0, 0, 0, 1, 1])) == pytest.approx(4 / 6)
    np.testing.assert_array_equal(match_clusters(true, np.array([2, 2, 0, 0, 1, 1])), [1, 2, 0])
    assert nmi(true, np.array([1, 1, 2, 2, 0, 0])) == pytest.approx(1.0)
    assert confusion(true, np.array([1, 1, 2, 2, 0, 0]), 3, 3).tolist() == [[0, 2, 0], [0, 0, 2], [2, 0, 0]]


def test_kmeans_recovers_blobs_and_silhouette_picks_k() -> None:
    x, labels = _blobs(3)
    chosen = fit_clusters(x, k=None, k_range=(2, 6))
    assert chosen.k == 3
    assert max(chosen.silhouette, key=chosen.silhouette.get) == 3
    assert cluster_accuracy(labels, chosen.predict(x)) == 1.0
    fixed = fit_clusters(x, k=5)
    assert fixed.k == 5 and fixed.silhouette == {}


def test_bad_embeddings_are_rejected() -> None:
    with pytest.raises(ValueError, match="finite"):
        fit_clusters(np.array([[np.nan, 1.0], [0.0, 1.0]]), k=1)
    clusters = fit_clusters(_blobs(2)[0], k=2)
    with pytest.raises(ValueError, match="another embedding"):
        clusters.predict(np.zeros((3, 7), np.float32))
    with pytest.raises(ValueError, match="restarts"):
        fit_clusters(_blobs(2)[0], k=2, n_init=0)
