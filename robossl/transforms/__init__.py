"""View generators / augmentations per modality, and signal front ends.

- ``image.py``, ``imu.py``, ``spectrogram.py``, ``features.py``: view generators; each takes a batch and a
  ``torch.Generator``;
- ``imu_multitask.py``: the multi-task transformation set and SimCLR views of the ColloSSL baselines;
- ``stft.py``: the spectrogram front end (signal -> log-(mel) STFT).
"""

from robossl.transforms.features import FeatureViewConfig, FeatureViews, sample_feature_subsets
from robossl.transforms.image import ImageViewConfig, ImageViews
from robossl.transforms.imu import ImuViewConfig, ImuViews
from robossl.transforms.spectrogram import (
    SpecAugmentConfig,
    SpectrogramViews,
    TeraAlterationConfig,
    spec_augment,
    tera_alter,
)

__all__ = [
    "FeatureViewConfig",
    "FeatureViews",
    "ImageViewConfig",
    "ImageViews",
    "ImuViewConfig",
    "ImuViews",
    "SpecAugmentConfig",
    "SpectrogramViews",
    "TeraAlterationConfig",
    "sample_feature_subsets",
    "spec_augment",
    "tera_alter",
]
