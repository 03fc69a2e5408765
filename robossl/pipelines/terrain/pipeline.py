"""Online acoustic -> visual terrain learner: the class the ROS ``terrain_node`` drives.

Streams in: interaction audio chunks, camera images and robot poses, each with a timestamp (seconds, one
clock). The learner cuts audio into clips, locates each clip's wheel tracks in earlier images, mines
triplets from the appearance of those tracks (or from time when no image saw them), trains the audio
embedding, clusters it into terrain ids, paints the ids along the tracks into the images, and trains the
segmentation network on those sparse labels. Example::

    pipe = TerrainPipeline(TerrainPipelineConfig(num_clusters=4), camera, base_T_camera)
    pipe.add_pose(t, world_T_base)            # 4x4, or (x, y, yaw)
    pipe.add_audio(t0, samples)               # float32 [-1, 1] or int16, mono, config.sample_rate
    pipe.add_image(t, rgb)                    # (H, W, 3) uint8
    pipe.learn(embedding_steps=50, segmentation_steps=50)   # background thread, CPU-budgeted by the caller
    labels = pipe.segment(rgb)                # (H, W) uint8 cluster id, 255 until trained
    pipe.stats(); pipe.state_dict(); pipe.load_state_dict(state)
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from robossl.online.hotswap import ModelSlot
from robossl.pipelines.terrain.clustering import TerrainClusters, fit_clusters
from robossl.pipelines.terrain.embedding import EmbeddingConfig, TripletEmbeddingLearner
from robossl.pipelines.terrain.features import AUDIO_SPECTROGRAM
from robossl.pipelines.terrain.mining import group_triplets, temporal_groups, visual_triplets
from robossl.pipelines.terrain.projection import (
    IGNORE_INDEX,
    PinholeCamera,
    paint_track_labels,
    pose_from_xy_yaw,
    wheel_track_polygons,
)
from robossl.pipelines.terrain.segmentation import SegmentationConfig, SegmentationLearner, predict_labels
from robossl.pipelines.terrain.visual import DESCRIPTOR_DIM, patch_descriptors
from robossl.transforms.stft import SpectrogramConfig, log_spectrogram


@dataclass(frozen=True)
class TerrainPipelineConfig:
    """Settings of the online terrain learner."""

    sample_rate: int = 16000  # audio sample rate, Hz
    clip_s: float = 0.5  # audio clip length, seconds
    clip_hop_s: float = 0.25  # step between clips, seconds
    num_clusters: int | None = 4  # terrain clusters; None chooses k in k_range by silhouette
    k_range: tuple[int, int] = (2, 8)  # candidate k when num_clusters is None
    wheel_offsets: tuple[tuple[float, float], ...] = (
        (0.25, 0.22),
        (0.25, -0.22),
        (-0.25, 0.22),
        (-0.25, -0.22),
    )
    wheel_width_m: float = 0.08  # tyre width painted per wheel, metres
    # Border check: a clip is painted only if this fraction of the clips starting within consistency_s
    # seconds of it fell into its cluster (a clip crossing a terrain border has neighbours that did not).
    consistency_s: float = 1.0  # seconds either side; 0 paints every clip
    consistency_agreement: float = 1.0  # fraction in (0, 1]; 1.0: all neighbours agree
    label_horizon_s: float = 10.0  # tracks driven up to this long after an image are painted into it
    max_images: int = 300  # images kept for labelling (oldest dropped)
    max_clips: int = 6000  # audio clips kept (oldest dropped)
    min_clips: int = 64  # clips needed before the first embedding / clustering
    visual_clusters: int = 8  # k-means k over patch descriptors; negatives come from another one
    temporal_segment_s: float = 2.0  # mining without images: clips in one such stretch are positives
    triplet_batch: int = 48  # triplets per embedding step
    segmentation_batch: int = 8  # images per segmentation step
    min_patch_pixels: int = 20  # pixels a track patch needs to get a visual descriptor
    spectrogram: SpectrogramConfig = AUDIO_SPECTROGRAM  # audio front end
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)  # audio embedding network
    segmentation_width: int = 16  # first-level channels of the segmentation network
    seed: int = 0  # seed of weights and sampling

    def __post_init__(self) -> None:
        if self.clip_hop_s <= 0 or self.clip_s <= 0:
            raise ValueError(
                f"clip_s and clip_hop_s must be > 0 seconds, got {self.clip_s}, {self.clip_hop_s}"
            )
        if self.num_clusters is not None and not 2 <= self.num_clusters <= 254:
            raise ValueError(
                f"num_clusters must be in [2, 254] or None (choose by silhouette), got {self.num_clusters}"
            )
        if self.consistency_s < 0 or not 0 < self.consistency_agreement <= 1:
            raise ValueError(
                f"need consistency_s >= 0 seconds (0 turns the border check off) and consistency_agreement "
                f"in (0, 1]; got {self.consistency_s}, {self.consistency_agreement}"
            )
        if self.spectrogram.sample_rate != self.sample_rate:
            raise ValueError(
                f"spectrogram.sample_rate {self.spectrogram.sample_rate} differs from sample_rate {self.sample_rate}; "
                "set both to the microphone rate"
            )


def microphone_config(sample_rate: int, **fields: Any) -> TerrainPipelineConfig:
    """A :class:`TerrainPipelineConfig` for a microphone at ``sample_rate`` Hz: the spectrogram front end
    follows the rate. terrain_node builds its learner with this, so offline pretraining that does the same
    with the node's parameters writes checkpoints the node loads."""
    base = TerrainPipelineConfig()
    spectrogram = replace(fields.pop("spectrogram", base.spectrogram), sample_rate=sample_rate)
    return TerrainPipelineConfig(sample_rate=sample_rate, spectrogram=spectrogram, **fields)


