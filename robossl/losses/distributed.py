"""Cross-process gathering for objectives that need the whole global batch (negatives, statistics).

Every objective takes ``gather_distributed: bool``; gathering happens only when it is True AND a process
group is initialised, and asking for it without a process group raises instead of silently doing nothing.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def distributed_ready() -> bool:
    """True when ``torch.distributed`` is initialised with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def check_gather_possible(gather_distributed: bool) -> None:
    """Raise when gathering is requested but no process group exists (so it is never silently off)."""
    if gather_distributed and not (dist.is_available() and dist.is_initialized()):
        raise ValueError(
            "gather_distributed=True needs an initialised process group: run under torchrun and call "
            "torch.distributed.init_process_group first, or pass gather_distributed=False"
        )


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums the gradient over processes and returns this rank's slice."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> tuple[torch.Tensor, ...]:  # type: ignore[override]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return tuple(parts)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        stacked = torch.stack(grads)
        dist.all_reduce(stacked)
        return stacked[dist.get_rank()]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` ``(B, ...)`` from every process along dim 0 (same B on every process);
    gradients flow back to the process that produced each part."""
    if not distributed_ready():
        return x
    return torch.cat(_GatherWithGrad.apply(x), dim=0)


def all_reduce_mean(x: torch.Tensor) -> torch.Tensor:
    """Average ``x`` over processes (no gradient; for running statistics such as centres)."""
    if not distributed_ready():
        return x
    x = x.clone()
    dist.all_reduce(x)
    return x / dist.get_world_size()


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if distributed_ready() else 0
