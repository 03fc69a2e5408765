"""Hot swap of the inference model: the trainer publishes weights, inference picks them up atomically.

Inference never waits for training: :meth:`ModelSlot.get` returns the current (model, version) pair under a
lock held only for a reference read. :meth:`ModelSlot.publish` deep-copies the trainer's module (so training
can go on mutating its own copy) and swaps the reference.

An optional ``prepare`` hook turns each published model into the object inference really runs (for example
an ONNX Runtime session); it runs in the PUBLISHING thread, so an expensive export never stalls inference.
:meth:`ModelSlot.get_prepared` returns it.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

import torch


class ModelSlot:
    """Holds the model inference uses, with a version counter that increases at each publish."""

    def __init__(
        self, model: torch.nn.Module, prepare: Callable[[torch.nn.Module], Any] | None = None
    ) -> None:
        self._model = copy.deepcopy(model).eval()
        self._version = 0
        self._lock = threading.Lock()
        self._prepare = prepare
        self._prepared = prepare(self._model) if prepare is not None else None

    def set_prepare(self, prepare: Callable[[torch.nn.Module], Any] | None) -> None:
        """Install (or remove) the prepare hook and apply it to the current model."""
        model, _ = self.get()
        prepared = prepare(model) if prepare is not None else None
        with self._lock:
            self._prepare, self._prepared = prepare, prepared

    def publish(self, model: torch.nn.Module) -> int:
        """Copy ``model`` and make the copy the inference model. Returns the new version."""
        fresh = copy.deepcopy(model).eval()
        for parameter in fresh.parameters():
            parameter.requires_grad_(False)
        prepare = self._prepare
        prepared = prepare(fresh) if prepare is not None else None
        with self._lock:
            self._model, self._prepared = fresh, prepared
            self._version += 1
            return self._version

    def get_prepared(self) -> tuple[Any, int]:
        """What the prepare hook made of the current model (None without a hook), and its version."""
        with self._lock:
            return self._prepared, self._version

    def get(self) -> tuple[torch.nn.Module, int]:
        """The current inference model and its version."""
        with self._lock:
            return self._model, self._version

    @property
    def version(self) -> int:
        with self._lock:
            return self._version
