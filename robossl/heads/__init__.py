"""Projection and prediction heads placed after a backbone."""

from robossl.heads.dino import DINOHead
from robossl.heads.projection import PredictionHead, ProjectionHead

__all__ = ["DINOHead", "PredictionHead", "ProjectionHead"]
