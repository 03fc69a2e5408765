"""Online learner of the monocular student (implements :class:`robossl.online.Learner`).

A replay sample is a dict of arrays at the student's input size (see :func:`make_sample`):
``image`` (h, w) uint8 grey, ``depth`` (h, w) float16 metres (0 where unknown) and ``confidence``
(h, w) float16 in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

from robossl.online.monitors import CollapseMonitor
from robossl.pipelines.stereo_mono.loss import scale_aware_log_loss
from robossl.pipelines.stereo_mono.student import MonoDepthNet, StudentConfig


@dataclass
class MonoDepthLearnerConfig:
    """Optimisation settings of the student."""

    learning_rate: float = 1e-3  # AdamW learning rate
    weight_decay: float = 1e-4  # AdamW weight decay
    scale_weight: float = 1.0  # weight of the global log-scale term of the loss
    gradient_clip: float = 5.0  # max gradient norm
    flip_probability: float = 0.5  # horizontal flip augmentation (image and labels together)
    brightness_jitter: float = 0.2  # +- relative brightness / contrast change
    seed: int = 0  # seed of the augmentation generator


def make_sample(
    image: np.ndarray, depth: np.ndarray, confidence: np.ndarray, size: tuple[int, int]
) -> dict[str, np.ndarray]:
    """Resize a labelled frame to the student input and pack it for the replay buffer.

    Args:
        image: (H, W) uint8 grey rectified left image.
        depth: (H, W) float32 stereo depth, metres, NaN where invalid.
        confidence: (H, W) float32 in [0, 1].
        size: (height, width) of the student input.
    """
    height, width = size
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    label_depth = cv2.resize(np.nan_to_num(depth, nan=0.0), (width, height), interpolation=cv2.INTER_NEAREST)
    label_conf = cv2.resize(confidence, (width, height), interpolation=cv2.INTER_NEAREST)
    label_conf[~(label_depth > 0)] = 0.0
    return {
        "image": small,
        "depth": label_depth.astype(np.float16),
        "confidence": label_conf.astype(np.float16),
    }


def sample_descriptor(sample: dict[str, np.ndarray]) -> np.ndarray:
    """(65,) descriptor for the diversity replay: an 8x8 map of mean inverse depth plus its mean."""
    depth = sample["depth"].astype(np.float32)
    inverse = np.where(depth > 0, 1.0 / np.maximum(depth, 1e-3), 0.0).astype(np.float32)
    grid = cv2.resize(inverse, (8, 8), interpolation=cv2.INTER_AREA).ravel()
    return np.concatenate([grid, [grid.mean()]]).astype(np.float32)


def image_tensor(images: np.ndarray) -> torch.Tensor:
    """(B, h, w) uint8 -> (B, 1, h, w) float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0).unsqueeze(1)


class MonoDepthLearner:
    """Student network + optimizer + augmentation; ``step(batch)`` does one AdamW update."""

    def __init__(
        self, student: StudentConfig | None = None, config: MonoDepthLearnerConfig | None = None
    ) -> None:
        self.student_config = student or StudentConfig()
        self.config = config or MonoDepthLearnerConfig()
        self.model = MonoDepthNet(self.student_config)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=self.config.learning_rate, weight_decay=self.config.weight_decay
        )
        self.steps = 0
        self.collapse = CollapseMonitor()
        self._rng = np.random.default_rng(self.config.seed)

    def _augment(self, images: np.ndarray, depth: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, ...]:
        flip = self._rng.random(len(images)) < self.config.flip_probability
        images, depth, conf = images.copy(), depth.copy(), conf.copy()
        images[flip], depth[flip], conf[flip] = (
            images[flip, :, ::-1],
            depth[flip, :, ::-1],
            conf[flip, :, ::-1],
        )
        jitter = self.config.brightness_jitter
        gain = 1.0 + self._rng.uniform(-jitter, jitter, size=(len(images), 1, 1))
        offset = self._rng.uniform(-jitter, jitter, size=(len(images), 1, 1)) * 64.0
        images = np.clip(images.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)
        return images, depth, conf

    def step(self, batch: list[dict[str, np.ndarray]]) -> dict[str, float]:
        """One update on replay samples (see module docstring). Returns loss, absrel, output_std."""
        if not batch:
            raise ValueError("empty batch: fill the replay buffer before training")
        images = np.stack([s["image"] for s in batch])
        depth = np.stack([s["depth"] for s in batch]).astype(np.float32)
        conf = np.stack([s["confidence"] for s in batch]).astype(np.float32)
        expected = (self.student_config.input_height, self.student_config.input_width)
        if images.shape[1:] != expected:
            raise ValueError(f"replay images are {images.shape[1:]} but the student expects {expected}")
        images, depth, conf = self._augment(images, depth, conf)
        target = torch.from_numpy(depth).unsqueeze(1)
        weight = torch.from_numpy(conf).unsqueeze(1)
        self.model.train()
        pred = self.model(image_tensor(images))
        loss = scale_aware_log_loss(pred, target, weight, self.config.scale_weight)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.gradient_clip)
        self.optimizer.step()
        self.steps += 1
        with torch.no_grad():
            mask = weight > 0.5
            absrel = (
                ((pred - target).abs() / target.clamp_min(1e-3))[mask].mean().item()
                if mask.any()
                else float("nan")
            )
            output_std = torch.log(pred).std().item()
        loss_value = float(loss.item())
        self.collapse.update(loss_value, output_std)
        return {"loss": loss_value, "absrel": absrel, "output_std": output_std}

    def inference_model(self) -> torch.nn.Module:
        return self.model

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "steps": self.steps,
            "collapse": self.collapse.state_dict(),
            "rng": self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.steps = int(state["steps"])
        self.collapse.load_state_dict(state["collapse"])
        self._rng.bit_generator.state = state["rng"]
