"""Online acoustic -> visual terrain pipeline: the object the ROS ``terrain_node`` drives.

Streams in: interaction audio chunks, camera images and robot poses, each with a timestamp (seconds, one
clock). The pipeline cuts audio into clips, locates each clip's wheel tracks in earlier images, mines
triplets from the appearance of those tracks (or from time when no image saw them), trains the audio
embedding, clusters it into terrain ids, paints the ids along the tracks into the images, and trains the
segmentation network on those sparse labels. Example::

    pipe = TerrainPipeline(TerrainPipelineConfig(num_clusters=4), camera, base_T_camera)
    pipe.add_pose(t, world_T_base)            # 4x4, or (x, y, yaw)
    pipe.add_audio(t0, samples)               # float32 [-1, 1] or int16, mono, config.sample_rate
    pipe.add_image(t, rgb)                    # (H, W, 3) uint8
    pipe.learn(embedding_steps=50, segmentation_steps=50)   # one round now, in this thread
    pipe.start_learning()                     # or: rounds in the trainer thread under its CPU budget
    labels = pipe.segment(rgb)                # (H, W) uint8 cluster id, 255 until trained
    pipe.status(); pipe.save(path); pipe.load(path)

The jobs live in their own modules: :mod:`.ingest` (clips, poses, images), :mod:`.labels` (tracks projected
into images), :mod:`.learner` (one round = one step of the pipeline's
:class:`~robossl.online.trainer.BackgroundTrainer`); checkpoints go through
:mod:`robossl.online.checkpoint` under the trainer's lock, so a save or load never meets half a round.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robossl.online.checkpoint import load_checkpoint, load_latest_good, save_checkpoint
from robossl.online.trainer import BackgroundTrainer, TrainerConfig
from robossl.pipelines.terrain.config import TerrainPipelineConfig, microphone_config
from robossl.pipelines.terrain.ingest import TerrainInputs
from robossl.pipelines.terrain.learner import TerrainLearner
from robossl.pipelines.terrain.projection import IGNORE_INDEX, PinholeCamera

__all__ = ["TerrainPipeline", "TerrainPipelineConfig", "microphone_config"]


class TerrainPipeline:
    """Persistent self-supervised terrain learner (see module docstring).

    Args:
        config: learner settings.
        camera: intrinsics of the images that will be added (None: set later with :meth:`set_camera`).
        base_T_camera: 4x4 camera mount in the base frame, OpenCV camera axes.
        trainer: the background trainer's settings (CPU budget); it never publishes by itself
            (``publish_every_steps`` is forced to 0: the learner hot-swaps its segmentation network).
        embedding_steps: embedding steps per learning round of the trainer.
        segmentation_steps: segmentation steps per learning round of the trainer.
    """

    def __init__(
        self,
        config: TerrainPipelineConfig | None = None,
        camera: PinholeCamera | None = None,
        base_T_camera: np.ndarray | None = None,
        trainer: TrainerConfig | None = None,
        embedding_steps: int = 50,
        segmentation_steps: int = 50,
    ) -> None:
        self.config = config or TerrainPipelineConfig()
        self.inputs = TerrainInputs(self.config, camera, base_T_camera)
        self.learner = TerrainLearner(self.inputs, embedding_steps, segmentation_steps)
        trainer = replace(trainer or TrainerConfig(), publish_every_steps=0)
        self.trainer = BackgroundTrainer(self.learner, None, config=trainer)

    # -- ingestion -------------------------------------------------------------------------------------
    @property
    def camera(self) -> PinholeCamera | None:
        return self.inputs.camera

    @property
    def base_T_camera(self) -> np.ndarray | None:
        return self.inputs.base_T_camera

    def set_camera(self, camera: PinholeCamera, base_T_camera: np.ndarray) -> None:
        """Intrinsics and camera mount (e.g. from CameraInfo and TF)."""
        self.inputs.set_camera(camera, base_T_camera)

    def add_pose(self, t: float, pose: np.ndarray | tuple[float, float, float]) -> bool:
        """Robot pose at time ``t``: 4x4 ``world_T_base`` or (x, y, yaw). Returns False if dropped."""
        return self.inputs.add_pose(t, pose)

    def add_audio(self, t_start: float, samples: np.ndarray) -> bool:
        """Mono chunk starting at ``t_start`` seconds. int16 is scaled to [-1, 1]. Returns False if dropped."""
        return self.inputs.add_audio(t_start, samples)

    def add_image(self, t: float, image: np.ndarray) -> bool:
        """RGB ``(H, W, 3)`` uint8 image taken at ``t``. Returns False if dropped (wrong size or type)."""
        return self.inputs.add_image(t, image)

    def label_images(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(image, sparse label image) for every stored image that has tracks; labels are cluster ids."""
        return self.learner.label_images()

    # -- learning --------------------------------------------------------------------------------------
    def set_round_steps(self, embedding_steps: int, segmentation_steps: int) -> None:
        """Steps per learning round of the trainer (takes effect from the next round)."""
        self.learner.embedding_steps, self.learner.segmentation_steps = embedding_steps, segmentation_steps

    def learn(self, embedding_steps: int = 50, segmentation_steps: int = 50) -> dict[str, float]:
        """One learning round now, in the calling thread: embedding steps, re-clustering, segmentation
        steps (one trainer step, under the trainer's lock). Returns its metrics; ``{}`` until ``min_clips``
        clips exist. Raises what the round raised."""
        self.set_round_steps(embedding_steps, segmentation_steps)
        done = self.trainer.train_steps(1)
        if not done:
            return {}
        metrics = dict(done[0])
        metrics.pop("step", None)
        return metrics

    def start_learning(self) -> None:
        """Learning rounds in the trainer's background thread, within ``trainer.cpu_fraction``."""
        self.trainer.start()

    def stop_learning(self) -> None:
        """Stop the trainer thread after its current round."""
        self.trainer.stop()

    @property
    def rounds(self) -> int:
        """Learning rounds done by this pipeline object (synchronous and in the thread)."""
        return self.trainer.steps

    # -- inference -------------------------------------------------------------------------------------
    def segment(self, image: np.ndarray) -> np.ndarray:
        """``(H, W)`` uint8 terrain cluster id per pixel; all ``IGNORE_INDEX`` before the first training.

        Uses the network published at the end of the last learning round: safe to call from another
        thread while a round runs, and it does not wait for the round to finish.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"segment expects an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
        slot = self.learner.segment_slot
        if slot is None:
            return np.full(image.shape[:2], IGNORE_INDEX, dtype=np.uint8)
        with self.trainer.inference.frame():  # inference first: the trainer starts no round meanwhile
            predict, _ = slot.get_prepared()
            x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0).float() / 255.0
            return predict(x)[0].astype(np.uint8)  # type: ignore[no-any-return]

    @property
    def segmentation_version(self) -> int:
        """How many times a trained segmentation network was published to inference (0: none yet)."""
        slot = self.learner.segment_slot
        return 0 if slot is None else slot.version + 1  # the slot's first model is version 0

    def classify_audio(self, samples: np.ndarray) -> int:
        """Cluster id of one audio clip (``clip_s`` long), or -1 before the first clustering."""
        return self.learner.classify_audio(samples)

    # -- status ----------------------------------------------------------------------------------------
    def clip_cluster_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """(start time (M,), cluster id (M,)) of the clips at the last clustering."""
        with self.inputs.lock:
            clips = list(self.inputs.clips)
        return np.array([c.t0 for c in clips]), np.array([c.cluster for c in clips], dtype=np.int64)

    def clip_clean_flags(self) -> np.ndarray:
        """``(M,)`` bool, in :meth:`clip_cluster_ids` order: clips judged free of terrain borders (painted)."""
        with self.inputs.lock:
            return np.array([c.clean and c.cluster >= 0 for c in self.inputs.clips], dtype=bool)

    def stats(self) -> dict[str, Any]:
        """Counters and cluster statistics for diagnostics (JSON-friendly)."""
        learner, clusters = self.learner, self.learner.clusters
        with self.inputs.lock:
            clips = list(self.inputs.clips)
            ids = np.array([c.cluster for c in clips if c.cluster >= 0], dtype=np.int64)
            return {
                "clips": len(clips),
                "clips_with_visual_descriptor": sum(c.descriptor is not None for c in clips),
                "clean_clips": sum(c.clean and c.cluster >= 0 for c in clips),
                "images": len(self.inputs.images),
                "num_clusters": 0 if clusters is None else clusters.k,
                "cluster_counts": np.bincount(ids, minlength=0 if clusters is None else clusters.k).tolist(),
                "silhouette": {} if clusters is None else dict(clusters.silhouette),
                "embedding_steps": 0 if learner.embedder is None else learner.embedder.steps,
                "segmentation_steps": 0 if learner.segmenter is None else learner.segmenter.steps,
                "dropped": dict(self.inputs.dropped),
                "last": dict(learner.last),
            }

    def cluster_report(self) -> dict[str, Any]:
        """The cluster statistics a node publishes after each learning round (JSON-friendly): clusters,
        clips per cluster, silhouette per k, clips (with a visual descriptor), steps and rounds so far."""
        stats = self.stats()
        return {
            "num_clusters": stats["num_clusters"],
            "clips_per_cluster": stats["cluster_counts"],
            "silhouette": {str(k): v for k, v in stats["silhouette"].items()},
            "clips": stats["clips"],
            "clips_with_visual_descriptor": stats["clips_with_visual_descriptor"],
            "embedding_steps": stats["embedding_steps"],
            "segmentation_steps": stats["segmentation_steps"],
            "learning_rounds": self.rounds,
        }

    def status(self) -> dict[str, Any]:
        """Diagnostic values: store fill, clusters, training counters, published model, trainer state."""
        stats = self.stats()
        trainer = self.trainer
        values: dict[str, Any] = {
            "clips": stats["clips"],
            "images": stats["images"],
            "buffer_fill": stats["clips"] / self.config.max_clips,
            "num_clusters": stats["num_clusters"],
            "training_steps": stats["embedding_steps"] + stats["segmentation_steps"],
            "embedding_steps": stats["embedding_steps"],
            "segmentation_steps": stats["segmentation_steps"],
            "model_version": self.segmentation_version,
            "learning_rounds": self.rounds,
            "mode": "segmenting"
            if stats["segmentation_steps"]
            else ("clustering" if stats["num_clusters"] else "collecting"),
            "camera_known": self.camera is not None,
        }
        for reason, count in stats["dropped"].items():
            values[f"pipeline_dropped.{reason}"] = count
        if trainer.last_error:
            values["last_error"] = trainer.last_error
        return values

    # -- persistence -----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything learned and buffered, as tensors and plain containers (``weights_only`` loadable);
        taken between two learning rounds."""
        return self.trainer.state_dict(include_replay=False)["learner"]  # type: ignore[no-any-return]

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (the config must be the same), between two rounds."""
        self.trainer.load_state_dict({"learner": state, "steps": self.trainer.steps})

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Atomic checkpoint ``{"pipeline": state_dict()}`` (the format offline pretraining writes too)."""
        return save_checkpoint(path, {"pipeline": self.state_dict()})

    def load(self, path: str | os.PathLike[str], fall_back: bool = False) -> Path:
        """Restore :meth:`save`'s checkpoint; with ``fall_back`` a corrupt file gives way to its newest good
        older copy (for start-up). Returns the file loaded."""
        if fall_back:
            state, used = load_latest_good(path)
        else:
            state, used = load_checkpoint(path), Path(path)
        self.load_state_dict(state["pipeline"])
        return used
