"""Triplet mining without terrain labels: from visual features of traversed patches, or from time.

Visual mining follows Zurn, Burgard, Valada (T-RO 2021): the positive of an anchor clip is the clip whose
traversed patch is the nearest visual neighbour; the negative is a random clip from another visual cluster.
Some triplets are wrong; a majority of right ones suffices.

Temporal mining is for data without images (e.g. BorealTC): clips recorded close together in one run cross
the same ground, so windows in one time segment of one run form a group for batch-hard mining.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans


def visual_triplets(
    visual_features: np.ndarray,
    num_triplets: int,
    num_visual_clusters: int,
    rng: np.random.Generator,
    exclude_radius: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Anchor / positive / negative indices mined from patch appearance.

    Args:
        visual_features: ``(N, D)`` descriptor of the patch each clip traversed.
        num_triplets: triplets to draw (anchors are sampled with replacement).
        num_visual_clusters: k of the k-means that defines "another visual cluster" for negatives.
        rng: random generator.
        exclude_radius: optional ``(N,)`` group ids (e.g. time segment); a positive is never taken from the
            anchor's own group, so that the positive is not merely the next clip in time.

    Returns:
        three ``(num_triplets,)`` int64 index arrays.
    """
    x = np.asarray(visual_features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 3:
        raise ValueError(f"visual_features must be (N >= 3, D), got {x.shape}")
    k = min(num_visual_clusters, len(x))
    if k < 2:
        raise ValueError(f"need >= 2 visual clusters to draw negatives, got {num_visual_clusters}")
    scale = x.std(axis=0) + 1e-8
    z = (x - x.mean(axis=0)) / scale
    clusters = KMeans(n_clusters=k, n_init=4, random_state=int(rng.integers(1 << 31))).fit_predict(z)
    dist = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(dist, np.inf)
    if exclude_radius is not None:
        groups = np.asarray(exclude_radius)
        dist[groups[:, None] == groups[None, :]] = np.inf
    anchors = rng.integers(0, len(x), num_triplets)
    positives = dist[anchors].argmin(axis=1)
    negatives = np.empty(num_triplets, dtype=np.int64)
    for i, a in enumerate(anchors):
        others = np.flatnonzero(clusters != clusters[a])
        negatives[i] = rng.choice(others) if len(others) else rng.integers(0, len(x))
    return anchors.astype(np.int64), positives.astype(np.int64), negatives


def visual_clusters(visual_features: np.ndarray, num_visual_clusters: int, seed: int = 0) -> np.ndarray:
    """k-means ids ``(N,)`` of standardised visual descriptors, to use as batch-hard groups."""
    x = np.asarray(visual_features, dtype=np.float64)
    z = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-8)
    return KMeans(n_clusters=num_visual_clusters, n_init=4, random_state=seed).fit_predict(z).astype(np.int64)


def temporal_groups(run_ids: np.ndarray, times: np.ndarray, segment_s: float) -> np.ndarray:
    """Group id ``(N,)`` per window: same run and same ``segment_s``-long stretch of time.

    Args:
        run_ids: ``(N,)`` run of each window.
        times: ``(N,)`` window start in seconds from its run start.
        segment_s: stretch length in seconds; ``inf`` makes each whole run one group.
    """
    if not segment_s > 0:
        raise ValueError(f"segment_s must be > 0 seconds, got {segment_s}")
    run_ids = np.asarray(run_ids, dtype=np.int64)
    segment = np.zeros_like(run_ids) if np.isinf(segment_s) else np.floor(np.asarray(times) / segment_s)
    keys = np.stack([run_ids, np.asarray(segment, dtype=np.int64)], axis=1)
    _, groups = np.unique(keys, axis=0, return_inverse=True)
    return groups.reshape(-1).astype(np.int64)


def balanced_batch(
    groups: np.ndarray, groups_per_batch: int, per_group: int, rng: np.random.Generator
) -> np.ndarray:
    """Indices of ``groups_per_batch`` random groups x ``per_group`` random members (P x K sampling).

    Groups with fewer than 2 members are never drawn (they have no positive).
    """
    ids, counts = np.unique(groups, return_counts=True)
    usable = ids[counts >= 2]
    if len(usable) < 2:
        raise ValueError("need at least 2 groups with 2+ members for batch-hard triplets; record more data")
    chosen = rng.choice(usable, size=min(groups_per_batch, len(usable)), replace=False)
    out = []
    for g in chosen:
        members = np.flatnonzero(groups == g)
        out.append(rng.choice(members, size=per_group, replace=len(members) < per_group))
    return np.concatenate(out)


