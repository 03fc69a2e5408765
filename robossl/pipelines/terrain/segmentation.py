"""Small edge segmentation network trained on sparse (projected-track) labels, and mIoU.

The network is a three-level encoder-decoder with skip connections (~60k parameters at the default width).
Unlabelled pixels carry :data:`IGNORE_INDEX`; classes are weighted by inverse log frequency,
``w_c = 1 / ln(c + p_c)`` with ``c = 1.02`` (Paszke et al., ENet, 2016), so rare terrains that the robot
crossed only briefly still count (Zurn et al. weight classes by their log frequency).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robossl.pipelines.terrain.projection import IGNORE_INDEX


@dataclass(frozen=True)
class SegmentationConfig:
    """Segmentation network and optimiser settings."""

    num_classes: int = 4  # terrain clusters (or ground-truth classes)
    width: int = 16  # channels of the first encoder level (doubles per level)
    learning_rate: float = 3e-3  # Adam step size
    weight_decay: float = 1e-4  # Adam weight decay
    log_weight_constant: float = 1.02  # c in w = 1 / ln(c + p); ENet's value
    flip_prob: float = 0.5  # probability of a horizontal flip per training batch
    roll_prob: float = 0.75  # probability of a random cyclic shift per training batch
    input_scale: float = 0.5  # images are resized by this factor before the network (0.5: 4x cheaper)


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, padding_mode="replicate", bias=False),
        nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, padding_mode="replicate", bias=False),
        nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )  # fmt: skip


class TerrainSegNet(nn.Module):
    """Encoder-decoder with skips.

    Shapes:
        input ``(B, 3, H, W)`` RGB in [0, 1]; output logits ``(B, num_classes, H, W)``.
    """

    def __init__(self, num_classes: int, width: int = 16) -> None:
        super().__init__()
        if num_classes < 2 or width < 1:
            raise ValueError(f"need num_classes >= 2 and width >= 1, got {num_classes}, {width}")
        self.enc1 = _block(3, width, 2)
        self.enc2 = _block(width, 2 * width, 2)
        self.enc3 = _block(2 * width, 4 * width, 2)
        self.dec2 = _block(6 * width, 2 * width, 1)
        self.dec1 = _block(3 * width, width, 1)
        self.classifier = nn.Conv2d(width, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"TerrainSegNet expects (B, 3, H, W) RGB in [0, 1], got {tuple(x.shape)}")
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(
            torch.cat([F.interpolate(e3, size=e2.shape[-2:], mode="bilinear", align_corners=False), e2], 1)
        )
        d1 = self.dec1(
            torch.cat([F.interpolate(d2, size=e1.shape[-2:], mode="bilinear", align_corners=False), e1], 1)
        )
        return F.interpolate(self.classifier(d1), size=x.shape[-2:], mode="bilinear", align_corners=False)


def log_frequency_weights(
    labels: np.ndarray, num_classes: int, ignore_index: int = IGNORE_INDEX, constant: float = 1.02
) -> np.ndarray:
    """``(num_classes,)`` float32 weights ``1 / ln(constant + p_c)`` from labelled-pixel frequencies ``p_c``.

    Classes never seen get the largest weight, ``1 / ln(constant)``; weights are scaled to mean 1.
    """
    if constant <= 1:
        raise ValueError(f"constant must be > 1 so that ln(constant + p) > 0, got {constant}")
    values = np.asarray(labels).reshape(-1)
    values = values[values != ignore_index]
    counts = np.bincount(values.astype(np.int64), minlength=num_classes)[:num_classes].astype(np.float64)
    freq = counts / max(counts.sum(), 1.0)
    weights = 1.0 / np.log(constant + freq)
    return (weights / weights.mean()).astype(np.float32)


def mean_iou(
    predicted: np.ndarray, target: np.ndarray, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> tuple[float, np.ndarray]:
    """Mean intersection over union over classes present in the target or the prediction.

    Args:
        predicted, target: integer label arrays of one shape; target pixels equal to ``ignore_index`` are
            left out.

    Returns:
        (mIoU, per-class IoU ``(num_classes,)`` with NaN for classes absent from both).
    """
    predicted, target = np.asarray(predicted).reshape(-1), np.asarray(target).reshape(-1)
    if predicted.shape != target.shape:
        raise ValueError(f"predicted and target sizes differ: {predicted.shape} vs {target.shape}")
    keep = target != ignore_index
    p, t = predicted[keep].astype(np.int64), target[keep].astype(np.int64)
    joint = np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes)
    inter = np.diag(joint).astype(np.float64)
    union = joint.sum(0) + joint.sum(1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else 0.0, iou


class SegmentationLearner:
    """Segmentation network + optimiser + class weights; ``step`` / ``predict`` / ``state_dict``.

    Projected tracks always lie in the same image region (below and ahead of the robot), so a network
    trained on them alone learns "where" instead of "what". Each batch is therefore flipped and cyclically
    shifted (image and labels together) at random, which makes every image position look labelled.

    Args:
        config: network and optimiser settings.
        seed: torch seed for the initial weights.
    """

    def __init__(self, config: SegmentationConfig, seed: int = 0) -> None:
        self.config = config
        torch.manual_seed(seed)
        self.model = TerrainSegNet(config.num_classes, config.width)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        self.class_weights = torch.ones(config.num_classes)
        self.steps = 0
        self._rng = np.random.default_rng(seed)

    def set_class_weights(self, labels: np.ndarray) -> np.ndarray:
        """Set inverse-log-frequency weights from all sparse labels available; returns them."""
        w = log_frequency_weights(
            labels, self.config.num_classes, IGNORE_INDEX, self.config.log_weight_constant
        )
        self.class_weights = torch.from_numpy(w)
        return w

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """One optimiser step on ``(B, 3, H, W)`` images in [0, 1] and ``(B, H, W)`` int64 labels."""
        if images.shape[0] != labels.shape[0] or images.shape[-2:] != labels.shape[-2:]:
            raise ValueError(f"images {tuple(images.shape)} and labels {tuple(labels.shape)} do not match")
        images, labels = resize_batch(images, labels, self.config.input_scale)
        if self._rng.random() < self.config.flip_prob:
            images, labels = images.flip(-1), labels.flip(-1)
        if self._rng.random() < self.config.roll_prob:
            shift = (int(self._rng.integers(images.shape[-2])), int(self._rng.integers(images.shape[-1])))
            images, labels = images.roll(shift, dims=(-2, -1)), labels.roll(shift, dims=(-2, -1))
        self.model.train()
        logits = self.model(images)
        if bool((labels != IGNORE_INDEX).any()):
            loss = F.cross_entropy(logits, labels, weight=self.class_weights, ignore_index=IGNORE_INDEX)
        else:
            loss = logits.sum() * 0.0
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.steps += 1
        return {"loss": float(loss.item()), "step": float(self.steps)}

    def predict(self, images: torch.Tensor) -> np.ndarray:
        """``(B, H, W)`` int64 class per pixel for ``(B, 3, H, W)`` images in [0, 1].

        Switches this learner's network to eval mode, so it must not run while another thread trains;
        predict with a published copy there instead (:func:`predict_labels`, as ``TerrainPipeline`` does).
        """
        self.model.eval()
        return predict_labels(self.model, images, self.config.input_scale)

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "class_weights": self.class_weights,
            "steps": self.steps,
            "rng": self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.class_weights = state["class_weights"]
        self.steps = int(state["steps"])
        self._rng.bit_generator.state = state["rng"]


def resize_batch(
    images: torch.Tensor, labels: torch.Tensor | None, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (area) and labels (nearest) resized by ``scale``; labels default to an empty tensor."""
    empty = torch.zeros(0, dtype=torch.long)
    if scale == 1.0:
        return images, labels if labels is not None else empty
    size = (max(8, round(images.shape[-2] * scale)), max(8, round(images.shape[-1] * scale)))
    small = F.interpolate(images, size=size, mode="area")
    if labels is None:
        return small, empty
    return small, F.interpolate(labels[:, None].float(), size=size, mode="nearest")[:, 0].long()


@torch.no_grad()
def predict_labels(model: nn.Module, images: torch.Tensor, input_scale: float) -> np.ndarray:
    """``(B, H, W)`` int64 class per pixel of ``(B, 3, H, W)`` images in [0, 1] with ``model`` as it is
    (in eval mode already: a hot-swapped inference copy, or a learner's network just set to eval)."""
    logits = model(resize_batch(images, None, input_scale)[0])
    logits = F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)
    return logits.argmax(dim=1).numpy()
