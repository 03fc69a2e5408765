"""Shared test helper: check that a loss falls under a few optimizer steps."""

from __future__ import annotations

from collections.abc import Callable

import torch


def loss_decreases(make_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], steps: int = 30) -> None:
    """Train a tiny linear encoder on two noisy views with ``make_loss`` and assert the loss fell."""
    torch.manual_seed(0)
    data = torch.randn(32, 8)
    encoder = torch.nn.Linear(8, 6)
    optimizer = torch.optim.SGD(encoder.parameters(), lr=0.05)
    history = []
    for _ in range(steps):
        view_a = data + 0.1 * torch.randn_like(data)
        view_b = data + 0.1 * torch.randn_like(data)
        loss = make_loss(encoder(view_a), encoder(view_b))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(float(loss.detach()))
    first, last = sum(history[:3]) / 3, sum(history[-3:]) / 3
    assert last < first, f"loss did not fall: {first:.4f} -> {last:.4f}"
