"""Reliability section 4: checkpoints under bit flips and ``kill -9`` during a save.

Corruption: a checkpoint of a small learner (a CNN's weights, its Adam state, counters) is written with
``robossl.online.checkpoint.save_checkpoint``; copies get one flipped bit at a random position (single-bit)
or a random run of 2..64 bytes overwritten (multi-byte), and are read with ``load_checkpoint``. Outcomes:
refused with a named error (any ``ValueError`` or an error class of the checkpoint module: fine), loaded
with exactly the saved values (the damage hit bytes nothing reads: fine), loaded with different values
(``corrupt_checkpoints_loaded``: silent corruption, target 0), or another exception (escaping).

Kills: a child process saves a ~32 MB checkpoint to the same path over and over (step counter 0, 1, ...);
after its first complete save it is killed with SIGKILL at a random moment. The checkpoint must still load
and hold a completed step (else it is a lost checkpoint, target 0). Then a "next start" runs (the start-up load, ``load_latest_good`` where the module has it, then a save, as
a node does at start and shutdown), and leftover temporary files in the folder are counted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

CHILD = r"""
import sys, time, torch
from robossl.online.checkpoint import save_checkpoint
path = sys.argv[1]
state = {"weights": torch.randn(8_000_000), "step": 0}
k = 0
while True:
    state["step"] = k
    t = time.perf_counter()
    save_checkpoint(path, state)
    print(k, time.perf_counter() - t, flush=True)
    k += 1
