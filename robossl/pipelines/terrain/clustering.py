"""Embeddings -> terrain cluster ids (k-means, k given or chosen by silhouette) and clustering metrics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score, silhouette_score


@dataclass
class TerrainClusters:
    """A fitted k-means model over terrain embeddings.

    Attributes:
        centers: ``(k, D)`` cluster centres.
        silhouette: ``{k: score}`` for every k tried (empty when k was given).
    """

    centers: np.ndarray
    silhouette: dict[int, float]

    @property
    def k(self) -> int:
        return int(self.centers.shape[0])

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """Nearest-centre cluster id ``(N,)`` int64 for ``(N, D)`` embeddings."""
        if embeddings.ndim != 2 or embeddings.shape[1] != self.centers.shape[1]:
            raise ValueError(
                f"embeddings must be (N, {self.centers.shape[1]}), got {embeddings.shape}; "
                "were the clusters fitted on another embedding network?"
            )
        d = ((embeddings[:, None, :] - self.centers[None]) ** 2).sum(-1)
        return d.argmin(axis=1).astype(np.int64)


def fit_clusters(
    embeddings: np.ndarray,
    k: int | None = None,
    k_range: tuple[int, int] = (2, 8),
    seed: int = 0,
    silhouette_samples: int = 2000,
    n_init: int = 10,
) -> TerrainClusters:
    """k-means on ``(N, D)`` embeddings; with ``k=None`` the k in ``k_range`` (inclusive) of best silhouette.

    Args:
        embeddings: ``(N, D)``.
        k: number of terrain clusters, or None to choose.
        k_range: smallest and largest k tried when choosing.
        seed: k-means initialisation seed.
        silhouette_samples: windows sampled to score the silhouette (it is quadratic in N).
        n_init: k-means restarts per k; the one of lowest inertia is kept (few restarts often stop in a
            poor local optimum that merges two terrains and splits another).
    """
    embeddings = np.asarray(embeddings, dtype=np.float64)
    if embeddings.ndim != 2 or not np.isfinite(embeddings).all():
        raise ValueError(f"embeddings must be a finite (N, D) array, got shape {embeddings.shape}")
    candidates = [k] if k is not None else list(range(k_range[0], k_range[1] + 1))
    if n_init < 1:
        raise ValueError(f"n_init is the number of k-means restarts and must be >= 1, got {n_init}")
    if min(candidates) < 1 or max(candidates) > len(embeddings):
        raise ValueError(f"k must be in [1, N={len(embeddings)}], got {candidates}")
    scores: dict[int, float] = {}
    best: KMeans | None = None
    for candidate in candidates:
        model = KMeans(n_clusters=candidate, n_init=n_init, random_state=seed).fit(embeddings)
        if k is None:
            rng = np.random.default_rng(seed)
            take = rng.choice(len(embeddings), min(silhouette_samples, len(embeddings)), replace=False)
            labels = model.labels_[take]
            score = silhouette_score(embeddings[take], labels) if len(set(labels)) > 1 else -1.0
            scores[candidate] = float(score)
            if best is None or score > scores[best.n_clusters]:
                best = model
        else:
            best = model
    assert best is not None
    return TerrainClusters(centers=best.cluster_centers_.astype(np.float32), silhouette=scores)


def match_clusters(true: np.ndarray, predicted: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Hungarian matching: ``mapping[cluster] = class`` maximising agreement (unmatched clusters -> -1)."""
    num_classes = num_classes or int(max(true.max(), 0)) + 1
    num_clusters = int(predicted.max()) + 1
    counts = np.zeros((num_clusters, num_classes), dtype=np.int64)
    np.add.at(counts, (predicted, true), 1)
    rows, cols = linear_sum_assignment(-counts)
    mapping = np.full(num_clusters, -1, dtype=np.int64)
    mapping[rows] = cols
    return mapping


def cluster_accuracy(true: np.ndarray, predicted: np.ndarray) -> float:
    """Fraction of samples whose cluster maps to their class under the best one-to-one matching."""
    true, predicted = np.asarray(true, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    if true.shape != predicted.shape or true.size == 0:
        raise ValueError(
            f"true and predicted must be non-empty and of one shape, got {true.shape}, {predicted.shape}"
        )
    mapping = match_clusters(true, predicted)
    return float((mapping[predicted] == true).mean())


def nmi(true: np.ndarray, predicted: np.ndarray) -> float:
    """Normalized mutual information (arithmetic mean normalisation)."""
    return float(normalized_mutual_info_score(true, predicted))


def confusion(true: np.ndarray, predicted: np.ndarray, num_classes: int, num_clusters: int) -> np.ndarray:
    """Counts ``(num_classes, num_clusters)``: rows are true classes, columns predicted clusters."""
    out = np.zeros((num_classes, num_clusters), dtype=np.int64)
    np.add.at(out, (np.asarray(true), np.asarray(predicted)), 1)
    return out
