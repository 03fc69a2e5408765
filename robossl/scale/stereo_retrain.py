"""Retrain the monocular depth student from stereo logs, in one process (the reference path).

Each log is labelled by its own SGBM teacher (calibration from the log's CameraInfos) through the teacher
cache (:func:`robossl.pipelines.stereo_mono.label_cache.stereo_labels`): the first run computes the labels
and stores them beside the log, later runs read them. The labelled frames with at least
``min_confident_fraction`` confident pixels form one sample table, ordered by (log, frame). Training picks
each batch from ``numpy.random.default_rng([seed, step, rank])``, so a run is reproducible, and the Ray
path with one worker (:mod:`robossl.scale.ray_retrain`) takes exactly the same batches.

Example::

    logs = discover_logs(["flights/"])
    config = StereoMonoConfig(rectified_width=376)
    result = retrain(logs, StereoLogTopics(...), config, RetrainSettings(steps=2000))
    result.learner.model  # the trained student; save_student(...) writes stereo_mono_node's checkpoint
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from robossl.errors import DataSourceError
from robossl.pipelines.stereo_mono.config import StereoMonoConfig
from robossl.pipelines.stereo_mono.label_cache import StereoLabels, stereo_labels
from robossl.pipelines.stereo_mono.learner import MonoDepthLearner
from robossl.pipelines.stereo_mono.log_training import StereoLogTopics, calibration_from_log
from robossl.pipelines.stereo_mono.pipeline import StereoMonoPipeline

PathLike = str | os.PathLike[str]
SAMPLE_FIELDS = ("image", "depth", "confidence")


@dataclass
class RetrainSettings:
    """How to train from the logs."""

    steps: int = 500  # optimizer steps
    batch_size: int = 16  # samples per step, all workers together
    seed: int = 0  # seed of the student's initial weights and of the batch choice
    recompute_teacher: bool = False  # ignore cached teacher labels and overwrite them
    cache_dir: str | None = None  # teacher-cache folder used when a log's folder is read-only

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.batch_size < 2:
            raise ValueError(
                f"batch_size must be >= 2 (the loss compares pixels of a batch), got {self.batch_size}"
            )


@dataclass
class RetrainResult:
    """What :func:`retrain` returns."""

    learner: MonoDepthLearner  # the trained student with its optimizer state
    losses: list[float]  # training loss per step
    samples: int  # labelled frames trained on (all logs)
    cache_hits: list[bool] = field(default_factory=list)  # per log: labels read from the cache
    train_seconds: float = 0.0  # wall time of the training loop (rank 0 on Ray)


def teacher_config(config: StereoMonoConfig) -> StereoMonoConfig:
    """``config`` flying stereo only, without running the student: what labelling needs."""
    switching = dataclasses.replace(config.switching, policy="stereo_only")
    return dataclasses.replace(config, switching=switching, run_mono_in_stereo_mode=False)


def label_one_log(
    config: StereoMonoConfig,
    log: PathLike,
    topics: StereoLogTopics,
    recompute: bool = False,
    cache_dir: PathLike | None = None,
) -> tuple[StereoLabels, bool]:
    """The SGBM labels of one log (its own calibration), from the cache when it matches."""
    path = Path(log)
    pipeline = StereoMonoPipeline(teacher_config(config), calibration_from_log(path, topics))
    folder = None if cache_dir is None else Path(cache_dir)
    return stereo_labels(pipeline, path, topics, recompute, folder)


def labels_to_rows(
    labels: StereoLabels, log_index: int, min_confident_fraction: float
) -> dict[str, np.ndarray]:
    """The usable frames of one log as columns: image, depth, confidence, log_index, frame."""
    keep = np.flatnonzero(labels.confident_fraction >= min_confident_fraction)
    return {
        "image": labels.image[keep],
        "depth": labels.depth[keep],
        "confidence": labels.confidence[keep],
        "log_index": np.full(keep.shape, log_index, np.int64),
        "frame": keep.astype(np.int64),
    }


def sort_rows(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate row columns and order them by (log_index, frame)."""
    parts = [p for p in parts if len(p["frame"])]
    if not parts:
        return {name: np.zeros((0,)) for name in (*SAMPLE_FIELDS, "log_index", "frame")}
    table = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    order = np.lexsort((table["frame"], table["log_index"]))
    return {name: column[order] for name, column in table.items()}


