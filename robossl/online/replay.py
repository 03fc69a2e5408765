"""Bounded replay buffers for online learning.

Two policies, both with a fixed capacity so memory stays bounded on the robot:

- ``"reservoir"`` (Vitter's algorithm R): every sample ever offered has the same probability
  ``capacity / seen`` of being in the buffer, so old and new experience stay balanced.
- ``"diversity"``: when full, the new sample replaces one member of the most similar stored pair
  (distance between small descriptor vectors supplied by the pipeline) if the new sample is farther from
  everything stored than that pair is from each other; this keeps rare views (e.g. close obstacles) that reservoir
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
        # pairwise descriptor distances of the diversity policy (inf on the diagonal and for empty slots)
        self._distances = np.full((capacity, capacity) if policy == "diversity" else (0, 0), np.inf)
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
                if self.policy == "diversity":
                    assert descriptor is not None
                    stored = np.stack(self._descriptors)
                    self._set_distances(len(stored) - 1, np.linalg.norm(stored - descriptor, axis=1))
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
            to_new = np.linalg.norm(np.stack(self._descriptors) - descriptor, axis=1)
            # the most redundant stored pair; the new sample replaces one of them if it is more novel
            flat = int(np.argmin(self._distances))
            first, second = divmod(flat, self.capacity)
            if to_new.min() > self._distances[first, second]:
                # drop the member of the pair that is closer to the rest of the buffer
                victim = (
                    first
                    if np.sort(self._distances[first])[1] < np.sort(self._distances[second])[1]
                    else second
                )
                self._samples[victim] = sample
                self._descriptors[victim] = descriptor
                self._set_distances(victim, to_new)
                return True
            return False

    def _set_distances(self, slot: int, distances: np.ndarray) -> None:
        row = distances.astype(np.float64).copy()
        row[slot] = np.inf
        self._distances[slot, : len(row)] = row
        self._distances[: len(row), slot] = row

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
            if self.policy == "diversity":
                self._distances.fill(np.inf)
                stored = np.stack(self._descriptors) if self._descriptors else np.zeros((0, 0))
                for slot, descriptor in enumerate(self._descriptors):
                    self._set_distances(slot, np.linalg.norm(stored - descriptor, axis=1))
            self._rng.bit_generator.state = state["rng"]
