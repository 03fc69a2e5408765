"""View generators / augmentations per modality. Each takes a batch and a ``torch.Generator``."""

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
