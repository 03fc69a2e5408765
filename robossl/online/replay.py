"""Bounded replay buffers for online learning.

Two policies, both with a fixed capacity so memory stays bounded on the robot:

- ``"reservoir"`` (Vitter's algorithm R): every sample ever offered has the same probability
  ``capacity / seen`` of being in the buffer, so old and new experience stay balanced.
- ``"diversity"``: when full, a new sample replaces the stored sample most similar to it (nearest
  neighbour in a small descriptor vector supplied by the pipeline), if that pair is closer than the closest
  pair the new sample would form otherwise; this keeps rare views (e.g. close obstacles) that reservoir
  sampling would dilute when the robot flies through one kind of scene for a long time.

Samples are arbitrary objects (dicts of numpy arrays); they must be picklable-free tensors / arrays for the
buffer to be saved in a checkpoint (``state_dict`` converts numpy arrays to tensors).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch

POLICIES = ("reservoir", "diversity")


def _to_tensors(sample: Any) -> Any:
    if isinstance(sample, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(sample))
    if isinstance(sample, dict):
        return {k: _to_tensors(v) for k, v in sample.items()}
    return sample


def _to_arrays(sample: Any) -> Any:
    if isinstance(sample, torch.Tensor):
        return sample.numpy()
    if isinstance(sample, dict):
        return {k: _to_arrays(v) for k, v in sample.items()}
    return sample


class ReplayBuffer:
    """Thread-safe bounded replay buffer.

    Args:
        capacity: most samples kept (>= 1).
        policy: ``"reservoir"`` or ``"diversity"`` (see module docstring).
        seed: seed of the buffer's own random generator (sampling and reservoir replacement).
    """

    def __init__(self, capacity: int, policy: str = "reservoir", seed: int = 0) -> None:
        if capacity < 1:
            raise ValueError(f"replay capacity must be >= 1, got {capacity}")
        if policy not in POLICIES:
            raise ValueError(f"unknown replay policy {policy!r}; use one of {POLICIES}")
        self.capacity = capacity
        self.policy = policy
        self._rng = np.random.default_rng(seed)
        self._samples: list[Any] = []
        self._descriptors: list[np.ndarray] = []
        self.seen = 0  # samples offered so far
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._samples)

    def add(self, sample: Any, descriptor: np.ndarray | None = None) -> bool:
        """Offer a sample; returns True when it was stored.

        Args:
            sample: the training sample (any object; dicts of arrays for checkpointing).
            descriptor: (D,) float vector describing the sample; required for the diversity policy.
        """
        if self.policy == "diversity":
            if descriptor is None:
                raise ValueError("the diversity replay policy needs a descriptor vector with every sample")
            descriptor = np.asarray(descriptor, dtype=np.float32).ravel()
        with self._lock:
            self.seen += 1
            if len(self._samples) < self.capacity:
                self._samples.append(sample)
                self._descriptors.append(descriptor if descriptor is not None else np.zeros(0, np.float32))
                return True
            if self.policy == "reservoir":
                slot = int(self._rng.integers(0, self.seen))
                if slot < self.capacity:
                    self._samples[slot] = sample
                    self._descriptors[slot] = (
                        descriptor if descriptor is not None else np.zeros(0, np.float32)
                    )
                    return True
                return False
            assert descriptor is not None
            stored = np.stack(self._descriptors)
            to_new = np.linalg.norm(stored - descriptor, axis=1)
            nearest = int(np.argmin(to_new))
            # distance from the nearest stored sample to ITS nearest other stored sample
            others = np.linalg.norm(stored - stored[nearest], axis=1)
            others[nearest] = np.inf
            if to_new[nearest] > others.min():
                # the new sample is more novel than the redundancy it would remove: keep it
                self._samples[nearest] = sample
                self._descriptors[nearest] = descriptor
                return True
            return False

    def sample(self, batch_size: int) -> list[Any]:
        """``batch_size`` samples drawn uniformly with replacement (empty list when the buffer is empty)."""
        with self._lock:
            if not self._samples:
                return []
            picks = self._rng.integers(0, len(self._samples), size=batch_size)
            return [self._samples[int(i)] for i in picks]

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to restore the buffer (samples as tensors, counters, RNG state)."""
        with self._lock:
            return {
                "capacity": self.capacity,
                "policy": self.policy,
                "seen": self.seen,
                "samples": [_to_tensors(s) for s in self._samples],
                "descriptors": [torch.from_numpy(d.copy()) for d in self._descriptors],
                "rng": self._rng.bit_generator.state,
            }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` (capacity and policy must match the constructor's)."""
        if state["capacity"] != self.capacity or state["policy"] != self.policy:
            raise ValueError(
                f"replay checkpoint has capacity {state['capacity']} / policy {state['policy']!r}, this buffer "
                f"{self.capacity} / {self.policy!r}; construct the buffer with the checkpoint's settings"
            )
        with self._lock:
            self.seen = int(state["seen"])
            self._samples = [_to_arrays(s) for s in state["samples"]]
            self._descriptors = [d.numpy() for d in state["descriptors"]]
            self._rng.bit_generator.state = state["rng"]
