"""Interaction-signal embedding network and its triplet-loss learner.

A :class:`~robossl.backbones.spectrogram.SpectrogramEncoder` plus a
:class:`~robossl.heads.projection.ProjectionHead`, on standardised log spectrograms, trained with the triplet
loss (given triplets from visual mining, or batch-hard over groups from temporal mining).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robossl.backbones.spectrogram import SpectrogramEncoder
from robossl.heads.projection import ProjectionHead
from robossl.losses.triplet import BatchHardTripletLoss, TripletLoss


@dataclass(frozen=True)
class EmbeddingConfig:
    """Embedding network and optimiser settings."""

    in_channels: int = 1  # spectrogram channels (1 for mono audio, 10 for BorealTC IMU + odometry)
    widths: tuple[int, ...] = (8, 16, 32)  # encoder convolution widths (edge-sized)
    hidden_dim: int = 128  # projection head hidden width
    embedding_dim: int = 32  # output embedding size (unit length)
    margin: float = 0.2  # triplet margin on unit-length embeddings (FaceNet)
    learning_rate: float = 1e-3  # Adam step size
    weight_decay: float = 1e-4  # Adam weight decay


class TerrainEmbedder(nn.Module):
    """Standardise -> SpectrogramEncoder -> ProjectionHead -> L2 normalise.

    Shapes:
        input ``(B, C, F, T)`` log spectrograms; output ``(B, embedding_dim)`` unit vectors.
    """

    def __init__(self, config: EmbeddingConfig) -> None:
        super().__init__()
        self.encoder = SpectrogramEncoder(config.in_channels, config.widths)
        self.head = ProjectionHead(self.encoder.out_dim, config.hidden_dim, config.embedding_dim)
        # Per channel-and-bin statistics of the training spectrograms; saved with the weights.
        self.register_buffer("mean", torch.zeros(1, config.in_channels, 1, 1))
        self.register_buffer("std", torch.ones(1, config.in_channels, 1, 1))

    def set_normalization(self, spectrograms: torch.Tensor) -> None:
        """Take per (channel, frequency) mean and std from ``(N, C, F, T)`` training spectrograms."""
        self.mean = spectrograms.mean(dim=(0, 3), keepdim=True).detach().clone()
        self.std = spectrograms.std(dim=(0, 3), keepdim=True).detach().clone().clamp_min(1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.head(self.encoder((x - self.mean) / self.std))
        return F.normalize(z, dim=-1)


class TripletEmbeddingLearner:
    """Owns the embedder, its optimiser and step counter; every piece survives ``state_dict`` round trips.

    Args:
        config: network and optimiser settings.
        seed: torch seed for the initial weights.
    """

    def __init__(self, config: EmbeddingConfig, seed: int = 0) -> None:
        self.config = config
        torch.manual_seed(seed)
        self.model = TerrainEmbedder(config)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        self.given_loss = TripletLoss(config.margin, normalize=False)
        self.batch_hard_loss = BatchHardTripletLoss(config.margin, normalize=False)
        self.steps = 0

    def _update(self, loss: torch.Tensor) -> dict[str, float]:
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.steps += 1
        return {"loss": float(loss.item()), "step": float(self.steps)}

    def step_triplets(
        self, anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor
    ) -> dict[str, float]:
        """One optimiser step on given triplets of ``(B, C, F, T)`` spectrograms."""
        self.model.train()
        z = self.model(torch.cat([anchor, positive, negative]))
        a, p, n = z.chunk(3)
        return self._update(self.given_loss(a, p, n))

    def step_groups(self, x: torch.Tensor, groups: torch.Tensor) -> dict[str, float]:
        """One optimiser step of batch-hard triplet loss over ``(B, C, F, T)`` with ``(B,)`` group ids."""
        self.model.train()
        return self._update(self.batch_hard_loss(self.model(x), groups))

    @torch.no_grad()
    def embed(self, x: torch.Tensor, batch_size: int = 512) -> np.ndarray:
        """``(N, embedding_dim)`` float32 embeddings of ``(N, C, F, T)`` spectrograms (eval mode)."""
        self.model.eval()
        parts = [self.model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return (
            torch.cat(parts).numpy().astype(np.float32) if parts else np.zeros((0, self.config.embedding_dim))
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # The normalisation buffers are per frequency bin once set; take their saved shape first.
        self.model.mean = state["model"]["mean"].clone()
        self.model.std = state["model"]["std"].clone()
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.steps = int(state["steps"])
