"""Cluster-aware DINO's pseudo-label stage: mixture threshold by hand, EM recovery, gate + correction on a
hand-computed batch, online k-means and same-cluster partners."""

from __future__ import annotations

import math

import pytest
import torch

from robossl.losses.cluster_dino import fit_two_gaussians, gated_pseudo_label_loss, reliable_posterior
from robossl.methods.cluster_dino import online_kmeans_update, same_cluster_partners


def test_posterior_crosses_one_half_where_the_formula_says() -> None:
    # Equal stds: the posteriors are equal at (mu0 + mu1) / 2 + sigma^2 ln(w0 / w1) / (mu1 - mu0)
    # = 1 + ln(3) / 2 = 1.549306 for weights (0.75, 0.25), means (0, 2), stds (1, 1).
    weights, means, stds = (
        torch.tensor(v, dtype=torch.float64) for v in ([0.75, 0.25], [0.0, 2.0], [1.0, 1.0])
    )
    crossing = 1 + math.log(3) / 2
    posterior = reliable_posterior(
        torch.tensor([crossing, 1.5, 1.6], dtype=torch.float64), weights, means, stds
    )
    assert float(posterior[0]) == pytest.approx(0.5, abs=1e-12)
    assert float(posterior[1]) > 0.5 > float(posterior[2])


def test_em_recovers_a_known_mixture() -> None:
    g = torch.Generator().manual_seed(0)
    values = torch.cat([0.5 + 0.1 * torch.randn(600, generator=g), 3.0 + 0.3 * torch.randn(400, generator=g)])
    weights, means, stds = fit_two_gaussians(values)
    assert weights.tolist() == pytest.approx([0.6, 0.4], abs=0.02)
    assert means.tolist() == pytest.approx([0.5, 3.0], abs=0.05)
    assert stds.tolist() == pytest.approx([0.1, 0.3], abs=0.03)


def test_gate_keeps_reliable_corrects_confident_and_drops_the_rest() -> None:
    # per-sample cross-entropies: log(1 + e^-4) = 0.018150 (samples 0, 1), 4.018150 (sample 2: the model
    # says class 1 with p = 0.982), log 2 = 0.693147 (sample 3: p = 0.5 for both classes).
    logits = torch.tensor([[4.0, 0.0], [4.0, 0.0], [0.0, 4.0], [0.0, 0.0]])
    labels = torch.tensor([0, 0, 0, 1])
    history = torch.tensor([0.01, 0.02, 0.03, 3.9, 4.0, 4.1])  # a tight low-loss and a high-loss mode
    loss, gate = gated_pseudo_label_loss(logits, labels, history, correction_threshold=0.6)
    # samples 0, 1 reliable; sample 2 corrected to class 1 (loss 0.018150); sample 3 (0.693 is nearer the
    # high mode in standard deviations) unreliable with p = 0.5 < 0.6: dropped.
    assert float(loss) == pytest.approx(math.log(1 + math.exp(-4)), rel=1e-5)
    assert float(gate["reliable_fraction"]) == 0.5 and float(gate["corrected_fraction"]) == 0.25
    with pytest.raises(ValueError, match="correction_threshold"):
        gated_pseudo_label_loss(logits, labels, history, correction_threshold=0.0)
    with pytest.raises(ValueError, match="pseudo_labels"):
        gated_pseudo_label_loss(logits, labels[:3], history)


def test_online_kmeans_seeds_then_tracks_running_means() -> None:
    centroids, counts = torch.zeros(2, 2), torch.zeros(2, dtype=torch.long)
    x = torch.tensor([[0.0, 0.0], [10.0, 0.0], [1.0, 0.0], [9.0, 0.0]])
    assignment = online_kmeans_update(centroids, counts, x)
    assert assignment.tolist() == [0, 1, 0, 1]
    assert centroids[:, 0].tolist() == [0.5, 9.5]  # the means of {0, 1} and {10, 9}
    assert counts.tolist() == [2, 2]
    online_kmeans_update(centroids, counts, torch.tensor([[2.0, 0.0]]))
    assert centroids[0, 0].item() == pytest.approx(1.0)  # mean of {0, 1, 2}
    assert counts.tolist() == [3, 2]


def test_partners_share_the_cluster() -> None:
    labels = torch.tensor([0, 1, 0, 2, 1, 0])
    partners = same_cluster_partners(labels, torch.Generator().manual_seed(0))
    assert torch.equal(labels[partners], labels)
    assert partners[3] == 3  # alone in its cluster
    assert all(int(partners[i]) != i for i in (0, 1, 2, 4, 5))