def train_student(
    table: dict[str, np.ndarray],
    config: StereoMonoConfig,
    settings: RetrainSettings,
    rank: int = 0,
    world_size: int = 1,
    wrap_model: Callable[[torch.nn.Module], torch.nn.Module] | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[MonoDepthLearner, list[float]]:
    """Train a fresh student on ``table`` (this process's rows) for ``settings.steps`` steps.

    Args:
        rank, world_size: this process among the data-parallel ones; each takes ``batch_size / world_size``
            samples per step (the global batch stays ``batch_size``).
        wrap_model: e.g. DistributedDataParallel; the learner trains through the wrapper and is given back
            the bare model at the end.
        on_step: called with (step, loss) after each step.

    Raises:
        DataSourceError: fewer rows than a per-process batch.
    """
    rows = len(table["frame"])
    local_batch = settings.batch_size // world_size
    if local_batch < 1 or rows < local_batch:
        raise DataSourceError(
            f"{rows} labelled frame(s) for a batch of {local_batch} per process; record longer logs, lower "
            "min_confident_fraction or the batch size"
        )
    torch.manual_seed(settings.seed)  # the same initial weights on every process and in every run
    learner = MonoDepthLearner(config.student, config.learner)
    bare = learner.model
    if wrap_model is not None:
        learner.model = wrap_model(bare)  # type: ignore[assignment]
    losses: list[float] = []
    try:
        for step in range(settings.steps):
            rng = np.random.default_rng([settings.seed, step, rank])
            picks = rng.choice(rows, local_batch, replace=False)
            batch = [{name: table[name][i] for name in SAMPLE_FIELDS} for i in picks]
            loss = learner.step(batch)["loss"]
            losses.append(loss)
            if on_step is not None:
                on_step(step, loss)
    finally:
        learner.model = bare
    return learner, losses


def retrain(
    logs: Sequence[PathLike],
    topics: StereoLogTopics,
    config: StereoMonoConfig,
    settings: RetrainSettings,
    progress: Callable[[str], None] | None = None,
) -> RetrainResult:
    """Label every log (through the teacher cache) and train the student, in this process."""
    parts, hits = [], []
    for index, log in enumerate(logs):
        labels, hit = label_one_log(config, log, topics, settings.recompute_teacher, settings.cache_dir)
        hits.append(hit)
        parts.append(labels_to_rows(labels, index, config.min_confident_fraction))
        if progress is not None:
            state = "cached" if hit else "labelled"
            progress(f"{os.fspath(log)}: {len(labels)} pair(s) {state}, {len(parts[-1]['frame'])} usable")
    table = sort_rows(parts)
    begin = time.perf_counter()
    learner, losses = train_student(table, config, settings)
    return RetrainResult(learner, losses, len(table["frame"]), hits, time.perf_counter() - begin)


def save_student(
    path: PathLike,
    learner: MonoDepthLearner,
    config: StereoMonoConfig,
    calibration_log: PathLike,
    topics: StereoLogTopics,
) -> Path:
    """Write the checkpoint ``stereo_mono_node`` loads (``model_path``): the pipeline's own format."""
    pipeline = StereoMonoPipeline(config, calibration_from_log(Path(calibration_log), topics))
    pipeline.learner.load_state_dict(learner.state_dict())
    pipeline.trainer.slot.publish(pipeline.learner.inference_model())
    pipeline.save(path, include_replay=False)
    return Path(path)
