"""Persistent self-supervised stereo -> monocular depth (van Hecke, de Croon et al. 2018).

Public API: :class:`StereoMonoPipeline` (``process(left, right, stamp)``, ``start_learning``,
``stop_learning``, ``save``, ``load``), its :class:`StereoMonoConfig`, and the building blocks
(calibration, SGBM teacher, student, loss, switching policy). See docs/stereo_mono.md.
"""

from robossl.pipelines.stereo_mono.calibration import Rectifier, StereoCalibration
from robossl.pipelines.stereo_mono.config import StereoMonoConfig
from robossl.pipelines.stereo_mono.learner import MonoDepthLearner, MonoDepthLearnerConfig
from robossl.pipelines.stereo_mono.loss import ScaleAwareDepthLoss, scale_aware_log_loss
from robossl.pipelines.stereo_mono.pipeline import StereoMonoOutput, StereoMonoPipeline, absrel
from robossl.pipelines.stereo_mono.student import MonoDepthNet, StudentConfig, count_parameters
from robossl.pipelines.stereo_mono.switching import FlightMode, SwitchingConfig, SwitchingPolicy, Transition
from robossl.pipelines.stereo_mono.teacher import SGBMConfig, StereoResult, StereoTeacher, flight_distance

__all__ = [
    "FlightMode",
    "MonoDepthLearnerConfig",
    "MonoDepthLearner",
    "MonoDepthNet",
    "Rectifier",
    "SGBMConfig",
    "ScaleAwareDepthLoss",
    "StereoCalibration",
    "StereoMonoConfig",
    "StereoMonoOutput",
    "StereoMonoPipeline",
    "StereoResult",
    "StereoTeacher",
    "StudentConfig",
    "SwitchingConfig",
    "SwitchingPolicy",
    "Transition",
    "absrel",
    "count_parameters",
    "flight_distance",
    "scale_aware_log_loss",
]
