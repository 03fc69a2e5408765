"""Atomic checkpoints that are safe to load from untrusted files.

A checkpoint is a nested structure of tensors, numbers, strings, lists and dicts (model and optimizer
state dicts, step counters, metadata). It is written with ``torch.save`` to a temporary file in the same
folder, fsynced, then renamed over the target, so a crash never leaves a half-written checkpoint and never
destroys the previous one. It is read with ``torch.load(weights_only=True)``, which refuses arbitrary
pickled objects.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_FORMAT = "robossl-checkpoint-v1"


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` atomically to ``path`` (parents are created). Returns the path.

    Raises:
        TypeError: when ``state`` is not a dict.
    """
    if not isinstance(state, dict):
        raise TypeError(f"checkpoint state must be a dict, got {type(state).__name__}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": CHECKPOINT_FORMAT, "state": state}
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return target


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``: no code execution).

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: when the file is truncated, not a torch file, or not a robossl checkpoint.
    """
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"checkpoint {source} does not exist")
    try:
        payload = torch.load(source, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt / unsafe files
        raise ValueError(
            f"checkpoint {source} is unreadable or unsafe to load ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{source} is not a robossl checkpoint (missing format tag {CHECKPOINT_FORMAT!r})")
    state = payload["state"]
    assert isinstance(state, dict)
    return state