"""


def _learner_state(seed: int) -> dict[str, Any]:
    import torch

    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3),
        torch.nn.Flatten(),
        torch.nn.LazyLinear(64),
    )
    model(torch.zeros(2, 3, 16, 16))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(4, 3, 16, 16)).square().mean().backward()
    optimizer.step()
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "steps": 1234,
        "metrics": {"loss": 0.5, "history": [1.0, 0.75, 0.5]},
        "config": {"name": "bench", "lr": 1e-3},
    }


def _same(a: Any, b: Any) -> bool:
    """Exact equality of nested checkpoint content (tensors compared bit for bit)."""
    import torch

    if isinstance(a, torch.Tensor):
        return (
            isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and bool(
                torch.equal(
                    a.detach().reshape(-1).contiguous().view(torch.uint8),
                    b.detach().reshape(-1).contiguous().view(torch.uint8),
                )
            )
        )
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return isinstance(b, list | tuple) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return type(a) is type(b) and bool(a == b)


def _named_errors() -> tuple[type[BaseException], ...]:
    """ValueError plus any exception class the checkpoint module defines (a named checkpoint error)."""
    from robossl.online import checkpoint

    named = [
        v
        for v in vars(checkpoint).values()
        if isinstance(v, type) and issubclass(v, Exception) and v.__module__ == checkpoint.__name__
    ]
    return (ValueError, *named)


def corruption(single_bit: int, multi_byte: int, workdir: Path, seed: int = 0) -> dict[str, Any]:
    from robossl.online.checkpoint import load_checkpoint, save_checkpoint

    rng = np.random.default_rng(seed)
    original = _learner_state(seed)
    path = save_checkpoint(workdir / "learner.pt", original)
    reference = load_checkpoint(path)
    data = path.read_bytes()
    named = _named_errors()
    rows: dict[str, Any] = {}
    examples: list[str] = []
    for kind, trials in (("single_bit", single_bit), ("multi_byte", multi_byte)):
        counts = {"refused": 0, "loaded_unchanged": 0, "loaded_corrupt": 0, "escaping": 0}
        for _ in range(trials):
            damaged = bytearray(data)
            if kind == "single_bit":
                pos = int(rng.integers(0, len(data)))
                damaged[pos] ^= 1 << int(rng.integers(0, 8))
            else:
                length = int(rng.integers(2, 65))
                pos = int(rng.integers(0, len(data) - length))
                damaged[pos : pos + length] = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
            target = workdir / "damaged.pt"
            target.write_bytes(bytes(damaged))
            try:
                loaded = load_checkpoint(target)
            except named:
                counts["refused"] += 1
                continue
            except Exception as exc:  # noqa: BLE001 - counting what escapes is the point
                counts["escaping"] += 1
                if len(examples) < 3:
                    examples.append(f"{kind} at byte {pos}: {type(exc).__name__}: {exc}"[:240])
                continue
            counts["loaded_unchanged" if _same(reference, loaded) else "loaded_corrupt"] += 1
        rows[kind] = {"trials": trials, **counts}
    return {
        "file_bytes": len(data),
        **rows,
        "corrupt_checkpoints_loaded": sum(r["loaded_corrupt"] for r in rows.values()),
        "escaping_exceptions": sum(r["escaping"] for r in rows.values()),
        "escaping_examples": examples,
    }


def _leftovers(folder: Path, keep: str) -> list[str]:
    """Temporary files of unfinished saves (``.<name>.*.tmp``; older kept copies are not counted)."""
    return sorted(
        p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name.startswith(f".{keep}.")
    )


def _startup_load(path: Path) -> Any:
    """What a node does at start: ``load_latest_good`` where the module has it, else ``load_checkpoint``."""
    from robossl.online import checkpoint

    loader = getattr(checkpoint, "load_latest_good", None)
    if loader is not None:
        state, _ = loader(path)
        return state
    return checkpoint.load_checkpoint(path)


def kills(trials: int, workdir: Path, seed: int = 0) -> dict[str, Any]:
    """``trials`` SIGKILLs of a process in the middle of repeated saves."""
    import torch

    from robossl.online.checkpoint import save_checkpoint

    rng = np.random.default_rng(seed)
    folder = workdir / "kill"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.pt"
    refused: tuple[type[BaseException], ...] = (FileNotFoundError, KeyError, *_named_errors())
    lost = 0
    killed_mid_save = 0
    orphans_after_next_start = 0
    trials_leaving_orphans = 0
    wrong_step = 0
    examples: list[str] = []
    save_times: list[float] = []
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for trial in range(trials):
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=env
        )
        assert proc.stdout is not None
        first = proc.stdout.readline().split()
        if not first:
            proc.kill()
            raise RuntimeError(f"checkpoint child exited before its first save (exit {proc.wait()})")
        save_s = float(first[1])
        save_times.append(save_s)
        time.sleep(float(rng.uniform(0.0, 3.0 * save_s)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        completed = [int(first[0])] + [
            int(line.split()[0]) for line in proc.stdout.read().splitlines() if line
        ]
        proc.stdout.close()
        leftovers = _leftovers(folder, path.name)
        killed_mid_save += bool(leftovers)
        try:
            state = _startup_load(path)
            if int(state["step"]) < max(completed):
                wrong_step += 1  # an older checkpoint than the last completed save
        except refused as exc:
            lost += 1
            if len(examples) < 3:
                examples.append(f"trial {trial}: {type(exc).__name__}: {exc}"[:240])
            state = {"weights": torch.zeros(1), "step": -1}
        save_checkpoint(path, state)  # the next start saves again (as a node does at shutdown)
        left = _leftovers(folder, path.name)
        orphans_after_next_start = len(left)
        trials_leaving_orphans += bool(left)
    return {
        "trials": trials,
        "killed_mid_save": killed_mid_save,
        "lost_checkpoints": lost,
        "older_than_last_completed_save": wrong_step,
        "orphan_tmp_files_at_end": orphans_after_next_start,
        "trials_with_orphans_after_next_start": trials_leaving_orphans,
        "save_seconds_median": round(float(np.median(save_times)), 3) if save_times else None,
        "lost_examples": examples,
    }


def run(single_bit: int, multi_byte: int, kill_trials: int, seed: int = 0) -> dict[str, Any]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="reliability_ckpt_") as tmp:
        workdir = Path(tmp)
        flips = corruption(single_bit, multi_byte, workdir, seed)
        killed = kills(kill_trials, workdir, seed)
    return {
        "corruption": flips,
        "kills": killed,
        "corrupt_checkpoints_loaded": flips["corrupt_checkpoints_loaded"],
        "lost_checkpoints": killed["lost_checkpoints"],
        "orphan_tmp_files": killed["orphan_tmp_files_at_end"],
        "escaping_exceptions": flips["escaping_exceptions"],
        "seconds": round(time.perf_counter() - started, 1),
    }
