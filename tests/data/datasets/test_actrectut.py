"""ActRecTut loader: real files when present, plus small MATLAB files written by the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from robossl.data.datasets.actrectut import actrectut_devices, load_actrectut, load_actrectut_task


def _write(root: Path, subject: int, task: str, data: np.ndarray, labels: np.ndarray) -> None:
    folder = root / f"subject{subject}_{task}"
    folder.mkdir(parents=True)
    savemat(folder / "data.mat", {"data": data, "labels": labels.reshape(-1, 1).astype(np.uint8)})


def test_real_gesture_has_three_imus_and_zero_based_labels(real_data) -> None:
    rec = load_actrectut(1, "gesture", root=real_data("har/actrectut"))
    assert rec.device_names == ("right_hand", "right_lower_arm", "right_upper_arm")
    assert all(a.shape == (62480, 5) and a.dtype == np.float32 for a in rec.devices.values())
    assert rec.labels.min() == 0 and rec.labels.max() == 11
    null_fraction = float(np.mean(rec.labels == 0))
    assert 0.3 < null_fraction < 0.45  # README: NULL is ~40 % of rows
    assert rec.sample_rate_hz == 32.0 and rec.subject == "subject1"


def test_real_walk_keeps_first_five_of_six_channels(real_data) -> None:
    root = real_data("har/actrectut")
    rec = load_actrectut(2, "walk", root=root)
    assert len(rec.devices) == 4 and rec.num_samples == 32577
    full = load_actrectut(2, "walk", root=root, channels_per_imu=6)
    for device in rec.device_names:
        assert rec.devices[device].shape[1] == 5
        np.testing.assert_array_equal(rec.devices[device], full.devices[device][:, :5])
    assert set(np.unique(rec.labels)) == set(range(6))


def test_columns_are_split_per_imu_in_order(tmp_path: Path) -> None:
    rows = 10
    data = np.arange(rows * 24, dtype=np.float64).reshape(rows, 24)
    _write(tmp_path, 1, "walk", data, np.ones(rows) * 3)
    rec = load_actrectut(1, "walk", root=tmp_path)
    for i, device in enumerate(actrectut_devices("walk")):
        np.testing.assert_array_equal(rec.devices[device], data[:, 6 * i : 6 * i + 5].astype(np.float32))
    np.testing.assert_array_equal(rec.labels, np.full(rows, 2))


def test_wrong_column_count_is_rejected(tmp_path: Path) -> None:
    _write(tmp_path, 1, "gesture", np.zeros((5, 14)), np.ones(5))
    with pytest.raises(ValueError, match=r"\(N, 15\)"):
        load_actrectut(1, "gesture", root=tmp_path)


def test_out_of_range_labels_are_rejected(tmp_path: Path) -> None:
    _write(tmp_path, 2, "walk", np.zeros((5, 24)), np.array([1, 2, 7, 1, 1]))
    with pytest.raises(ValueError, match="labels must be 1..6"):
        load_actrectut(2, "walk", root=tmp_path)


def test_nan_samples_are_rejected(tmp_path: Path) -> None:
    data = np.zeros((5, 15))
    data[2, 3] = np.nan
    _write(tmp_path, 1, "gesture", data, np.ones(5))
    with pytest.raises(ValueError, match="NaN"):
        load_actrectut(1, "gesture", root=tmp_path)


def test_missing_file_and_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="ActRecTut"):
        load_actrectut(1, "walk", root=tmp_path)
    with pytest.raises(ValueError, match="task"):
        load_actrectut(1, "run", root=tmp_path)
    with pytest.raises(ValueError, match="subject"):
        load_actrectut(3, "walk", root=tmp_path)
    with pytest.raises(ValueError, match="channels_per_imu"):
        load_actrectut(1, "gesture", root=tmp_path, channels_per_imu=6)


def test_task_loader_returns_one_recording_per_subject(tmp_path: Path) -> None:
    for subject in (1, 2):
        _write(tmp_path, subject, "walk", np.full((4, 24), subject, dtype=float), np.ones(4))
    recordings = load_actrectut_task("walk", root=tmp_path)
    assert [r.subject for r in recordings] == ["subject1", "subject2"]
    assert recordings[1].devices["right_hip"][0, 0] == 2.0
