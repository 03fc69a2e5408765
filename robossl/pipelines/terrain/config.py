"""Settings of the online terrain pipeline (:class:`~robossl.pipelines.terrain.pipeline.TerrainPipeline`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from robossl.pipelines.terrain.embedding import EmbeddingConfig
from robossl.pipelines.terrain.features import AUDIO_SPECTROGRAM
from robossl.transforms.stft import SpectrogramConfig


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
