"""A stand-in demo stage for tests/sim/test_demo_prepare.py: ``prepare`` records when and where it ran.

Not a mock of a real stage: it exercises the runner's scheduling (processes, progress, errors), which does not
depend on what a preparation computes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class StubStage:
    name: str
    seconds: float = 1.0
    fail: bool = False


def prepare(config: StubStage, cache_dir: Path, progress: Callable[[float, str], None]) -> dict[str, Any]:
    began = time.time()
    progress(0.5, f"{config.name} half way")
    time.sleep(config.seconds)
    if config.fail:
        raise ValueError(f"{config.name}: no training logs under {cache_dir}")
    progress(1.0, f"{config.name} done")
    return {"name": config.name, "pid": os.getpid(), "began": began, "ended": time.time()}
