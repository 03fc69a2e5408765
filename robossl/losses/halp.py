"""HaLP: hallucinated latent positives on top of MoCo.

Reference: Shah et al., "HaLP: Hallucinating Latent Positives for Skeleton-based Self-Supervised Learning of
Actions", CVPR 2023 (and the authors' code). Prototypes are spherical k-means centres of recent keys. For a
key ``k`` whose closest prototype is ``p0``, a positive is generated on the great circle from ``k`` towards
another nearby prototype ``p`` (one of the ``num_candidates`` closest, skipping the ``skip_closest``
closest): ``g(t) = sin((1 - t) w) / sin w * k + sin(t w) / sin w * p`` with ``w = acos(<k, p>)``. The
closed-form hardest step ``t_max = atan(sin w / (K + cos w)) / w``, ``K = (1 - <p, p0>) / <k, p0 - p>``, is
where ``g`` becomes as similar to ``p`` as to ``p0``; ``t`` is drawn in ``[(1 - u_max) t_max, t_max]``
(``u_max`` = 0.8). Positives whose closest prototype is no longer ``p0`` are dropped (rank filter). The HaLP
term is ``-mean(<q, g> / T)`` over kept positives, added to MoCo's InfoNCE with weight ``mu``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def moco_info_nce(
    query: torch.Tensor, key: torch.Tensor, queue: torch.Tensor, temperature: float = 0.07
) -> torch.Tensor:
    """MoCo InfoNCE: ``(N, D)`` unit queries vs their ``(N, D)`` unit keys and ``(K, D)`` queued negatives."""
    if query.shape != key.shape or query.ndim != 2 or queue.ndim != 2 or queue.shape[1] != query.shape[1]:
        raise ValueError(
            f"need query and key (N, D) and queue (K, D), got {tuple(query.shape)}, {tuple(key.shape)}, "
            f"{tuple(queue.shape)}"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    positive = (query * key.detach()).sum(dim=1, keepdim=True)
    logits = torch.cat([positive, query @ queue.detach().T], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))


def hallucinate_positives(
    anchors: torch.Tensor,
    prototypes: torch.Tensor,
    num_positives: int = 100,
    num_candidates: int = 20,
    skip_closest: int = 1,
    hardness_range: float = 0.8,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate positives around unit ``anchors`` ``(N, D)`` from unit ``prototypes`` ``(P, D)``.

    Returns:
        ``(positives (N, M, D) unit, keep (N, M) bool)`` with M = ``num_positives``; ``keep`` is the rank
        filter (the positive's closest prototype is still the anchor's).
    """
    if anchors.ndim != 2 or prototypes.ndim != 2 or anchors.shape[1] != prototypes.shape[1]:
        raise ValueError(
            f"need anchors (N, D) and prototypes (P, D), got {tuple(anchors.shape)}, {tuple(prototypes.shape)}"
        )
    num_prototypes = prototypes.shape[0]
    if not 1 <= skip_closest < num_prototypes:
        raise ValueError(f"skip_closest must be in [1, {num_prototypes - 1}] for {num_prototypes} prototypes")
    if num_positives < 1 or not 0.0 <= hardness_range <= 1.0:
        raise ValueError(
            f"need num_positives >= 1 and hardness_range in [0, 1], got {num_positives}, {hardness_range}"
        )
    anchors, prototypes = anchors.detach(), prototypes.detach()
    n, device = anchors.shape[0], anchors.device
    order = (anchors @ prototypes.T).argsort(dim=1, descending=True)  # closest first
    closest = prototypes[order[:, 0]]  # p0: (N, D)
    candidates = order[:, skip_closest : skip_closest + num_candidates]  # (N, C)
    pick = torch.randint(0, candidates.shape[1], (n, num_positives), generator=generator, device=device)
    target = prototypes[candidates.gather(1, pick)]  # (N, M, D)
    k, p0 = anchors.unsqueeze(1), closest.unsqueeze(1)
    cos_w = (target * k).sum(-1).clamp(-1 + 1e-7, 1 - 1e-7)
    w = torch.acos(cos_w)
    big_k = (1 - (target * p0).sum(-1)) / ((k * (p0 - target)).sum(-1) + 1e-8)
    t_max = torch.atan(torch.sin(w) / (big_k + cos_w + 1e-8)) / (w + 1e-8)
    u = torch.rand(t_max.shape, generator=generator, device=device) * hardness_range
    t = (1 - u) * t_max
    alpha = (torch.sin((1 - t) * w) / (torch.sin(w) + 1e-8)).unsqueeze(-1)
    beta = (torch.sin(t * w) / (torch.sin(w) + 1e-8)).unsqueeze(-1)
    positives = F.normalize(alpha * k + beta * target, dim=-1)
    keep = (positives @ prototypes.T).argmax(dim=-1) == order[:, :1]
    return positives, keep


def halp_loss(
    query: torch.Tensor, positives: torch.Tensor, keep: torch.Tensor, temperature: float = 0.07
) -> torch.Tensor:
    """``-sum_kept <q, g> / T / (number kept)``: ``query`` ``(N, D)`` unit, ``positives`` ``(N, M, D)``."""
    similarity = torch.einsum("nd,nmd->nm", query, positives.detach()) / temperature
    return -(similarity * keep).sum() / (keep.sum() + 1e-8)
