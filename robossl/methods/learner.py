"""MethodLearner: a method + optimizer + step counter + random state, with a complete ``state_dict``.

``step(batch) -> metrics`` runs one optimizer step. Every random draw of a step is reproducible: views
come from the learner's own generator, dropout from the global RNG forked and seeded from (seed, rank,
step), so a learner restored from ``state_dict()`` continues exactly like one that never stopped (on CPU).
A step synchronises with the device once (loss check and metrics in one transfer).

Under ``torchrun`` pass ``distributed=True``: the method is wrapped in ``DistributedDataParallel``
(gradients averaged over processes); each process draws different views (seed + rank). Cross-process
gathering inside objectives is a separate, explicit method option (``gather_distributed``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from robossl.methods.base import SSLMethod


@dataclass
class MethodLearnerConfig:
    learning_rate: float = 1e-3  # AdamW peak learning rate
    weight_decay: float = 1e-4  # AdamW weight decay
    warmup_steps: int = 0  # linear learning-rate warm-up
    total_steps: int | None = None  # enables cosine learning-rate decay and EMA momentum schedules
    seed: int = 0  # seed of the view / dropout generator (rank is added under DDP)
    max_grad_norm: float | None = None  # clip gradients to this norm (None: no clipping)

    def __post_init__(self) -> None:
        if self.learning_rate <= 0 or self.weight_decay < 0:
            raise ValueError(
                f"need learning_rate > 0 and weight_decay >= 0, got {self.learning_rate}, {self.weight_decay}"
            )
        if self.total_steps is not None and self.total_steps < 1:
            raise ValueError(f"total_steps must be >= 1 or None, got {self.total_steps}")


class MethodLearner:
    """Train a :class:`SSLMethod` one batch at a time.

    Args:
        method: the composed method.
        config: optimisation settings.
        device: where to train (``"cpu"``, ``"cuda"``).
        distributed: wrap the method in DistributedDataParallel (needs an initialised process group).
    """

    def __init__(
        self,
        method: SSLMethod,
        config: MethodLearnerConfig | None = None,
        device: str | torch.device = "cpu",
        distributed: bool = False,
    ) -> None:
        self.config = config or MethodLearnerConfig()
        self.device = torch.device(device)
        self.method = method.to(self.device)
        self.distributed = distributed
        rank = 0
        if distributed:
            if not (dist.is_available() and dist.is_initialized()):
                raise ValueError(
                    "distributed=True needs torch.distributed.init_process_group (run under torchrun)"
                )
            rank = dist.get_rank()
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.model: nn.Module = nn.parallel.DistributedDataParallel(self.method, device_ids=device_ids)
        else:
            self.model = self.method
        parameters = [p for p in self.method.parameters() if p.requires_grad]
        # the fused kernel updates every tensor in one pass (~3x faster than the per-tensor loop on a CPU)
        fused = self.device.type in ("cpu", "cuda") and all(p.dtype == torch.float32 for p in parameters)
        self.optimizer = torch.optim.AdamW(
            parameters,
            lr=self.config.learning_rate,
            weight_decay=self.config.weight_decay,
            fused=fused or None,
        )
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(self.config.seed + rank)
        self._dropout_seed_base = self.config.seed + rank
        self.step_count = 0

    def learning_rate_at(self, step: int) -> float:
        """Linear warm-up, then cosine decay to 0 when ``total_steps`` is set."""
        base = self.config.learning_rate
        if step < self.config.warmup_steps:
            return base * (step + 1) / self.config.warmup_steps
        total = self.config.total_steps
        if not total:
            return base
        progress = min((step - self.config.warmup_steps) / max(1, total - self.config.warmup_steps), 1.0)
        return base * 0.5 * (1 + math.cos(math.pi * progress))

    def step(self, batch: torch.Tensor) -> dict[str, float]:
        """One optimizer step on ``batch`` ``(B, *sample_shape)``; returns float metrics (incl. ``loss``)."""
        if not torch.is_floating_point(batch):
            raise ValueError(f"batch must be a float tensor, got {batch.dtype}; convert with batch.float()")
        # checked where the batch lives (a CPU batch costs no GPU synchronisation), before any state changes
        if not torch.isfinite(batch).all():
            raise ValueError("batch contains NaN or inf; drop or impute those samples before training")
        batch = batch.to(self.device, non_blocking=True)
        self.model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate_at(self.step_count)
        fork_devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=fork_devices, device_type=self.device.type):
            # dropout's seed is a pure function of (seed, rank, step): exact resume without a device sync
            torch.manual_seed(hash((self._dropout_seed_base, self.step_count)) & (2**62 - 1))
            loss, metrics = self.model(batch, self.generator)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        # one device -> host transfer for the loss check and every metric (each float() would synchronise)
        names = [name for name, value in metrics.items() if isinstance(value, torch.Tensor)]
        stacked = torch.stack(
            [loss.detach().float().reshape(())] + [metrics[n].detach().float().reshape(()) for n in names]
        )
        loss_value, *values = stacked.tolist()
        if not math.isfinite(loss_value):
            raise FloatingPointError(
                f"loss became {loss_value} at step {self.step_count}; lower the learning rate"
            )
        self.method.before_optimizer_step(self.step_count)
        if self.config.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.method.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        self.step_count += 1
        self.method.after_optimizer_step(self.step_count, self.config.total_steps)
        result = {name: float(value) for name, value in metrics.items() if name not in names}
        result.update(zip(names, values))
        result["learning_rate"] = self.optimizer.param_groups[0]["lr"]
        return result

    @torch.no_grad()
    def embed(self, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Frozen representations ``(N, D)`` of ``x`` ``(N, *sample_shape)`` in eval mode, on the CPU."""
        self.method.eval()
        parts = [self.method.embed(chunk.to(self.device)).cpu() for chunk in x.split(batch_size)]
        return torch.cat(parts)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue: method (incl. teachers/centres/buffers), optimizer, step, RNG."""
        return {
            "method": self.method.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step_count,
            "generator": self.generator.get_state(),
            "learner_config": asdict(self.config),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` (missing or unexpected keys raise)."""
        missing = {"method", "optimizer", "step", "generator"} - set(state)
        if missing:
            raise ValueError(
                f"learner state lacks {sorted(missing)}; was it written by MethodLearner.state_dict()?"
            )
        self.method.load_state_dict(state["method"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step_count = int(state["step"])
        self.generator.set_state(state["generator"].cpu())  # generator states are CPU byte tensors


# The names docs/methods.md shows; distinct class names avoid confusion with robossl.online.Learner (the
# protocol of the online runtime) and the stereo -> mono MonoDepthLearnerConfig.
Learner = MethodLearner
LearnerConfig = MethodLearnerConfig
