"""DINO loss against a loop over view pairs; centre update; temperature warm-up; collapse behaviour."""

from __future__ import annotations

import math

import pytest
import torch

from robossl.losses.dino import DINOLoss, dino_loss


def reference_dino(
    student: torch.Tensor, teacher: torch.Tensor, center: torch.Tensor, ts: float, tt: float
) -> float:
    total, pairs = 0.0, 0
    for t in range(teacher.shape[0]):
        for s in range(student.shape[0]):
            if s == t:
                continue
            per_sample = []
            for n in range(student.shape[1]):
                q = torch.softmax((teacher[t, n] - center) / tt, dim=0)
                logp = torch.log_softmax(student[s, n] / ts, dim=0)
                per_sample.append(-float((q * logp).sum()))
            total += sum(per_sample) / len(per_sample)
            pairs += 1
    return total / pairs


def test_matches_reference_with_multicrop() -> None:
    g = torch.Generator().manual_seed(0)
    student = torch.randn(4, 3, 6, generator=g, dtype=torch.float64)  # 2 global + 2 local views
    teacher = torch.randn(2, 3, 6, generator=g, dtype=torch.float64)
    center = torch.randn(6, generator=g, dtype=torch.float64)
    got = float(dino_loss(student, teacher, center, 0.1, 0.04))
    assert got == pytest.approx(reference_dino(student, teacher, center, 0.1, 0.04), rel=1e-10)


def test_permutation_invariance_and_uniform_extreme() -> None:
    student, teacher, center = torch.randn(2, 5, 8), torch.randn(2, 5, 8), torch.zeros(8)
    perm = torch.randperm(5)
    assert torch.allclose(
        dino_loss(student, teacher, center), dino_loss(student[:, perm], teacher[:, perm], center), atol=1e-6
    )
    # A uniform (collapsed) student costs exactly log K whatever the teacher says.
    flat = torch.zeros(2, 5, 8)
    assert float(dino_loss(flat, teacher, center)) == pytest.approx(math.log(8), rel=1e-6)


def test_center_is_ema_of_teacher_mean_and_saved() -> None:
    loss = DINOLoss(4, center_momentum=0.9)
    teacher = torch.randn(2, 6, 4)
    loss(torch.randn(2, 6, 4), teacher)
    assert torch.allclose(loss.center, 0.1 * teacher.mean(dim=(0, 1)), atol=1e-7)
    assert "center" in loss.state_dict()
    loss.eval()
    before = loss.center.clone()
    loss(torch.randn(2, 6, 4), torch.randn(2, 6, 4))
    assert torch.equal(before, loss.center)


def test_teacher_temperature_warmup() -> None:
    loss = DINOLoss(4, teacher_temperature=0.07, warmup_teacher_temperature=0.04, warmup_steps=10)
    assert loss.teacher_temperature_at(0) == pytest.approx(0.04)
    assert loss.teacher_temperature_at(5) == pytest.approx(0.055)
    assert loss.teacher_temperature_at(20) == pytest.approx(0.07)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="torch.stack"):
        dino_loss(torch.randn(3, 4), torch.randn(3, 4), torch.zeros(4))
    with pytest.raises(ValueError, match="2 student views"):
        dino_loss(torch.randn(1, 3, 4), torch.randn(1, 3, 4), torch.zeros(4))
    with pytest.raises(ValueError, match="center_momentum"):
        DINOLoss(4, center_momentum=1.5)


def test_student_learns_teacher_distribution() -> None:
    torch.manual_seed(0)
    student_logits = torch.zeros(2, 4, 6, requires_grad=True)
    teacher = torch.randn(2, 4, 6) * 3
    optimizer = torch.optim.SGD([student_logits], lr=0.5)
    losses = []
    for _ in range(20):
        loss = dino_loss(student_logits, teacher, torch.zeros(6))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] - 0.1
