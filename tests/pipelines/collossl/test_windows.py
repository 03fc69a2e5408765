"""Aligned multi-device windowing and normalisation fitted on training data only."""

from __future__ import annotations

import numpy as np
import pytest

from robossl.data.recording import MultiDeviceRecording
from robossl.pipelines.collossl.windows import (
    DeviceNormalizer,
    WindowConfig,
    concatenate_windows,
    window_recording,
)
from tests.pipelines.collossl.synthetic import make_recording


def _ramp_recording(count: int = 100) -> MultiDeviceRecording:
    ramp = np.arange(count, dtype=np.float32)[:, None]
    labels = np.zeros(count, dtype=np.int64)
    labels[40:] = 2
    return MultiDeviceRecording(
        name="ramp",
        subject="s1",
        devices={"a": np.hstack([ramp, -ramp]), "b": ramp * 10},
        labels=labels,
        sample_rate_hz=10.0,
        class_names=("null", "x", "y"),
    )


def test_windows_are_time_aligned_across_devices_with_seconds_based_length_and_step() -> None:
    windows = window_recording(_ramp_recording(), WindowConfig(length_s=2.0, overlap_s=1.5))
    assert windows.windows["a"].shape == (17, 20, 2)  # (100 - 20) / 5 + 1 windows of 20 samples
    np.testing.assert_array_equal(windows.windows["a"][:, :, 0] * 10, windows.windows["b"][:, :, 0])
    np.testing.assert_allclose(windows.start_s[:3], [0.0, 0.5, 1.0])
    assert windows.windows["a"][3, 0, 0] == 15.0


def test_window_label_is_the_majority_label() -> None:
    windows = window_recording(_ramp_recording(), WindowConfig(length_s=2.0, overlap_s=1.5))
    # window 5 covers rows 25..44 (15 rows of class 0, 5 of class 2); window 6 covers 30..49 (10/10 tie -> 0)
    assert windows.labels[5] == 0 and windows.labels[7] == 2
    assert list(windows.labels[-3:]) == [2, 2, 2]


def test_windows_with_nan_samples_are_dropped_and_null_windows_optionally() -> None:
    rec = _ramp_recording()
    rec.devices["b"][52] = np.nan
    windows = window_recording(rec, WindowConfig(length_s=1.0, overlap_s=0.0))
    assert len(windows) == 9 and 50.0 not in windows.windows["a"][:, 0, 0]
    non_null = window_recording(_ramp_recording(), WindowConfig(length_s=1.0, overlap_s=0.0, drop_null=True))
    assert set(non_null.labels) == {2} and len(non_null) == 6


def test_bad_window_settings_and_short_recordings_raise() -> None:
    with pytest.raises(ValueError, match="overlap_s"):
        WindowConfig(length_s=1.0, overlap_s=1.0)
    with pytest.raises(ValueError, match="fewer than one"):
        window_recording(_ramp_recording(5), WindowConfig(length_s=1.0))


def test_recording_rejects_devices_of_unequal_length() -> None:
    with pytest.raises(ValueError, match="resample all devices"):
        MultiDeviceRecording(
            "r", "s", {"a": np.zeros((10, 3)), "b": np.zeros((9, 3))}, np.zeros(10, int), 32.0, ("n",)
        )


def test_normaliser_uses_training_statistics_only() -> None:
    train = window_recording(make_recording("s1", seed=1), WindowConfig())
    test = window_recording(make_recording("s2", seed=2), WindowConfig())
    shifted = test.subset(np.arange(len(test)))
    shifted.windows["ankle"][...] += 100.0
    normalizer = DeviceNormalizer().fit(train)
    normed_train = normalizer.transform(train)
    for w in normed_train.windows.values():
        np.testing.assert_allclose(w.reshape(-1, w.shape[-1]).mean(0), 0, atol=1e-4)
        np.testing.assert_allclose(w.reshape(-1, w.shape[-1]).std(0), 1, atol=1e-3)
    normed_test = normalizer.transform(shifted)
    assert normed_test.windows["ankle"].mean() > 10  # the test shift is not normalised away
    restored = DeviceNormalizer()
    restored.load_state_dict(normalizer.state_dict())
    np.testing.assert_array_equal(
        restored.transform(test).windows["wrist"], normalizer.transform(test).windows["wrist"]
    )


def test_normaliser_errors() -> None:
    windows = window_recording(make_recording("s1"), WindowConfig())
    with pytest.raises(ValueError, match="before fit"):
        DeviceNormalizer().transform(windows)
    with pytest.raises(ValueError, match="no statistics for device"):
        DeviceNormalizer().fit(windows).transform_device("hip", np.zeros((2, 4)))


def test_concatenate_keeps_subjects_and_stacks_devices() -> None:
    parts = [window_recording(make_recording(s, seed=i), WindowConfig()) for i, s in enumerate(["s1", "s2"])]
    joined = concatenate_windows(parts)
    assert len(joined) == len(parts[0]) + len(parts[1])
    assert set(joined.subjects) == {"s1", "s2"}
    assert joined.stacked().shape == (3, len(joined), 32, 4)
