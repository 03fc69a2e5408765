"""Model-kind registry: which deployable module a checkpoint holds and how to rebuild it.

A :class:`ModelKind` knows how to recognise its checkpoints (``matches``) and how to turn one into a
:class:`Deployable`: the module with its weights, an example input and the export metadata (names, shapes,
normalisation, classes). :func:`load_deployable` adds provenance (checkpoint hash and date) and is what
``robossl export`` calls. Pipelines' modules are imported inside ``build`` so that the registry itself stays
importable while a pipeline is missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robossl.export.metadata import ExportMetadata, file_sha256, file_time_iso


@dataclass
class Deployable:
    """A module ready for :func:`robossl.export.onnx_export.export_onnx`."""

    module: nn.Module  # in eval mode, weights loaded
    example_inputs: tuple[torch.Tensor, ...]  # one realistic batched tensor per input
    metadata: ExportMetadata  # names, normalisation, classes (provenance added by load_deployable)


@dataclass
class ModelKind:
    """One deployable model type."""

    name: str  # e.g. "stereo_mono.depth"; the value of `robossl export --model-kind`
    description: str  # one line for `robossl export --list-kinds`
    matches: Callable[[dict[str, Any]], bool]  # does a checkpoint state hold this kind?
    build: Callable[[dict[str, Any], tuple[int, ...] | None], Deployable]  # state, input shape override


_KINDS: dict[str, ModelKind] = {}


def register_kind(kind: ModelKind) -> ModelKind:
    """Add ``kind`` to the registry (a later registration of the same name replaces the earlier one)."""
    _KINDS[kind.name] = kind
    return kind


def available_kinds() -> dict[str, ModelKind]:
    """Registered kinds by name."""
    return dict(_KINDS)


def detect_kind(state: dict[str, Any]) -> str:
    """Name of the single kind whose ``matches`` accepts ``state``.

    Raises:
        ValueError: when no kind or several kinds match; the message lists the kinds and the state's keys.
    """
    explicit = state.get("model_kind")
    if isinstance(explicit, str) and explicit in _KINDS:
        return explicit
    hits = [k.name for k in _KINDS.values() if _safe_match(k, state)]
    if len(hits) == 1:
        return hits[0]
    keys = sorted(str(k) for k in state)[:20]
    if not hits:
        raise ValueError(
            f"no model kind recognises this checkpoint (top-level keys {keys}); pass --model-kind, one of "
            f"{sorted(_KINDS)}"
        )
    raise ValueError(f"checkpoint matches several model kinds {hits}; choose one with --model-kind")


def _safe_match(kind: ModelKind, state: dict[str, Any]) -> bool:
    try:
        return bool(kind.matches(state))
    except Exception:  # a matcher that trips over an unexpected layout simply does not match
        return False


def load_deployable(
    checkpoint: str | os.PathLike[str], kind: str | None = None, input_shape: tuple[int, ...] | None = None
) -> Deployable:
    """Rebuild the deployable module stored in ``checkpoint`` (a robossl checkpoint file).

    Args:
        checkpoint: file written by :func:`robossl.online.checkpoint.save_checkpoint`.
        kind: model kind; detected from the checkpoint's contents when ``None``.
        input_shape: input shape without the batch axis, overriding the kind's default / stored geometry.

    Raises:
        FileNotFoundError / ValueError: unreadable checkpoint, unknown or undetectable kind, or weights that
            do not fit the kind's module.
    """
    from robossl.online.checkpoint import load_checkpoint

    path = Path(checkpoint)
    state = load_checkpoint(path)
    name = kind or detect_kind(state)
    if name not in _KINDS:
        raise ValueError(f"unknown model kind {name!r}; known kinds: {sorted(_KINDS)}")
    try:
        deployable = _KINDS[name].build(state, input_shape)
    except (KeyError, RuntimeError) as exc:
        raise ValueError(
            f"checkpoint {path} does not hold a {name!r} model ({type(exc).__name__}: {str(exc)[:400]})"
        ) from exc
    meta = deployable.metadata
    meta.model_kind = name
    meta.checkpoint_sha256 = file_sha256(path)
    meta.trained_at = str(state.get("trained_at", "")) or file_time_iso(path)
    meta.extra = {**meta.extra, "checkpoint_name": path.name}
    deployable.module.eval()
    return deployable


def find_state_dict(state: dict[str, Any], *keys: str) -> dict[str, torch.Tensor]:
    """The first of ``state[k]`` (nested keys separated by '.') that is a dict of tensors.

    Raises:
        KeyError: naming the keys tried.
    """
    for key in keys:
        node: Any = state
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and node and all(isinstance(v, torch.Tensor) for v in node.values()):
            return node
    raise KeyError(f"none of {list(keys)} is a state dict in the checkpoint")


def strip_prefix(weights: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Entries of ``weights`` under ``prefix`` with the prefix removed (e.g. 'encoder.')."""
    return {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
