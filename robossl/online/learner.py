"""The learner protocol every persistent pipeline implements.

A learner owns a model, its optimizer and every piece of training state. The runtime
(:class:`robossl.online.trainer.BackgroundTrainer`) only calls these methods, so the stereo -> mono, terrain
and ColloSSL learners share one replay buffer, trainer thread, hot swap and checkpoint code.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class Learner(Protocol):
    """What the background trainer needs from a pipeline's learner.

    Contract:
        - ``step(batch)`` does one optimisation step on a batch (a list of replay samples as produced by
          the pipeline) and returns scalar metrics (floats), at least ``"loss"``.
        - ``inference_model()`` returns the module inference should use; the trainer copies its weights
          into the hot-swap slot.
        - ``state_dict()`` / ``load_state_dict()`` round-trip ALL state (model, optimizer, counters,
          EMA teachers, queues) so a restart continues exactly where it stopped.
    """

    def step(self, batch: list[Any]) -> dict[str, float]: ...

    def inference_model(self) -> torch.nn.Module: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...
