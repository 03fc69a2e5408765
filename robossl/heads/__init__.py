"""Projection and prediction heads placed after a backbone."""

from robossl.heads.dino import DINOHead
from robossl.heads.projection import PredictionHead, ProjectionHead
from robossl.heads.tjepa_predictor import TJEPAPredictor

__all__ = ["DINOHead", "PredictionHead", "ProjectionHead", "TJEPAPredictor"]