def group_triplets(
    groups: np.ndarray, num_triplets: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random triplets from group ids: positive from the anchor's group, negative from any other group.

    Args:
        groups: ``(N,)`` group id per sample (e.g. from :func:`temporal_groups`).
        num_triplets: triplets to draw; anchors come only from groups with 2+ members.
        rng: random generator.

    Returns:
        three ``(num_triplets,)`` int64 index arrays.
    """
    groups = np.asarray(groups, dtype=np.int64)
    order = np.argsort(groups, kind="stable")
    ids, starts, counts = np.unique(groups[order], return_index=True, return_counts=True)
    eligible = np.flatnonzero(counts[np.searchsorted(ids, groups)] >= 2)
    if len(eligible) == 0 or len(ids) < 2:
        raise ValueError("need at least 2 groups and one with 2+ members to draw triplets; record more data")
    anchors = rng.choice(eligible, size=num_triplets)
    g = np.searchsorted(ids, groups[anchors])
    # Positive: another member of the anchor's group (offset 1..count-1 from the anchor's rank, wrapped).
    rank = np.empty(len(groups), dtype=np.int64)
    rank[order] = np.arange(len(groups)) - np.repeat(starts, counts)
    offset = 1 + (rng.random(num_triplets) * (counts[g] - 1)).astype(np.int64)
    positives = order[starts[g] + (rank[anchors] + offset) % counts[g]]
    # Negative: uniform over samples outside the anchor's group.
    outside = len(groups) - counts[g]
    pick = (rng.random(num_triplets) * outside).astype(np.int64)
    pick = np.where(pick >= starts[g], pick + counts[g], pick)
    negatives = order[pick]
    return anchors.astype(np.int64), positives.astype(np.int64), negatives.astype(np.int64)


def nuisance_matched_triplets(
    groups: np.ndarray,
    nuisance: np.ndarray,
    num_triplets: int,
    rng: np.random.Generator,
    candidates: int = 16,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group triplets whose negative is matched to the anchor in a nuisance variable (e.g. wheel speed).

    With whole runs as groups, a plain group triplet is solved most easily by the variable that differs
    most between runs, and on a robot that is often how it was driven (speed), not the ground. Taking the
    negative, among ``candidates`` random samples of other groups, as the one nearest to the anchor in
    ``nuisance`` makes that variable useless for the loss, so the embedding has to separate runs by what
    else differs: the terrain. No labels are used; ``nuisance`` is measured by the robot itself.

    Args:
        groups: ``(N,)`` group id per sample (e.g. from :func:`temporal_groups`).
        nuisance: ``(N,)`` or ``(N, D)`` nuisance values (e.g. log mean wheel speed), Euclidean distance.
        num_triplets: triplets to draw; anchors come only from groups with 2+ members.
        rng: random generator.
        candidates: samples of other groups considered per negative; 1 gives plain random negatives.

    Returns:
        three ``(num_triplets,)`` int64 index arrays.
    """
    groups = np.asarray(groups, dtype=np.int64)
    values = np.asarray(nuisance, dtype=np.float64)
    values = values.reshape(len(values), -1)
    if len(values) != len(groups):
        raise ValueError(f"one nuisance value per sample needed: {len(values)} values, {len(groups)} samples")
    if candidates < 1:
        raise ValueError(f"candidates must be >= 1, got {candidates}")
    anchors, positives, _ = group_triplets(groups, num_triplets, rng)
    pool = rng.integers(0, len(groups), size=(num_triplets, candidates))
    distance = np.sqrt(((values[pool] - values[anchors][:, None, :]) ** 2).sum(-1))
    distance[groups[pool] == groups[anchors][:, None]] = np.inf
    pick = distance.argmin(axis=1)
    negatives = pool[np.arange(num_triplets), pick]
    # A row whose candidates all share the anchor's group: any sample of another group.
    for row in np.flatnonzero(~np.isfinite(distance[np.arange(num_triplets), pick])):
        negatives[row] = rng.choice(np.flatnonzero(groups != groups[anchors[row]]))
    return anchors, positives, negatives.astype(np.int64)
