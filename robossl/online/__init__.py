"""Persistent-learner runtime: replay buffer, background trainer, atomic checkpoints, hot swap, monitors.

See docs/online.md. A pipeline provides a :class:`Learner` (``step(batch) -> metrics``,
``inference_model()``, ``state_dict()``, ``load_state_dict()``); the runtime does the rest.
"""

from robossl.online.checkpoint import (
    CheckpointCorruptError,
    load_checkpoint,
    load_latest_good,
    save_checkpoint,
)
from robossl.online.hotswap import ModelSlot
from robossl.online.learner import Learner
from robossl.online.monitors import CollapseMonitor, CollapseMonitorConfig, QualityEstimate
from robossl.online.replay import ReplayBuffer
from robossl.online.trainer import BackgroundTrainer, TrainerConfig

__all__ = [
    "BackgroundTrainer",
    "CheckpointCorruptError",
    "CollapseMonitor",
    "CollapseMonitorConfig",
    "Learner",
    "ModelSlot",
    "QualityEstimate",
    "ReplayBuffer",
    "TrainerConfig",
    "load_checkpoint",
    "load_latest_good",
    "save_checkpoint",
]
