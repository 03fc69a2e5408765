"""ColloSSL: collaborative self-supervised learning from several time-synchronised body-worn IMUs.

Jain, Tang, Min, Kawsar, Mathur, "ColloSSL: Collaborative Self-Supervised Learning for Human Activity
Recognition", IMWUT 2022. Pieces:

- :mod:`.windows`: aligned multi-device windows and per-device normalisation (fitted on training data);
- :mod:`robossl.data.sync`: independently time-stamped streams onto one clock;
- :mod:`robossl.losses.device_selection`: multi-kernel MMD device selection (closest / all / random);
- :mod:`robossl.losses.collossl`: the ColloSSL objective and the SimCLR / multi-task SSL baselines, with the
  baselines' IMU transformations in :mod:`robossl.transforms.imu_multitask`;
- :mod:`.pretrain`, :mod:`.evaluation`, :mod:`.protocol`: training, label fractions, LOSO macro-F1;
- :mod:`.online`: :class:`ColloSSLOnlineLearner` for live synchronised device streams;
- :mod:`.pipeline`: :class:`ColloSSLPipeline`, that learner with its background trainer and hot-swapped
  inference (what ``har_node`` drives).
"""

from robossl.losses.device_selection import DeviceSelection, multi_kernel_mmd, select_devices
from robossl.pipelines.collossl.online import ColloSSLOnlineLearner, OnlineLearnerConfig
from robossl.pipelines.collossl.pipeline import ActivityPrediction, ColloSSLPipeline
from robossl.pipelines.collossl.windows import (
    DeviceNormalizer,
    MultiDeviceWindows,
    RecordingWindowConfig,
    WindowConfig,
    concatenate_windows,
    window_recording,
)

__all__ = [
    "ActivityPrediction",
    "ColloSSLOnlineLearner",
    "ColloSSLPipeline",
    "OnlineLearnerConfig",
    "DeviceNormalizer",
    "DeviceSelection",
    "MultiDeviceWindows",
    "RecordingWindowConfig",
    "WindowConfig",
    "concatenate_windows",
    "multi_kernel_mmd",
    "select_devices",
    "window_recording",
]