@dataclass
class _Clip:
    t0: float
    t1: float
    spectrogram: torch.Tensor  # (1, F, T)
    descriptor: np.ndarray | None = None  # (DESCRIPTOR_DIM,) once an image saw the track
    cluster: int = -1  # terrain cluster id at the last clustering, -1 before
    clean: bool = True  # passed the label-free border checks at the last clustering (paintable)
    polygons: np.ndarray | None = None  # (W, 4, 3) wheel track quads, world frame, once poses cover the clip


class TerrainPipeline:
    """Persistent self-supervised terrain learner (see module docstring).

    Args:
        config: learner settings.
        camera: intrinsics of the images that will be added (None: set later with :meth:`set_camera`).
        base_T_camera: 4x4 camera mount in the base frame, OpenCV camera axes.
    """

    def __init__(
        self,
        config: TerrainPipelineConfig | None = None,
        camera: PinholeCamera | None = None,
        base_T_camera: np.ndarray | None = None,
    ) -> None:
        self.config = config or TerrainPipelineConfig()
        self.camera = camera
        self.base_T_camera = None if base_T_camera is None else np.asarray(base_T_camera, dtype=np.float64)
        self._lock = threading.RLock()  # ingestion (node callbacks) vs learning (background thread)
        self._rng = np.random.default_rng(self.config.seed)
        self._audio = np.zeros(0, dtype=np.float32)
        self._audio_t0: float | None = None
        self._pose_times: deque[float] = deque(maxlen=50_000)
        self._poses: deque[np.ndarray] = deque(maxlen=50_000)
        self._pose_cache: np.ndarray | None = None  # self._pose_times as an array, rebuilt when it changes
        self._images: deque[tuple[float, np.ndarray]] = deque(maxlen=self.config.max_images)
        self._clips: deque[_Clip] = deque(maxlen=self.config.max_clips)
        self._embedder: TripletEmbeddingLearner | None = None
        self._segmenter: SegmentationLearner | None = None
        # Inference reads a published copy of the segmentation network, so segment() never waits for a
        # learning round and never flips the training network's mode (hot swap after each round).
        self._segment_slot: ModelSlot | None = None
        self._clusters: TerrainClusters | None = None
        self._dropped: dict[str, int] = {"audio_nan": 0, "audio_gap": 0, "image_bad": 0, "pose_bad": 0}
        self._last: dict[str, float] = {}

    # -- ingestion -------------------------------------------------------------------------------------
    def set_camera(self, camera: PinholeCamera, base_T_camera: np.ndarray) -> None:
        """Intrinsics and camera mount (e.g. from CameraInfo and TF)."""
        with self._lock:
            self.camera = camera
            self.base_T_camera = np.asarray(base_T_camera, dtype=np.float64)

    def add_pose(self, t: float, pose: np.ndarray | tuple[float, float, float]) -> bool:
        """Robot pose at time ``t``: 4x4 ``world_T_base`` or (x, y, yaw). Returns False if dropped."""
        p = np.asarray(pose, dtype=np.float64)
        if p.shape == (3,):
            p = pose_from_xy_yaw(*p)
        if p.shape != (4, 4) or not np.isfinite(p).all():
            self._dropped["pose_bad"] += 1
            return False
        with self._lock:
            if self._pose_times and t <= self._pose_times[-1]:
                self._dropped["pose_bad"] += 1  # out of order
                return False
            self._pose_times.append(float(t))
            self._poses.append(p)
            self._cut_clips()
        return True

    def add_audio(self, t_start: float, samples: np.ndarray) -> bool:
        """Mono chunk starting at ``t_start`` seconds. int16 is scaled to [-1, 1]. Returns False if dropped."""
        x = np.asarray(samples)
        if x.dtype == np.int16:
            x = x.astype(np.float32) / 32768.0
        x = x.astype(np.float32).reshape(-1)
        if not np.isfinite(x).all():
            self._dropped["audio_nan"] += 1
            return False
        with self._lock:
            expected = (
                None
                if self._audio_t0 is None
                else self._audio_t0 + len(self._audio) / self.config.sample_rate
            )
            if expected is None or abs(t_start - expected) > 2.0 / self.config.sample_rate:
                if expected is not None:
                    self._dropped["audio_gap"] += 1  # a gap or overlap restarts the stream
                self._audio, self._audio_t0 = x, float(t_start)
            else:
                self._audio = np.concatenate([self._audio, x])
            self._cut_clips()
        return True

    def add_image(self, t: float, image: np.ndarray) -> bool:
        """RGB ``(H, W, 3)`` uint8 image taken at ``t``. Returns False if dropped (wrong size or type)."""
        cam = self.camera
        if (
            image.ndim != 3
            or image.shape[2] != 3
            or image.dtype != np.uint8
            or (cam is not None and image.shape[:2] != (cam.height, cam.width))
        ):
            self._dropped["image_bad"] += 1
            return False
        with self._lock:
            self._images.append((float(t), np.ascontiguousarray(image)))
        return True

    def _pose_at(self, t: float) -> np.ndarray | None:
        if self._pose_cache is None or len(self._pose_cache) != len(self._pose_times):
            self._pose_cache = np.fromiter(self._pose_times, dtype=np.float64)
        times = self._pose_cache
        if len(times) and (times[0] != self._pose_times[0] or times[-1] != self._pose_times[-1]):
            self._pose_cache = times = np.fromiter(self._pose_times, dtype=np.float64)
        if len(times) == 0 or t < times[0] or t > times[-1]:
            return None
        i = int(np.searchsorted(times, t))
        if i == 0 or times[i] == t:
            return self._poses[i]
        a, b = self._poses[i - 1], self._poses[i]
        w = (t - times[i - 1]) / (times[i] - times[i - 1])
        out = (a if w < 0.5 else b).copy()
        out[:3, 3] = (1 - w) * a[:3, 3] + w * b[:3, 3]
        return out

    def _cut_clips(self) -> None:
        c = self.config
        n, hop = int(round(c.clip_s * c.sample_rate)), int(round(c.clip_hop_s * c.sample_rate))
        while self._audio_t0 is not None and len(self._audio) >= n:
            t0 = self._audio_t0
            t1 = t0 + c.clip_s
            if not self._pose_times or self._pose_times[-1] < t1:
                return  # wait for poses that cover the clip
            if self._pose_times[0] <= t0:
                spec = log_spectrogram(torch.from_numpy(self._audio[:n]).unsqueeze(0), c.spectrogram)[0]
                self._clips.append(_Clip(t0, t1, spec))
            self._audio = self._audio[hop:]
            self._audio_t0 = t0 + hop / c.sample_rate

    # -- labelling -------------------------------------------------------------------------------------
    # Painting tracks into images is the heavy part of labelling. It runs on a snapshot taken under the
    # lock (images, clips, each clip's track polygons computed once), outside the lock, so ingestion of
    # new poses, audio and images never waits for it.
    def _track_polygons(self, clip: _Clip) -> np.ndarray | None:
        """``(W, 4, 3)`` wheel track quads of one clip, computed once (poses do not change); needs the lock."""
        if clip.polygons is None:
            a, b = self._pose_at(clip.t0), self._pose_at(clip.t1)
            if a is not None and b is not None:
                offsets = np.asarray(self.config.wheel_offsets)
                clip.polygons = wheel_track_polygons(a, b, offsets, self.config.wheel_width_m)
        return clip.polygons

    @staticmethod
    def _clip_polygons(clips: list[_Clip]) -> tuple[np.ndarray, np.ndarray]:
        """(M * W, 4, 3) track quads of the clips (from the cache) and the clip index of each."""
        polys = [(k, clip.polygons) for k, clip in enumerate(clips) if clip.polygons is not None]
        if not polys:
            return np.zeros((0, 4, 3)), np.zeros(0, dtype=np.int64)
        owners = np.concatenate([np.full(len(quads), k, dtype=np.int64) for k, quads in polys])
        return np.concatenate([quads for _, quads in polys]), owners

    def _track_snapshot(self) -> tuple[list[_Clip], list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        """Under the lock: the clips, and per stored image that has tracks (image, world_T_camera, indices
        into those clips of the clips driven within the horizon after it)."""
        with self._lock:
            if self.camera is None or self.base_T_camera is None:
                return [], []
            clips = list(self._clips)
            for clip in clips:
                self._track_polygons(clip)
            starts = np.array([c.t0 for c in clips])
            images = []
            for t, image in self._images:
                pose = self._pose_at(t)
                if pose is None:
                    continue
                inside = np.flatnonzero((starts >= t) & (starts <= t + self.config.label_horizon_s))
                if len(inside):
                    images.append((image, pose @ self.base_T_camera, inside))
            return clips, images

    def _describe_clips(self) -> None:
        """Give clips a visual descriptor of their track from the latest earlier image that shows it.

        The latest image sees the track nearest and largest; older ones see it far away and blurred.
        """
        camera = self.camera
        assert camera is not None
        clips, images = self._track_snapshot()
        for image, world_T_camera, inside in reversed(images):
            todo = [clips[int(i)] for i in inside if clips[int(i)].descriptor is None]
            if not todo:
                continue
            polys, owners = self._clip_polygons(todo)
            index_map = paint_track_labels(camera, world_T_camera, polys, owners, background=-1)
            desc = patch_descriptors(image, index_map, len(todo), self.config.min_patch_pixels)
            for row, clip in enumerate(todo):
                if np.isfinite(desc[row]).all():
                    clip.descriptor = desc[row]

    def label_images(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(image, sparse label image) for every stored image that has tracks; labels are cluster ids."""
        camera = self.camera
        if self._clusters is None or camera is None:
            return []
        clips, images = self._track_snapshot()
        out = []
        for image, world_T_camera, inside in images:
            painted = [clips[int(i)] for i in inside if clips[int(i)].cluster >= 0 and clips[int(i)].clean]
            polys, owners = self._clip_polygons(painted)
            ids = np.array([clip.cluster for clip in painted], dtype=np.int64)
            labels = paint_track_labels(camera, world_T_camera, polys, ids[owners])
            if (labels != IGNORE_INDEX).any():
                out.append((image, labels))
        return out

    # -- learning --------------------------------------------------------------------------------------
    def _ensure_models(self) -> None:
        if self._embedder is not None:
            return
        # Built outside the lock: a process's first optimizer construction takes about a second (torch's
        # lazy imports), and ingestion must not wait for it.
        embedder = TripletEmbeddingLearner(self.config.embedding, seed=self.config.seed)
        with self._lock:
            specs = torch.stack([clip.spectrogram for clip in self._clips])
        embedder.model.set_normalization(specs)
        self._embedder = embedder

    def learn(self, embedding_steps: int = 50, segmentation_steps: int = 50) -> dict[str, float]:
        """One round of background learning: embedding steps, re-clustering, segmentation steps.

        Call repeatedly (e.g. from a background thread at a CPU budget). Returns metrics of this round;
        ``{}`` until ``min_clips`` clips exist.
        """
        c = self.config
        with self._lock:
            if len(self._clips) < c.min_clips:
                return {}
        if self.camera is not None:
            self._describe_clips()
        self._ensure_models()
        with self._lock:
            clips = list(self._clips)
        assert self._embedder is not None
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
                    desc, embedding_steps * c.triplet_batch, c.visual_clusters, self._rng, groups[idx]
                )
                a, p, n = idx[a], idx[p], idx[n]
            else:
                a, p, n = group_triplets(groups, embedding_steps * c.triplet_batch, self._rng)
            for s in range(embedding_steps):
                sl = slice(s * c.triplet_batch, (s + 1) * c.triplet_batch)
                out = self._embedder.step_triplets(specs[a[sl]], specs[p[sl]], specs[n[sl]])
            metrics["embedding_loss"] = out["loss"]
            metrics["visual_mining"] = float(visual)
        relabelled = self._recluster(clips, specs)
        metrics["relabelled_fraction"] = relabelled
        if segmentation_steps > 0 and self.camera is not None:
            metrics.update(self._train_segmentation(segmentation_steps))
        metrics["clips"] = float(len(clips))
        self._last = metrics
        return metrics

    def _recluster(self, clips: list[_Clip], specs: torch.Tensor) -> float:
        """Refit the clusters, keep ids stable; returns the fraction of clustered clips whose id changed."""
        assert self._embedder is not None
        emb = self._embedder.embed(specs)
        clusters = fit_clusters(emb, self.config.num_clusters, self.config.k_range, seed=self.config.seed)
        ids = clusters.predict(emb)
        previous = np.array([clip.cluster for clip in clips])
        seen = previous >= 0
        if self._clusters is not None and clusters.k == self._clusters.k and seen.any():
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
        clean = self._border_free(clips, ids)
        relabelled = float(np.mean(ids[seen] != previous[seen])) if seen.any() else 1.0
        with self._lock:
            self._clusters = clusters
            for clip, cluster, ok in zip(clips, ids, clean):
                clip.cluster = int(cluster)
                clip.clean = bool(ok)
        return relabelled

    def _border_free(self, clips: list[_Clip], ids: np.ndarray) -> np.ndarray:
        """``(M,)`` bool: clips unlikely to straddle a terrain border, judged without labels.

        The microphone hears all wheels at once, so a clip driven across a border mixes two sounds and its
        one cluster id would be painted under every wheel. Near a border the clusters of the clips just
        before and after disagree (the wheels reach the new ground one axle after the other); such clips
        are not painted. They still train the embedding.
        """
        c = self.config
        clean = np.ones(len(clips), dtype=bool)
        if c.consistency_s > 0 and len(clips):
            starts = np.array([clip.t0 for clip in clips])
            order = np.argsort(starts, kind="stable")
            t, sorted_ids = starts[order], ids[order]
            lo = np.searchsorted(t, t - c.consistency_s - 1e-9, side="left")
            hi = np.searchsorted(t, t + c.consistency_s + 1e-9, side="right")
            agree = np.array(
                [np.mean(sorted_ids[a:b] == sorted_ids[k]) for k, (a, b) in enumerate(zip(lo, hi))]
            )
            clean[order] = agree >= c.consistency_agreement - 1e-9
        return clean

    def _train_segmentation(self, steps: int) -> dict[str, float]:
        assert self._clusters is not None
        pairs = self.label_images()
        if not pairs:
            return {}
        k = self._clusters.k
        if self._segmenter is None or self._segmenter.config.num_classes != k:
            self._segmenter = SegmentationLearner(
                SegmentationConfig(num_classes=k, width=self.config.segmentation_width), seed=self.config.seed
            )
        images = torch.from_numpy(np.stack([p[0] for p in pairs])).permute(0, 3, 1, 2).float() / 255.0
        labels = torch.from_numpy(np.stack([p[1] for p in pairs]).astype(np.int64))
        self._segmenter.set_class_weights(labels.numpy())
        for _ in range(steps):
            batch = self._rng.choice(
                len(pairs), size=min(self.config.segmentation_batch, len(pairs)), replace=False
            )
            out = self._segmenter.step(images[batch], labels[batch])
        self._publish_segmenter()
        return {"segmentation_loss": out["loss"], "labelled_images": float(len(pairs))}

    def _publish_segmenter(self) -> None:
        """Hot-swap a copy of the segmentation network in as the inference model."""
        if self._segmenter is None:
            self._segment_slot = None
            return
        if self._segment_slot is None:
            # The prepare hook binds the input scale to each published copy, so the two never disagree.
            scale = self._segmenter.config.input_scale
            self._segment_slot = ModelSlot(
                self._segmenter.model, prepare=lambda model: partial(predict_labels, model, input_scale=scale)
            )
        else:
            self._segment_slot.publish(self._segmenter.model)

    # -- inference -------------------------------------------------------------------------------------
    def segment(self, image: np.ndarray) -> np.ndarray:
        """``(H, W)`` uint8 terrain cluster id per pixel; all ``IGNORE_INDEX`` before the first training.

        Uses the network published at the end of the last learning round: safe to call from another
        thread while :meth:`learn` runs, and it does not wait for the round to finish.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"segment expects an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
        slot = self._segment_slot
        if slot is None:
            return np.full(image.shape[:2], IGNORE_INDEX, dtype=np.uint8)
        predict, _ = slot.get_prepared()
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0).float() / 255.0
        return predict(x)[0].astype(np.uint8)

    @property
    def segmentation_version(self) -> int:
        """How many times a trained segmentation network was published to inference (0: none yet)."""
        slot = self._segment_slot
        return 0 if slot is None else slot.version + 1  # the slot's first model is version 0

    def classify_audio(self, samples: np.ndarray) -> int:
        """Cluster id of one audio clip (``clip_s`` long), or -1 before the first clustering."""
        if self._embedder is None or self._clusters is None:
            return -1
        x = torch.from_numpy(np.asarray(samples, dtype=np.float32).reshape(1, -1))
        emb = self._embedder.embed(log_spectrogram(x, self.config.spectrogram))
        return int(self._clusters.predict(emb)[0])

    def clip_cluster_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """(start time (M,), cluster id (M,)) of the clips at the last clustering."""
        with self._lock:
            return np.array([c.t0 for c in self._clips]), np.array(
                [c.cluster for c in self._clips], dtype=np.int64
            )

    def clip_clean_flags(self) -> np.ndarray:
        """``(M,)`` bool, in :meth:`clip_cluster_ids` order: clips judged free of terrain borders (painted)."""
        with self._lock:
            return np.array([c.clean and c.cluster >= 0 for c in self._clips], dtype=bool)

    def stats(self) -> dict[str, Any]:
        """Counters and cluster statistics for diagnostics (JSON-friendly)."""
        with self._lock:
            ids = np.array([c.cluster for c in self._clips if c.cluster >= 0], dtype=np.int64)
            return {
                "clips": len(self._clips),
                "clips_with_visual_descriptor": sum(c.descriptor is not None for c in self._clips),
                "clean_clips": sum(c.clean and c.cluster >= 0 for c in self._clips),
                "images": len(self._images),
                "num_clusters": 0 if self._clusters is None else self._clusters.k,
                "cluster_counts": np.bincount(
                    ids, minlength=0 if self._clusters is None else self._clusters.k
                ).tolist(),
                "silhouette": {} if self._clusters is None else dict(self._clusters.silhouette),
                "embedding_steps": 0 if self._embedder is None else self._embedder.steps,
                "segmentation_steps": 0 if self._segmenter is None else self._segmenter.steps,
                "dropped": dict(self._dropped),
                "last": dict(self._last),
            }

    # -- persistence -----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything learned and buffered, as tensors and plain containers (``weights_only`` loadable)."""
        with self._lock:
            clips = list(self._clips)
            return {
                "embedder": None if self._embedder is None else self._embedder.state_dict(),
                "segmenter": None if self._segmenter is None else self._segmenter.state_dict(),
                "segmenter_classes": 0 if self._segmenter is None else self._segmenter.config.num_classes,
                "cluster_centers": None
                if self._clusters is None
                else torch.from_numpy(self._clusters.centers),
                "clip_clusters": torch.tensor([c.cluster for c in clips], dtype=torch.int64),
                "clip_clean": torch.tensor([c.clean for c in clips], dtype=torch.bool),
                "clip_times": torch.tensor([[c.t0, c.t1] for c in clips], dtype=torch.float64).reshape(-1, 2),
                "clip_spectrograms": torch.stack([c.spectrogram for c in clips]) if clips else torch.zeros(0),
                "clip_descriptors": torch.from_numpy(
                    np.stack(
                        [
                            c.descriptor if c.descriptor is not None else np.full(DESCRIPTOR_DIM, np.nan)
                            for c in clips
                        ]
                    )
                    if clips
                    else np.zeros((0, DESCRIPTOR_DIM), np.float32)
                ),
                "pose_times": torch.tensor(list(self._pose_times), dtype=torch.float64),
                "poses": torch.from_numpy(np.stack(self._poses)) if self._poses else torch.zeros(0, 4, 4),
                "image_times": torch.tensor([t for t, _ in self._images], dtype=torch.float64),
                "images": torch.from_numpy(np.stack([im for _, im in self._images]))
                if self._images
                else torch.zeros(0),
                "rng": self._rng.bit_generator.state,
                "dropped": dict(self._dropped),
            }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (the config must be the same)."""
        c = self.config
        with self._lock:
            self._clips.clear()
            times, specs, descs = (
                state["clip_times"],
                state["clip_spectrograms"],
                state["clip_descriptors"].numpy(),
            )
            for k in range(len(times)):
                d = descs[k]
                clip = _Clip(
                    float(times[k, 0]), float(times[k, 1]), specs[k], d if np.isfinite(d).all() else None
                )
                clip.cluster = int(state["clip_clusters"][k])
                clip.clean = bool(state["clip_clean"][k]) if "clip_clean" in state else True
                self._clips.append(clip)
            self._pose_times.clear()
            self._poses.clear()
            self._pose_times.extend(state["pose_times"].tolist())
            self._poses.extend(p for p in state["poses"].numpy())
            self._images.clear()
            self._images.extend(zip(state["image_times"].tolist(), list(state["images"].numpy())))
            self._embedder = None
            if state["embedder"] is not None:
                self._embedder = TripletEmbeddingLearner(c.embedding, seed=c.seed)
                self._embedder.load_state_dict(state["embedder"])
            self._segmenter = None
            if state["segmenter"] is not None:
                self._segmenter = SegmentationLearner(
                    SegmentationConfig(
                        num_classes=int(state["segmenter_classes"]), width=c.segmentation_width
                    )
                )
                self._segmenter.load_state_dict(state["segmenter"])
            self._publish_segmenter()
            centers = state["cluster_centers"]
            self._clusters = None if centers is None else TerrainClusters(centers.numpy(), {})
            self._rng.bit_generator.state = state["rng"]
            self._dropped = dict(state["dropped"])
