"""The windows, hand-crafted features and splits of bench/methods_real.py: ActRecTut gesture (both subject
directions, plus a within-subject split in time) and BorealTC (held-out runs), standardised per subject /
globally."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from robossl.data.pretrain_sources import (
    Standardizer,
    WindowSet,
    load_actrectut_windows,
    load_borealtc_windows,
)
from robossl.eval.splits import held_out_split
from robossl.methods import InputSpec

DATASETS = ("actrectut_gesture", "borealtc")  # every dataset the bench knows


@dataclass
class Split:
    name: str
    train: np.ndarray  # (N,) bool: windows whose labels train the probe / baseline
    test: np.ndarray  # (N,) bool: held-out windows scored by macro-F1


@dataclass
class Dataset:
    name: str
    data: WindowSet  # standardised windows, labels, groups
    features: np.ndarray  # (N, 5 C) standardised hand-crafted statistics of the windows
    splits: list[Split]
    headline: tuple[str, ...]  # split names averaged into the dataset's figure


def summary_features(windows: np.ndarray) -> np.ndarray:
    """``(N, T, C)`` -> ``(N, 5 C)``: mean, std, min, max, mean |first difference| per channel."""
    diffs = np.abs(np.diff(windows, axis=1)).mean(1)
    return np.concatenate([windows.mean(1), windows.std(1), windows.min(1), windows.max(1), diffs], axis=1)


def standardise(windows: np.ndarray, spec: InputSpec, groups: np.ndarray | None) -> np.ndarray:
    """Per-channel standardisation, per group (subject) when ``groups`` is given (no labels used)."""
    if groups is None:
        return Standardizer.fit(windows, spec)(windows)
    out = np.empty_like(windows, dtype=np.float32)
    for group in np.unique(groups):
        rows = groups == group
        out[rows] = Standardizer.fit(windows[rows], spec)(windows[rows])
    return out


def within_groups_split(groups: np.ndarray, train_fraction: float = 0.7, gap: int = 2) -> Split:
    """First ``train_fraction`` of each group in time -> train, the rest after a ``gap`` -> test."""
    train = np.zeros(len(groups), dtype=bool)
    test = np.zeros(len(groups), dtype=bool)
    for group in np.unique(groups):
        index = np.flatnonzero(groups == group)
        cut = int(round(train_fraction * len(index)))
        train[index[:cut]] = True
        test[index[cut + gap :]] = True
    return Split("within_subject_time", train, test)


def load_datasets(names: tuple[str, ...] = DATASETS, boreal_window_s: float = 1.0) -> list[Dataset]:
    """The named datasets' windows, features and splits (BorealTC: ``boreal_window_s``, hop half that)."""
    unknown = set(names) - set(DATASETS)
    if unknown:
        raise ValueError(f"unknown datasets {sorted(unknown)}; choose from {DATASETS}")
    gesture = (
        load_actrectut_windows(None, "gesture", length=32, hop=16) if "actrectut_gesture" in names else None
    )
    if "borealtc" not in names:
        return _datasets([("actrectut_gesture", gesture, True)])
    boreal = load_borealtc_windows(None, window_s=boreal_window_s, hop_s=boreal_window_s / 2)
    decimated = np.ascontiguousarray(boreal.windows[:, ::2])  # 100 -> 50 Hz: vibration up to 25 Hz kept
    boreal = WindowSet(
        decimated,
        InputSpec("imu", decimated.shape[1:], boreal.spec.rotation_groups),
        boreal.labels,
        boreal.groups,
        boreal.class_names,
        boreal.group_names,
    )
    chosen = [("actrectut_gesture", gesture, True)] if gesture is not None else []
    return _datasets([*chosen, ("borealtc", boreal, False)])


def _datasets(named: list[tuple[str, Any, bool]]) -> list[Dataset]:
    datasets = []
    for name, data, per_group in named:
        assert data.labels is not None and data.groups is not None
        windows = standardise(data.windows, data.spec, data.groups if per_group else None)
        features = summary_features(windows)
        features = Standardizer.fit(features, InputSpec("features", features.shape[1:]))(features)
        data = WindowSet(windows, data.spec, data.labels, data.groups, data.class_names, data.group_names)
        if per_group:
            first, second = np.unique(data.groups)[:2]
            splits = [
                Split("subject1_to_subject2", data.groups == first, data.groups == second),
                Split("subject2_to_subject1", data.groups == second, data.groups == first),
                within_groups_split(data.groups),
            ]
            headline: tuple[str, ...] = ("subject1_to_subject2", "subject2_to_subject1")
        else:
            train, test = held_out_split(data.labels, data.groups, 0.3, seed=0)
            splits, headline = [Split("held_out_runs", train, test)], ("held_out_runs",)
        datasets.append(Dataset(name, data, features, splits, headline))
    return datasets
