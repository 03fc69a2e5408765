"""What every self-supervised method provides; its input is described by :class:`InputSpec`.

A method is an ``nn.Module`` composed of a backbone, heads, an objective and a view generator. Its
``forward(batch, generator)`` returns ``(loss, metrics)``, so ``DistributedDataParallel`` can wrap it;
the :class:`robossl.methods.learner.Learner` owns the optimizer, the step counter and the random state.
All method state that must survive a restart (EMA teacher, DINO centre, DirectPred correlation) lives in
parameters or persistent buffers, so ``state_dict()`` captures it.
"""

from __future__ import annotations

import torch
from torch import nn

from robossl.data.input_spec import MODALITIES, InputSpec

__all__ = ["MODALITIES", "InputSpec", "SSLMethod"]


class SSLMethod(nn.Module):
    """Base class of composed methods.

    Subclasses set ``self.backbone`` (the encoder that probes evaluate) and implement ``forward``.
    """

    backbone: nn.Module

    def forward(  # type: ignore[override]
        self, batch: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Compute the loss of one batch ``(B, *spec.shape)``: returns ``(scalar loss, metrics)``."""
        raise NotImplementedError

    def before_optimizer_step(self, step: int) -> None:
        """Hook after ``backward`` and before ``optimizer.step`` (e.g. freeze DINO's last layer)."""

    def after_optimizer_step(self, step: int, total_steps: int | None) -> None:
        """Hook after ``optimizer.step`` (e.g. EMA teacher update)."""

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Representation ``(B, D)`` used by probes (the online backbone)."""
        return self.backbone(x)
