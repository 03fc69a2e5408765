"""Acoustic -> visual terrain pipeline (Zurn, Burgard, Valada, T-RO 2021).

Interaction audio / vibration -> spectrograms -> triplet-loss embedding (triplets mined from the appearance
of traversed patches, or from time) -> k-means terrain clusters -> cluster ids painted along the wheel
tracks into earlier camera images -> small segmentation network trained on these sparse labels.
The online entry point is :class:`TerrainPipeline`; see docs/terrain.md.
"""

from robossl.pipelines.terrain.pipeline import TerrainPipeline, TerrainPipelineConfig
from robossl.pipelines.terrain.projection import IGNORE_INDEX, PinholeCamera

__all__ = ["IGNORE_INDEX", "PinholeCamera", "TerrainPipeline", "TerrainPipelineConfig"]
