"""Mugs losses against loop-written formulas (crop pairing, queued InfoNCE, centred clustering) and by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from robossl.losses.mugs import EmbeddingQueue, MugsLoss, group_discrimination_loss, queue_info_nce_loss


def _pair_average(pair_losses: dict[tuple[int, int], float], num_teacher: int) -> float:
    global_losses = [v for (t, s), v in pair_losses.items() if s < num_teacher]
    local_losses = [v for (t, s), v in pair_losses.items() if s >= num_teacher]
    if not local_losses:
        return float(np.mean(global_losses))
    return 0.5 * (float(np.mean(global_losses)) + float(np.mean(local_losses)))


def reference_info_nce(student: np.ndarray, teacher: np.ndarray, queue: np.ndarray, tau: float) -> float:
    pairs = {}
    for t in range(teacher.shape[0]):
        for s in range(student.shape[0]):
            if s == t:
                continue
            total = 0.0
            for i in range(student.shape[1]):
                logits = [student[s, i] @ teacher[t, i]] + [student[s, i] @ q for q in queue]
                logits = [x / tau for x in logits]
                total += -logits[0] + math.log(sum(math.exp(x) for x in logits))
            pairs[(t, s)] = total / student.shape[1]
    return _pair_average(pairs, teacher.shape[0])


def reference_group(
    student: np.ndarray, teacher: np.ndarray, center: np.ndarray, ts: float, tt: float
) -> float:
    pairs = {}
    for t in range(teacher.shape[0]):
        for s in range(student.shape[0]):
            if s == t:
                continue
            total = 0.0
            for i in range(student.shape[1]):
                q = np.exp((teacher[t, i] - center) / tt)
                q /= q.sum()
                log_p = student[s, i] / ts - math.log(sum(math.exp(x / ts) for x in student[s, i]))
                total += -(q * log_p).sum()
            pairs[(t, s)] = total / student.shape[1]
    return _pair_average(pairs, teacher.shape[0])


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_info_nce_by_hand() -> None:
    # One sample, two global views, one queued negative [1, 0], temperature 0.2.
    # Pair (teacher 0 = [1, 0], student 1 = [0, 1]): logits [0, 0] -> log 2.
    # Pair (teacher 1 = [0, 1], student 0 = [1, 0]): logits [0, 5] -> log(1 + e^5) = 5.006715.
    student = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    teacher = student.clone()
    loss = queue_info_nce_loss(student, teacher, torch.tensor([[1.0, 0.0]]), temperature=0.2)
    assert float(loss) == pytest.approx((math.log(2) + 5.006715) / 2, rel=1e-6)


def test_info_nce_matches_loop_reference_with_local_views() -> None:
    rng = np.random.default_rng(0)
    student, teacher, queue = (
        _unit(rng.normal(size=(4, 3, 5))),
        _unit(rng.normal(size=(2, 3, 5))),
        _unit(rng.normal(size=(6, 5))),
    )
    got = queue_info_nce_loss(*(torch.from_numpy(a) for a in (student, teacher, queue)), temperature=0.2)
    assert float(got) == pytest.approx(reference_info_nce(student, teacher, queue, 0.2), rel=1e-9)
    two_views = queue_info_nce_loss(
        *(torch.from_numpy(a) for a in (student[:2], teacher, queue)), temperature=0.5
    )
    assert float(two_views) == pytest.approx(reference_info_nce(student[:2], teacher, queue, 0.5), rel=1e-9)


def test_group_loss_matches_loop_reference() -> None:
    rng = np.random.default_rng(1)
    student, teacher, center = (
        rng.normal(size=(3, 4, 6)),
        rng.normal(size=(2, 4, 6)),
        rng.normal(size=6) * 0.1,
    )
    got = group_discrimination_loss(*(torch.from_numpy(a) for a in (student, teacher, center)), 0.1, 0.04)
    assert float(got) == pytest.approx(reference_group(student, teacher, center, 0.1, 0.04), rel=1e-9)


def test_queue_wraps_around_and_keeps_the_newest() -> None:
    queue = EmbeddingQueue(size=4, dim=2)
    queue.push(torch.tensor([[1.0, 0], [2, 0], [3, 0]]))
    queue.push(torch.tensor([[4.0, 0], [5, 0]]))
    assert queue.queue[:, 0].tolist() == [5.0, 2.0, 3.0, 4.0]
    assert int(queue.pointer) == 1
    queue.push(torch.arange(12.0).view(6, 2))  # more than the size: the last 4 rows, starting at the pointer
    assert sorted(queue.queue[:, 0].tolist()) == [4.0, 6.0, 8.0, 10.0]


def test_mugs_loss_weights_parts_and_updates_state_in_training_only() -> None:
    torch.manual_seed(0)
    loss = MugsLoss(4, 4, 5, queue_size=8, weights=(1.0, 0.5, 2.0))
    student = (
        torch.nn.functional.normalize(torch.randn(3, 2, 4), dim=-1),
        torch.nn.functional.normalize(torch.randn(3, 2, 4), dim=-1),
        torch.randn(3, 2, 5),
    )
    teacher = tuple(x[:2].clone() for x in student)
    queue_before = loss.instance_queue.queue.clone()
    total, parts = loss(student, teacher)
    assert float(total) == pytest.approx(
        float(parts["instance"] + 0.5 * parts["local_group"] + 2 * parts["group"])
    )
    assert torch.allclose(
        loss.instance_queue.queue[:4], teacher[0].reshape(4, 4)
    )  # both teacher views queued
    assert torch.allclose(loss.center, 0.1 * teacher[2].mean(dim=(0, 1)))
    loss.eval()
    pointer = int(loss.instance_queue.pointer)
    loss(student, teacher)
    assert int(loss.instance_queue.pointer) == pointer
    assert not torch.equal(queue_before, loss.instance_queue.queue)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="views, N, D"):
        queue_info_nce_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="queue must be"):
        queue_info_nce_loss(torch.zeros(2, 1, 3), torch.zeros(2, 1, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="2 teacher"):
        group_discrimination_loss(torch.zeros(2, 1, 3), torch.zeros(3, 1, 3), torch.zeros(3))
    with pytest.raises(ValueError, match="weights"):
        MugsLoss(4, 4, 5, weights=(1.0, -1.0, 1.0))
