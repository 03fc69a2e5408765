"""Cached SGBM labels of a stereo log: the teacher runs on the first pass only.

:func:`stereo_labels` returns :class:`StereoLabels`, the student-size training samples of every stereo pair
of a log (rectified left image, stereo depth and confidence, as :func:`make_sample` packs them for the
replay buffer), from the teacher cache (:mod:`robossl.data.teacher_cache`) when it matches, else by running
rectification + SGBM over the log and storing the result beside it. :func:`fill_replay` then puts them into
a pipeline's replay buffer exactly as :func:`robossl.pipelines.stereo_mono.log_training.label_log` would.

Example::

    pipeline = StereoMonoPipeline(config, calibration_from_log("flights", topics))
    labels, hit = stereo_labels(pipeline, "flights", topics)      # SGBM once; later runs read the cache
    fill_replay(pipeline, labels)
    pipeline.train_steps(1000, publish=True)

The cache key holds everything that changes the samples: the SGBM settings, the rectified width, the
student input size, the confidence threshold and the topic names (the calibration comes from the log, which
the log fingerprint covers). ``min_confident_fraction`` and ``sample_every`` only select samples, so they
are applied when filling the replay, not baked into the cache.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robossl.data.streams import stereo_pairs
from robossl.data.teacher_cache import TeacherKey, cached_labels
from robossl.errors import DataSourceError
from robossl.pipelines.stereo_mono.learner import make_sample, sample_descriptor
from robossl.pipelines.stereo_mono.log_training import StereoLogTopics
from robossl.pipelines.stereo_mono.pipeline import StereoMonoPipeline

PathLike = str | Path
TEACHER = "stereo_sgbm"


@dataclass
class StereoLabels:
    """Teacher output of every stereo pair of a log, at the student's input size (N pairs, h x w)."""

    stamps_ns: np.ndarray  # (N,) int64 header stamps
    image: np.ndarray  # (N, h, w) uint8 rectified, resized left images
    depth: np.ndarray  # (N, h, w) float16 stereo depth, metres (0 = no label)
    confidence: np.ndarray  # (N, h, w) float16 label weight in [0, 1]
    confident_fraction: np.ndarray  # (N,) float64 fraction of confident pixels at the rectified size

    def __len__(self) -> int:
        return int(self.stamps_ns.shape[0])

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> StereoLabels:
        return cls(**{f.name: arrays[f.name] for f in dataclasses.fields(cls)})

    def samples(self) -> Iterator[dict[str, np.ndarray]]:
        """Replay samples (``make_sample``'s dicts), in log order."""
        for i in range(len(self)):
            yield {"image": self.image[i], "depth": self.depth[i], "confidence": self.confidence[i]}


def teacher_key(pipeline: StereoMonoPipeline, topics: StereoLogTopics) -> TeacherKey:
    """The cache key of ``pipeline``'s teacher settings on the log's ``topics``."""
    config = pipeline.config
    return TeacherKey(
        TEACHER,
        {
            "sgbm": dataclasses.asdict(config.sgbm),
            "rectified_width": config.rectified_width,
            "student_size": list(pipeline.student_size),
            "confidence_threshold": config.confidence_threshold,
            "topics": dataclasses.asdict(topics),
        },
    )


def label_frame(
    pipeline: StereoMonoPipeline, left: np.ndarray, right: np.ndarray
) -> tuple[dict[str, np.ndarray], float]:
    """Rectify + SGBM one raw pair (no student, no pipeline state touched; thread-safe like ``perceive``).

    Returns:
        ``(sample, confident_fraction)``: the replay sample at the student size and the fraction of
        confident pixels at the rectified size.
    """
    perception = pipeline.perceive(left, right, run_mono=False)
    stereo, confident = perception.stereo, perception.confident
    confidence = np.where(confident, stereo.confidence, 0.0).astype(np.float32)
    sample = make_sample(perception.left_rect, stereo.depth, confidence, pipeline.student_size)
    return sample, float(confident.mean())


def stack_labels(
    stamps_ns: list[int], samples: list[dict[str, np.ndarray]], fractions: list[float], size: tuple[int, int]
) -> StereoLabels:
    """:class:`StereoLabels` from per-frame stamps, samples and confident fractions (``size``: (h, w))."""
    height, width = size
    return StereoLabels(
        stamps_ns=np.asarray(stamps_ns, np.int64),
        image=np.asarray([s["image"] for s in samples], np.uint8).reshape(-1, height, width),
        depth=np.asarray([s["depth"] for s in samples], np.float16).reshape(-1, height, width),
        confidence=np.asarray([s["confidence"] for s in samples], np.float16).reshape(-1, height, width),
        confident_fraction=np.asarray(fractions, np.float64),
    )


def label_pairs(
    pipeline: StereoMonoPipeline,
    pairs: Iterator[tuple[int, np.ndarray, np.ndarray]],
    progress: Callable[[int], None] | None = None,
) -> StereoLabels:
    """Rectify + SGBM every ``(stamp_ns, left, right)`` pair, in order."""
    stamps, samples, fractions = [], [], []
    for stamp_ns, left, right in pairs:
        sample, fraction = label_frame(pipeline, left, right)
        stamps.append(stamp_ns)
        samples.append(sample)
        fractions.append(fraction)
        if progress is not None:
            progress(len(stamps))
    return stack_labels(stamps, samples, fractions, pipeline.student_size)


def stereo_labels(
    pipeline: StereoMonoPipeline,
    log: PathLike,
    topics: StereoLogTopics,
    recompute: bool = False,
    cache_dir: PathLike | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[StereoLabels, bool]:
    """The log's SGBM labels, from the cache when it matches (``hit`` True), else computed and stored.

    Raises:
        DataSourceError: the log has no stereo pair with equal stamps on the two image topics.
    """

    def compute() -> dict[str, np.ndarray]:
        labels = label_pairs(pipeline, stereo_pairs(log, topics.left_image, topics.right_image), progress)
        if len(labels) == 0:
            raise DataSourceError(
                f"{os.fspath(log)}: no stereo pair on {topics.left_image} / {topics.right_image} (images "
                "with equal header stamps on both topics); check the topic names"
            )
        return labels.arrays()

    arrays, hit = cached_labels(log, teacher_key(pipeline, topics), compute, recompute, cache_dir)
    return StereoLabels.from_arrays(arrays), hit


def fill_replay(pipeline: StereoMonoPipeline, labels: StereoLabels) -> int:
    """Add the labelled frames to the pipeline's replay buffer as :meth:`StereoMonoPipeline.update` would
    (``min_confident_fraction`` and ``sample_every`` applied, frame counters advanced); returns the count."""
    config, added = pipeline.config, 0
    for fraction, sample in zip(labels.confident_fraction, labels.samples()):
        if fraction >= config.min_confident_fraction and pipeline.frames % config.sample_every == 0:
            descriptor = sample_descriptor(sample) if pipeline.replay.policy == "diversity" else None
            pipeline.replay.add(sample, descriptor)
            pipeline.frames_labelled += 1
            added += 1
        pipeline.frames += 1
    return added
