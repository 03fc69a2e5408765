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


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` ``(B, ...)`` from every process along dim 0; gradients flow back to each rank."""
    if not distributed_ready():
        return x
    import torch.distributed.nn.functional as dist_functional

    return torch.cat(dist_functional.all_gather(x), dim=0)


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
