"""Pretraining data sources: windowing, standardisation, .npz validation, real ActRecTut / BorealTC folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robossl.data.pretrain_sources import Standardizer, load_source, sliding_windows
from robossl.methods import InputSpec


def test_sliding_windows_positions() -> None:
    signal = np.arange(20, dtype=np.float32).reshape(10, 2)
    windows = sliding_windows(signal, 4, 3)
    assert windows.shape == (3, 4, 2)
    assert windows[1, 0, 0] == signal[3, 0] and windows[2, -1, 1] == signal[9, 1]
    with pytest.raises(ValueError, match="shorter"):
        sliding_windows(signal, 11, 1)


def test_standardizer_round_trip_and_images_untouched() -> None:
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(50, 8, 3)) * [1.0, 5.0, 0.1] + [0.0, 3.0, -2.0]).astype(np.float32)
    standardizer = Standardizer.fit(x, InputSpec("imu", (8, 3)))
    z = standardizer(x)
    np.testing.assert_allclose(z.reshape(-1, 3).mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.reshape(-1, 3).std(0), 1, atol=1e-4)
    again = Standardizer.from_dict(standardizer.to_dict())
    np.testing.assert_array_equal(again(x), z)
    images = rng.random(size=(2, 3, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(Standardizer.fit(images, InputSpec("image", (3, 4, 4)))(images), images)


def test_npz_validation(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    np.savez(path, windows=np.zeros((5, 10), np.float32), labels=np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="labels"):
        load_source(path)
    np.savez(path, windows=np.zeros((5, 10), np.float32))
    assert load_source(path).spec == InputSpec("features", (10,))
    with pytest.raises(FileNotFoundError):
        load_source(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="do not know"):
        load_source(tmp_path)


def test_real_actrectut_folder(real_data) -> None:  # type: ignore[no-untyped-def]
    data = load_source(real_data("har/actrectut"), task="gesture")
    assert data.windows.shape[1:] == (32, 15) and data.spec.devices == 3
    assert data.labels is not None and data.groups is not None
    assert set(np.unique(data.groups)) == {0, 1} and data.labels.max() == 11
    assert data.spec.rotation_groups == ((0, 1, 2), (5, 6, 7), (10, 11, 12))
    assert np.isfinite(data.windows).all()


def test_real_borealtc_folder(real_data) -> None:  # type: ignore[no-untyped-def]
    data = load_source(real_data("terrain/borealtc"))
    assert data.windows.shape[1:] == (100, 6) and len(data.class_names) == 5
    assert data.groups is not None and len(np.unique(data.groups)) > 20
