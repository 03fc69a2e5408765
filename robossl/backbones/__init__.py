"""Edge-sized encoders per modality (image, IMU / time series, spectrogram, feature vector).

Every encoder maps a batch to ``(B, out_dim)`` and exposes ``out_dim``.
"""

from robossl.backbones.feature_tokens import FeatureTokenEncoder
from robossl.backbones.frames import FrameTransformer
from robossl.backbones.image import ImageCNN
from robossl.backbones.imu import ImuConvEncoder
from robossl.backbones.mlp import MLPEncoder
from robossl.backbones.spectrogram import SpectrogramEncoder

__all__ = [
    "FeatureTokenEncoder",
    "FrameTransformer",
    "ImageCNN",
    "ImuConvEncoder",
    "MLPEncoder",
    "SpectrogramEncoder",
]
