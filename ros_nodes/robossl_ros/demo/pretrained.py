"""Pretrained starts for the demo's live nodes: logs -> offline pretraining -> a checkpoint the node loads.

Each stage module provides ``prepare(config, cache_dir, progress) -> PretrainedStart``: it records (or
reuses) the training logs, pretrains through the replay path and returns the checkpoint. Everything it
makes lives under ``cache_dir/<stage>-<key>/``, where the key hashes the settings that change the result, so
a second ``make demo`` reuses it and a changed setting never reuses a stale one. The runner copies the
checkpoint to ``<run>/models/`` before starting the node (nodes load ``model_path`` at start), and the
report says which checkpoint each node started from.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CACHE_FORMAT = 1  # bump when what a cache folder holds changes meaning


@dataclass
class PretrainedStart:
    """A checkpoint a live node starts from."""

    checkpoint: Path  # file in the cache folder, in the node's own checkpoint format
    description: str  # one line for the report: what it was pretrained on and how long
    cached: bool  # True when an earlier run made it and this run reused it
    details: dict[str, Any]  # numbers for the report / summary (frames, steps, losses, seconds)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["checkpoint"] = str(self.checkpoint)
        return out


def cache_folder(cache_dir: Path, stage: str, settings: dict[str, Any]) -> Path:
    """``cache_dir/<stage>-<12 hex>``: the key hashes ``settings`` (JSON-serialisable) and the format."""
    text = json.dumps({"format": CACHE_FORMAT, "stage": stage, **settings}, sort_keys=True, default=str)
    return cache_dir / f"{stage}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def finished(folder: Path) -> dict[str, Any] | None:
    """The ``done.json`` of a completed cache folder, or None (absent or half-written: rebuild)."""
    try:
        return dict(json.loads((folder / "done.json").read_text()))
    except (OSError, ValueError):
        return None


def mark_finished(folder: Path, info: dict[str, Any]) -> None:
    """Write ``done.json`` last and atomically, so an interrupted preparation is never reused."""
    tmp = folder / ".done.json.tmp"
    tmp.write_text(json.dumps(info, indent=2, default=str) + "\n")
    tmp.replace(folder / "done.json")


def fresh_folder(folder: Path) -> Path:
    """Empty ``folder`` (left over from an interrupted preparation) and create it."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder
