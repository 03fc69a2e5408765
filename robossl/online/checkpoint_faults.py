"""Fault injection for checkpoint files: how many corrupted copies would load silently.

For the reliability bench (``corrupt_checkpoints_loaded``) and the tests: take a saved checkpoint, corrupt
copies of it in a temporary folder (single-bit flips, overwritten byte runs, truncations), load each with
:func:`robossl.online.checkpoint.load_checkpoint` and compare with the intact state.

    >>> tally = tally_corrupt_loads("models/terrain.pt", trials=200, seed=0)  # doctest: +SKIP
    >>> sum(t.loaded_changed for t in tally.values())  # corrupt_checkpoints_loaded, 0 expected
"""

from __future__ import annotations

import os
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from robossl.online.checkpoint import CheckpointCorruptError, load_checkpoint

CORRUPTIONS = ("bit_flip", "byte_run", "truncate")


@dataclass
class CorruptionTally:
    """Outcome of loading corrupted copies of one checkpoint with one kind of corruption."""

    trials: int = 0
    rejected: int = 0  # refused with CheckpointCorruptError
    loaded_identical: int = 0  # loaded a state equal to the intact one (the bytes carried no content)
    loaded_changed: int = 0  # loaded a different state without an error: a silent corrupt load
    other_errors: dict[str, int] = field(default_factory=dict)  # exception type -> count (should be none)


def corrupt(data: bytes, kind: str, rng: random.Random) -> bytes:
    """A corrupted copy of ``data``: one flipped bit, 2-64 overwritten bytes, or a shorter file."""
    if not data:
        raise ValueError("cannot corrupt an empty file")
    if kind == "bit_flip":
        position = rng.randrange(len(data) * 8)
        out = bytearray(data)
        out[position // 8] ^= 1 << (position % 8)
        return bytes(out)
    if kind == "byte_run":
        length = min(rng.randint(2, 64), len(data))
        start = rng.randrange(len(data) - length + 1)
        out = bytearray(data)
        while out[start : start + length] == data[start : start + length]:
            out[start : start + length] = rng.randbytes(length)
        return bytes(out)
    if kind == "truncate":
        return data[: rng.randrange(len(data))]
    raise ValueError(f"unknown corruption {kind!r}; one of {CORRUPTIONS}")


def same_state(a: Any, b: Any) -> bool:
    """Exact equality of two loaded checkpoint states (tensors by dtype, shape and every value)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and (
                torch.equal(a, b)
                or torch.equal(a.isnan(), b.isnan())
                and torch.equal(a.nan_to_num(), b.nan_to_num())
            )
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same_state, a, b))
    return type(a) is type(b) and bool(a == b)


def tally_corrupt_loads(
    path: str | os.PathLike[str],
    trials: int = 200,
    kinds: tuple[str, ...] = CORRUPTIONS,
    seed: int = 0,
    allow_legacy: bool = True,
) -> dict[str, CorruptionTally]:
    """Load ``trials`` corrupted copies of checkpoint ``path`` per kind; the file itself is not touched.

    Returns kind -> :class:`CorruptionTally`; ``loaded_changed`` summed over kinds is the number of
    corrupt checkpoints that loaded silently.
    """
    source = Path(path)
    intact = load_checkpoint(source, allow_legacy=allow_legacy)
    data = source.read_bytes()
    rng = random.Random(seed)
    tallies = {kind: CorruptionTally() for kind in kinds}
    with tempfile.TemporaryDirectory(prefix="robossl-ckpt-faults-") as folder:
        copy = Path(folder) / source.name
        for kind in kinds:
            tally = tallies[kind]
            for _ in range(trials):
                copy.write_bytes(corrupt(data, kind, rng))
                tally.trials += 1
                try:
                    state = load_checkpoint(copy, allow_legacy=allow_legacy)
                except CheckpointCorruptError:
                    tally.rejected += 1
                    continue
                except Exception as exc:  # counted, not hidden: any other type is a defect to report
                    name = type(exc).__name__
                    tally.other_errors[name] = tally.other_errors.get(name, 0) + 1
                    continue
                if same_state(state, intact):
                    tally.loaded_identical += 1
                else:
                    tally.loaded_changed += 1
    return tallies
