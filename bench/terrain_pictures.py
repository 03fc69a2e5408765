"""Pictures of bench/terrain.py: the BorealTC confusion matrix and the rover segmentation panels."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _common import RESULTS_DIR  # noqa: E402

from robossl.pipelines.terrain.projection import IGNORE_INDEX  # noqa: E402


def _colour(labels: np.ndarray) -> np.ndarray:
    palette = np.array(
        [[80, 200, 60], [170, 170, 170], [220, 90, 60], [240, 210, 120], [60, 60, 200]], np.uint8
    )
    out = np.full((*labels.shape, 3), 0, np.uint8)
    known = labels != IGNORE_INDEX
    out[known] = palette[labels[known] % len(palette)]
    return out


def save_pictures(boreal: dict | None, rover: dict | None) -> list[str]:
    written = []
    if boreal is not None:
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
        cm = boreal["confusion"]
        ax.imshow(cm / cm.sum(1, keepdims=True), cmap="Blues", vmin=0, vmax=1)
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8)
        ax.set_yticks(range(len(boreal["class_names"])), boreal["class_names"])
        ax.set_xticks(range(cm.shape[1]), [f"c{j}" for j in range(cm.shape[1])])
        ax.set_xlabel("cluster (Hungarian-ordered)")
        ax.set_title("BorealTC held-out runs: terrain vs SSL cluster")
        fig.tight_layout()
        path = RESULTS_DIR / "terrain_borealtc_confusion.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(str(path))
    if rover is not None:
        overlay = rover["track_image"].copy()
        painted = rover["track_labels"] != IGNORE_INDEX
        overlay[painted] = (0.4 * overlay[painted] + 0.6 * _colour(rover["track_labels"])[painted]).astype(
            np.uint8
        )
        panels = [
            (overlay, "image + projected track labels"),
            (rover["test_image"], "held-out image"),
            (_colour(rover["test_truth"]), "ground truth"),
            (_colour(rover["test_ssl"]), "self-supervised"),
            (_colour(rover["test_supervised"]), "supervised"),
        ]
        fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 2.8))
        for ax, (image, title) in zip(axes, panels):
            ax.imshow(image)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        fig.tight_layout()
        path = RESULTS_DIR / "terrain_rover_segmentation.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(str(path))
    return written
