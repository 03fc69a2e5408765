"""Hot swap of the inference model: the trainer publishes weights, inference picks them up atomically.

Inference never waits for training: :meth:`ModelSlot.get` returns the current (model, version) pair under a
lock held only for a reference read. :meth:`ModelSlot.publish` deep-copies the trainer's module (so training
can go on mutating its own copy) and swaps the reference.
"""

from __future__ import annotations

import copy
import threading

import torch


class ModelSlot:
    """Holds the model inference uses, with a version counter that increases at each publish."""

    def __init__(self, model: torch.nn.Module) -> None:
        self._model = copy.deepcopy(model).eval()
        self._version = 0
        self._lock = threading.Lock()

    def publish(self, model: torch.nn.Module) -> int:
        """Copy ``model`` and make the copy the inference model. Returns the new version."""
        fresh = copy.deepcopy(model).eval()
        for parameter in fresh.parameters():
            parameter.requires_grad_(False)
        with self._lock:
            self._model = fresh
            self._version += 1
            return self._version

    def get(self) -> tuple[torch.nn.Module, int]:
        """The current inference model and its version."""
        with self._lock:
            return self._model, self._version

    @property
    def version(self) -> int:
        with self._lock:
            return self._version
