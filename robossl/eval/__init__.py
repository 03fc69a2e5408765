"""Probes and baselines for evaluating frozen representations."""

from robossl.eval.probes import ProbeResult, knn_probe, linear_probe
from robossl.eval.supervised import SupervisedConfig, train_supervised

__all__ = ["ProbeResult", "SupervisedConfig", "knn_probe", "linear_probe", "train_supervised"]
