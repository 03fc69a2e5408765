"""Reading back the checkpoint that ``robossl pretrain`` writes, for ``probe`` and ``pretrain --resume``.

The file (``<out>/checkpoint.pt``, written atomically by :mod:`robossl.online.checkpoint`) holds the
method name, its config, the input description, the standardisation statistics and the learner state.
Anything that keeps it from being used (missing, unreadable, another kind of checkpoint, a method this
robossl lacks, a learner state that does not fit the method) raises :class:`robossl.errors.CheckpointError`
naming the file and the field.
"""

from __future__ import annotations

import os
from typing import Any

from robossl.errors import CheckpointError, MethodConfigError
from robossl.methods.base import InputSpec
from robossl.methods.learner import Learner
from robossl.methods.registry import build_method

# What ``robossl pretrain`` stores besides the loss curve and bookkeeping.
PRETRAIN_FIELDS = ("method", "method_config", "input_spec", "standardizer", "learner")
_PASS = "pass the <out>/checkpoint.pt that `robossl pretrain` wrote"
_OTHER = (
    "it comes from another robossl version or was edited: use that version, or run `robossl pretrain` again"
)


def read_pretrain_checkpoint(path: str | os.PathLike[str], map_location: str = "cpu") -> dict[str, Any]:
    """The checkpoint's state dict, checked to hold every field of :data:`PRETRAIN_FIELDS`."""
    from robossl.online.checkpoint import load_checkpoint

    try:  # load_checkpoint's documented errors name the file and say what is wrong with it
        saved = load_checkpoint(path, map_location=map_location)
    except FileNotFoundError as exc:
        raise CheckpointError(f"{exc}; {_PASS}") from exc
    except ValueError as exc:
        raise CheckpointError(f"{exc}; without a good copy, run `robossl pretrain` again") from exc
    missing = [field for field in PRETRAIN_FIELDS if field not in saved]
    if missing:
        raise CheckpointError(
            f"checkpoint {path} lacks {', '.join(repr(f) for f in missing)}: it was not written by "
            f"`robossl pretrain` (online nodes keep other checkpoints); {_PASS}"
        )
    return saved


def saved_input_spec(path: str | os.PathLike[str], saved: dict[str, Any]) -> InputSpec:
    """The :class:`InputSpec` stored in a checkpoint read by :func:`read_pretrain_checkpoint`."""
    try:
        return InputSpec.from_dict(saved["input_spec"])
    except (AssertionError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path}: 'input_spec' is malformed ({exc}); {_OTHER}") from exc


def restore_learner(path: str | os.PathLike[str], saved: dict[str, Any], device: str = "cpu") -> Learner:
    """A :class:`Learner` of the checkpoint's method, built from its config and loaded with its state."""
    name = saved["method"]
    config = saved["method_config"]
    try:
        method = build_method(name, saved_input_spec(path, saved), **config)
    except MethodConfigError as exc:
        raise CheckpointError(
            f"checkpoint {path} names method {name!r} with method_config {config}, which this robossl "
            f"cannot build ({exc}); {_OTHER}"
        ) from exc
    learner = Learner(method, device=device)
    load_learner_state(path, saved, learner)
    return learner


def load_learner_state(path: str | os.PathLike[str], saved: dict[str, Any], learner: Learner) -> None:
    """Load the checkpoint's learner state into ``learner``; a state of another shape raises."""
    try:
        learner.load_state_dict(saved["learner"])
    except (RuntimeError, ValueError, KeyError) as exc:  # torch: RuntimeError for mis-sized tensors
        # torch lists every mismatch; the first one says enough to recognise the problem.
        summary = " ".join(line.strip() for line in str(exc).strip().splitlines()[:2])
        raise CheckpointError(
            f"checkpoint {path}: its learner state does not match method {saved['method']!r} built from its "
            f"method_config ({summary}); {_OTHER}"
        ) from exc
