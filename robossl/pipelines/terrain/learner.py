"""Learner of the terrain pipeline: one learning round per :meth:`TerrainLearner.step`.

A round: audio embedding steps on triplets mined from the clips' track appearance (or from time when no
image saw them), re-clustering into terrain ids (ids kept stable across refits), border check, and
segmentation steps on the label images painted from the clusters. The learner draws its own data from the
:class:`~robossl.pipelines.terrain.ingest.TerrainInputs` (it implements :class:`robossl.online.Learner`
for a :class:`~robossl.online.trainer.BackgroundTrainer` without a replay buffer), and hot-swaps its
segmentation network itself at the end of each round that trained it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from robossl.online.hotswap import ModelSlot
from robossl.pipelines.terrain.clustering import TerrainClusters, fit_clusters
from robossl.pipelines.terrain.embedding import TripletEmbeddingLearner
from robossl.pipelines.terrain.ingest import AudioClip, TerrainInputs
from robossl.pipelines.terrain.labels import border_free, describe_clips, label_images
from robossl.pipelines.terrain.mining import group_triplets, temporal_groups, visual_triplets
from robossl.pipelines.terrain.segmentation import SegmentationConfig, SegmentationLearner, predict_labels
from robossl.transforms.stft import log_spectrogram


class TerrainLearner:
    """Embedding, clusters and segmentation network learned from :class:`TerrainInputs`.

    Args:
        inputs: the pipeline's stores (read under their lock; clip cluster ids are written back).
        embedding_steps: embedding steps per round.
        segmentation_steps: segmentation steps per round.
    """

    def __init__(
        self, inputs: TerrainInputs, embedding_steps: int = 50, segmentation_steps: int = 50
    ) -> None:
        self.inputs = inputs
        self.config = inputs.config
        self.embedding_steps = embedding_steps
        self.segmentation_steps = segmentation_steps
        self.rng = np.random.default_rng(self.config.seed)
        self.embedder: TripletEmbeddingLearner | None = None
        self.segmenter: SegmentationLearner | None = None
        # Inference reads a published copy of the segmentation network, so segmenting never waits for a
        # round and never flips the training network's mode (hot swap after each round).
        self.segment_slot: ModelSlot | None = None
        self.clusters: TerrainClusters | None = None
        self.last: dict[str, float] = {}  # metrics of the last round

    # -- the Learner protocol --------------------------------------------------------------------------
    def step(self, batch: list[Any]) -> dict[str, float]:
        """One learning round (``batch`` is unused: the data come from the inputs); ``{}`` until
        ``min_clips`` clips exist."""
        return self.learn_round(self.embedding_steps, self.segmentation_steps)

    def inference_model(self) -> torch.nn.Module:
        """The segmentation network (an empty module before the first one exists)."""
        return self.segmenter.model if self.segmenter is not None else torch.nn.Sequential()

    # -- a round ---------------------------------------------------------------------------------------
    def _ensure_embedder(self) -> TripletEmbeddingLearner:
        if self.embedder is None:
            # Built outside the inputs' lock: a process's first optimizer construction takes about a second
            # (torch's lazy imports), and ingestion must not wait for it.
            embedder = TripletEmbeddingLearner(self.config.embedding, seed=self.config.seed)
            with self.inputs.lock:
                specs = torch.stack([clip.spectrogram for clip in self.inputs.clips])
            embedder.model.set_normalization(specs)
            self.embedder = embedder
        return self.embedder

    def learn_round(self, embedding_steps: int, segmentation_steps: int) -> dict[str, float]:
        """Embedding steps, re-clustering, segmentation steps; the round's metrics (``{}`` too early)."""
        c = self.config
        with self.inputs.lock:
            if len(self.inputs.clips) < c.min_clips:
                return {}
        if self.inputs.camera is not None:
            describe_clips(self.inputs)
        embedder = self._ensure_embedder()
        with self.inputs.lock:
            clips = list(self.inputs.clips)
        specs = torch.stack([clip.spectrogram for clip in clips])
        has_desc = np.array([clip.descriptor is not None for clip in clips])
        groups = temporal_groups(
            np.zeros(len(clips)), np.array([clip.t0 for clip in clips]), c.temporal_segment_s
        )
        metrics: dict[str, float] = {}
        if embedding_steps > 0:
            visual = has_desc.sum() >= max(c.min_clips, 2 * c.visual_clusters)
            if visual:
                idx = np.flatnonzero(has_desc)
                desc = np.stack([clips[i].descriptor for i in idx])  # type: ignore[misc]
                a, p, n = visual_triplets(
                    desc, embedding_steps * c.triplet_batch, c.visual_clusters, self.rng, groups[idx]
                )
                a, p, n = idx[a], idx[p], idx[n]
            else:
                a, p, n = group_triplets(groups, embedding_steps * c.triplet_batch, self.rng)
            for s in range(embedding_steps):
                sl = slice(s * c.triplet_batch, (s + 1) * c.triplet_batch)
                out = embedder.step_triplets(specs[a[sl]], specs[p[sl]], specs[n[sl]])
            metrics["embedding_loss"] = out["loss"]
            metrics["visual_mining"] = float(visual)
        metrics["relabelled_fraction"] = self._recluster(clips, specs)
        if segmentation_steps > 0 and self.inputs.camera is not None:
            metrics.update(self._train_segmentation(segmentation_steps))
        metrics["clips"] = float(len(clips))
        self.last = metrics
        return metrics

    def _recluster(self, clips: list[AudioClip], specs: torch.Tensor) -> float:
        """Refit the clusters, keep ids stable; returns the fraction of clustered clips whose id changed."""
        assert self.embedder is not None
        emb = self.embedder.embed(specs)
        clusters = fit_clusters(emb, self.config.num_clusters, self.config.k_range, seed=self.config.seed)
        ids = clusters.predict(emb)
        previous = np.array([clip.cluster for clip in clips])
        seen = previous >= 0
        if self.clusters is not None and clusters.k == self.clusters.k and seen.any():
            # Keep cluster ids stable across refits so the segmentation network's classes keep their meaning.
            counts = np.zeros((clusters.k, clusters.k), dtype=np.int64)
            np.add.at(counts, (ids[seen], previous[seen]), 1)
            rows, cols = linear_sum_assignment(-counts)
            mapping = np.empty(clusters.k, dtype=np.int64)
            mapping[rows] = cols
            clusters = TerrainClusters(
                centers=clusters.centers[np.argsort(mapping)], silhouette=clusters.silhouette
            )
            ids = mapping[ids]
        clean = border_free(clips, ids, self.config)
        relabelled = float(np.mean(ids[seen] != previous[seen])) if seen.any() else 1.0
        with self.inputs.lock:
            self.clusters = clusters
            for clip, cluster, ok in zip(clips, ids, clean):
                clip.cluster = int(cluster)
                clip.clean = bool(ok)
        return relabelled

    def label_images(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(image, sparse label image) pairs from the current clusters (none before the first clustering)."""
        return [] if self.clusters is None else label_images(self.inputs)

    def _train_segmentation(self, steps: int) -> dict[str, float]:
        assert self.clusters is not None
        pairs = self.label_images()
        if not pairs:
            return {}
        k = self.clusters.k
        if self.segmenter is None or self.segmenter.config.num_classes != k:
            self.segmenter = SegmentationLearner(
                SegmentationConfig(num_classes=k, width=self.config.segmentation_width), seed=self.config.seed
            )
        images = torch.from_numpy(np.stack([p[0] for p in pairs])).permute(0, 3, 1, 2).float() / 255.0
        labels = torch.from_numpy(np.stack([p[1] for p in pairs]).astype(np.int64))
        self.segmenter.set_class_weights(labels.numpy())
        for _ in range(steps):
            batch = self.rng.choice(
                len(pairs), size=min(self.config.segmentation_batch, len(pairs)), replace=False
            )
            out = self.segmenter.step(images[batch], labels[batch])
        self.publish_segmenter()
        return {"segmentation_loss": out["loss"], "labelled_images": float(len(pairs))}

    def publish_segmenter(self) -> None:
        """Hot-swap a copy of the segmentation network in as the inference model."""
        if self.segmenter is None:
            self.segment_slot = None
            return
        if self.segment_slot is None:
            # The prepare hook binds the input scale to each published copy, so the two never disagree.
            scale = self.segmenter.config.input_scale
            self.segment_slot = ModelSlot(
                self.segmenter.model, prepare=lambda model: partial(predict_labels, model, input_scale=scale)
            )
        else:
            self.segment_slot.publish(self.segmenter.model)

    def classify_audio(self, samples: np.ndarray) -> int:
        """Cluster id of one audio clip (``clip_s`` long), or -1 before the first clustering."""
        if self.embedder is None or self.clusters is None:
            return -1
        x = torch.from_numpy(np.asarray(samples, dtype=np.float32).reshape(1, -1))
        emb = self.embedder.embed(log_spectrogram(x, self.config.spectrogram))
        return int(self.clusters.predict(emb)[0])

    # -- persistence -----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything learned and buffered (inputs included), as tensors and plain containers."""
        with self.inputs.lock:
            return {
                **self.inputs.state_dict(),
                "embedder": None if self.embedder is None else self.embedder.state_dict(),
                "segmenter": None if self.segmenter is None else self.segmenter.state_dict(),
                "segmenter_classes": 0 if self.segmenter is None else self.segmenter.config.num_classes,
                "cluster_centers": None if self.clusters is None else torch.from_numpy(self.clusters.centers),
                "rng": self.rng.bit_generator.state,
            }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (the config must be the same) and hot-swap the network."""
        c = self.config
        with self.inputs.lock:
            self.inputs.load_state_dict(state)
            self.embedder = None
            if state["embedder"] is not None:
                self.embedder = TripletEmbeddingLearner(c.embedding, seed=c.seed)
                self.embedder.load_state_dict(state["embedder"])
            self.segmenter = None
            if state["segmenter"] is not None:
                self.segmenter = SegmentationLearner(
                    SegmentationConfig(
                        num_classes=int(state["segmenter_classes"]), width=c.segmentation_width
                    )
                )
                self.segmenter.load_state_dict(state["segmenter"])
            self.publish_segmenter()
            centers = state["cluster_centers"]
            self.clusters = None if centers is None else TerrainClusters(centers.numpy(), {})
            self.rng.bit_generator.state = state["rng"]
