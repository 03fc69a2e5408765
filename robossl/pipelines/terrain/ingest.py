"""Ingestion of the terrain pipeline: audio cut into clips, robot poses, camera images, bounded stores.

:class:`TerrainInputs` holds what the streams brought (one clock, seconds). Audio is cut into clips of
``clip_s`` every ``clip_hop_s`` once poses cover a clip's span; each clip keeps its log spectrogram and,
later, what learning and labelling found out about it (visual descriptor, cluster id, border check, wheel
track polygons). All stores are bounded (``max_clips``, ``max_images``, 50,000 poses). Ingestion (node
callbacks) and learning (a trainer thread) share :attr:`TerrainInputs.lock`; it is held only for short
reads and writes, never for a training step.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from robossl.pipelines.terrain.config import TerrainPipelineConfig
from robossl.pipelines.terrain.projection import PinholeCamera, pose_from_xy_yaw
from robossl.pipelines.terrain.visual import DESCRIPTOR_DIM
from robossl.transforms.stft import log_spectrogram

MAX_POSES = 50_000  # poses kept (at 100 Hz about 8 minutes)


@dataclass
class AudioClip:
    """One clip of interaction audio and what was learned about it."""

    t0: float  # start, seconds
    t1: float  # end, seconds
    spectrogram: torch.Tensor  # (1, F, T) log spectrogram
    descriptor: np.ndarray | None = None  # (DESCRIPTOR_DIM,) once an image saw the track
    cluster: int = -1  # terrain cluster id at the last clustering, -1 before
    clean: bool = True  # passed the label-free border checks at the last clustering (paintable)
    polygons: np.ndarray | None = None  # (W, 4, 3) wheel track quads, world frame, once poses cover the clip


class TerrainInputs:
    """Bounded stores of clips, poses and images, filled from the streams (see module docstring).

    Args:
        config: pipeline settings (clip length and hop, store sizes, sample rate).
        camera: intrinsics of the images that will be added (None: set later with :meth:`set_camera`).
        base_T_camera: 4x4 camera mount in the base frame, OpenCV camera axes.
    """

    def __init__(
        self,
        config: TerrainPipelineConfig,
        camera: PinholeCamera | None = None,
        base_T_camera: np.ndarray | None = None,
    ) -> None:
        self.config = config
        self.camera = camera
        self.base_T_camera = None if base_T_camera is None else np.asarray(base_T_camera, dtype=np.float64)
        self.lock = threading.RLock()  # ingestion (node callbacks) vs learning (trainer thread)
        self._audio = np.zeros(0, dtype=np.float32)
        self._audio_t0: float | None = None
        self.pose_times: deque[float] = deque(maxlen=MAX_POSES)
        self.poses: deque[np.ndarray] = deque(maxlen=MAX_POSES)
        self._pose_cache: np.ndarray | None = None  # pose_times as an array, rebuilt when it changes
        self.images: deque[tuple[float, np.ndarray]] = deque(maxlen=config.max_images)
        self.clips: deque[AudioClip] = deque(maxlen=config.max_clips)
        self.dropped: dict[str, int] = {"audio_nan": 0, "audio_gap": 0, "image_bad": 0, "pose_bad": 0}

    def set_camera(self, camera: PinholeCamera, base_T_camera: np.ndarray) -> None:
        """Intrinsics and camera mount (e.g. from CameraInfo and TF)."""
        with self.lock:
            self.camera = camera
            self.base_T_camera = np.asarray(base_T_camera, dtype=np.float64)

    def add_pose(self, t: float, pose: np.ndarray | tuple[float, float, float]) -> bool:
        """Robot pose at time ``t``: 4x4 ``world_T_base`` or (x, y, yaw). Returns False if dropped."""
        p = np.asarray(pose, dtype=np.float64)
        if p.shape == (3,):
            p = pose_from_xy_yaw(*p)
        if p.shape != (4, 4) or not np.isfinite(p).all():
            self.dropped["pose_bad"] += 1
            return False
        with self.lock:
            if self.pose_times and t <= self.pose_times[-1]:
                self.dropped["pose_bad"] += 1  # out of order
                return False
            self.pose_times.append(float(t))
            self.poses.append(p)
            self._cut_clips()
        return True

    def add_audio(self, t_start: float, samples: np.ndarray) -> bool:
        """Mono chunk starting at ``t_start`` seconds. int16 is scaled to [-1, 1]. Returns False if dropped."""
        x = np.asarray(samples)
        if x.dtype == np.int16:
            x = x.astype(np.float32) / 32768.0
        x = x.astype(np.float32).reshape(-1)
        if not np.isfinite(x).all():
            self.dropped["audio_nan"] += 1
            return False
        rate = self.config.sample_rate
        with self.lock:
            expected = None if self._audio_t0 is None else self._audio_t0 + len(self._audio) / rate
            if expected is None or abs(t_start - expected) > 2.0 / rate:
                if expected is not None:
                    self.dropped["audio_gap"] += 1  # a gap or overlap restarts the stream
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
            self.dropped["image_bad"] += 1
            return False
        with self.lock:
            self.images.append((float(t), np.ascontiguousarray(image)))
        return True

    def pose_at(self, t: float) -> np.ndarray | None:
        """4x4 ``world_T_base`` at ``t`` (position interpolated, rotation of the nearer pose), None outside
        the stored poses; call under :attr:`lock`."""
        if self._pose_cache is None or len(self._pose_cache) != len(self.pose_times):
            self._pose_cache = np.fromiter(self.pose_times, dtype=np.float64)
        times = self._pose_cache
        if len(times) and (times[0] != self.pose_times[0] or times[-1] != self.pose_times[-1]):
            self._pose_cache = times = np.fromiter(self.pose_times, dtype=np.float64)
        if len(times) == 0 or t < times[0] or t > times[-1]:
            return None
        i = int(np.searchsorted(times, t))
        if i == 0 or times[i] == t:
            return self.poses[i]
        a, b = self.poses[i - 1], self.poses[i]
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
            if not self.pose_times or self.pose_times[-1] < t1:
                return  # wait for poses that cover the clip
            if self.pose_times[0] <= t0:
                spec = log_spectrogram(torch.from_numpy(self._audio[:n]).unsqueeze(0), c.spectrogram)[0]
                self.clips.append(AudioClip(t0, t1, spec))
            self._audio = self._audio[hop:]
            self._audio_t0 = t0 + hop / c.sample_rate

    # -- persistence -----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Clips (with cluster ids and border flags), poses, images and drop counters as tensors."""
        with self.lock:
            clips = list(self.clips)
            descriptors = [
                c.descriptor if c.descriptor is not None else np.full(DESCRIPTOR_DIM, np.nan) for c in clips
            ]
            return {
                "clip_clusters": torch.tensor([c.cluster for c in clips], dtype=torch.int64),
                "clip_clean": torch.tensor([c.clean for c in clips], dtype=torch.bool),
                "clip_times": torch.tensor([[c.t0, c.t1] for c in clips], dtype=torch.float64).reshape(-1, 2),
                "clip_spectrograms": torch.stack([c.spectrogram for c in clips]) if clips else torch.zeros(0),
                "clip_descriptors": torch.from_numpy(
                    np.stack(descriptors) if clips else np.zeros((0, DESCRIPTOR_DIM), np.float32)
                ),
                "pose_times": torch.tensor(list(self.pose_times), dtype=torch.float64),
                "poses": torch.from_numpy(np.stack(self.poses)) if self.poses else torch.zeros(0, 4, 4),
                "image_times": torch.tensor([t for t, _ in self.images], dtype=torch.float64),
                "images": torch.from_numpy(np.stack([im for _, im in self.images]))
                if self.images
                else torch.zeros(0),
                "dropped": dict(self.dropped),
            }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (the config must be the same)."""
        with self.lock:
            self.clips.clear()
            times, specs = state["clip_times"], state["clip_spectrograms"]
            descs = state["clip_descriptors"].numpy()
            for k in range(len(times)):
                d = descs[k]
                clip = AudioClip(
                    float(times[k, 0]), float(times[k, 1]), specs[k], d if np.isfinite(d).all() else None
                )
                clip.cluster = int(state["clip_clusters"][k])
                clip.clean = bool(state["clip_clean"][k]) if "clip_clean" in state else True
                self.clips.append(clip)
            self.pose_times.clear()
            self.poses.clear()
            self.pose_times.extend(state["pose_times"].tolist())
            self.poses.extend(p for p in state["poses"].numpy())
            self.images.clear()
            self.images.extend(zip(state["image_times"].tolist(), list(state["images"].numpy())))
            self.dropped = dict(state["dropped"])
