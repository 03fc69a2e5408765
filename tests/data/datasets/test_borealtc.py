"""BorealTC reader and windowing: on small hand-written CSV folders, and on the real data when present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robossl.data.datasets.borealtc import (
    BOREALTC_CLASSES,
    WindowConfig,
    list_runs,
    load_borealtc,
    load_run,
    make_windows,
    split_by_run,
)


def _write_run(folder: Path, run: str, seconds: float, speed: float, offset: float = 0.0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(0, seconds, 0.01)
    imu = np.column_stack([t] + [np.full_like(t, offset + c) for c in range(6)])
    np.savetxt(folder / f"imu_{run}.csv", imu, delimiter=",", header="time,wx,wy,wz,ax,ay,az", comments="")
    tp = np.arange(0, seconds, 1 / 6.5)
    pro = np.column_stack([tp, np.ones_like(tp), 2 * np.ones_like(tp), tp * speed, np.full_like(tp, speed)])
    np.savetxt(folder / f"pro_{run}.csv", pro, delimiter=",", header="time,curL,curR,velL,velR", comments="")


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    _write_run(tmp_path / "GRASS", "00", 3.0, 0.5, offset=0.0)
    _write_run(tmp_path / "GRASS", "01", 2.0, 0.5, offset=0.0)
    _write_run(tmp_path / "ROCK", "00", 2.5, 0.0, offset=10.0)
    _write_run(tmp_path / "ROCK", "02", 2.0, 0.5, offset=10.0)
    # A run with only wheel odometry must be ignored, as BorealTC's runs without an IMU file are.
    np.savetxt(
        tmp_path / "ROCK" / "pro_01.csv", np.zeros((3, 5)), delimiter=",", header="time,curL,curR,velL,velR"
    )
    return tmp_path


def test_lists_only_runs_with_both_files(tiny_root: Path) -> None:
    assert list_runs(tiny_root) == {"GRASS": ["00", "01"], "ROCK": ["00", "02"]}


def test_window_count_labels_and_run_ids(tiny_root: Path) -> None:
    runs = load_borealtc(tiny_root, classes=("GRASS", "ROCK"))
    w = make_windows(runs, WindowConfig(window_s=1.0, hop_s=0.5))
    # 300, 200, 250, 200 samples -> 1 + (n - 100) // 50 windows each: 5, 3, 4, 3
    assert len(w) == 15
    assert w.imu.shape == (15, 100, 6) and w.pro.shape == (15, 100, 4)
    assert w.labels.tolist() == [0] * 8 + [1] * 7
    assert w.run_ids.tolist() == [0] * 5 + [1] * 3 + [2] * 4 + [3] * 3
    assert w.run_names == ("GRASS/00", "GRASS/01", "ROCK/00", "ROCK/02")
    np.testing.assert_allclose(w.start_times[:5], [0.0, 0.5, 1.0, 1.5, 2.0], atol=1e-9)
    # IMU values carry the per-class offset; channel c holds offset + c.
    np.testing.assert_allclose(w.imu[-1, 0], 10 + np.arange(6))


def test_wheel_odometry_is_interpolated_onto_imu_clock(tiny_root: Path) -> None:
    run = load_run(tiny_root, "GRASS", "00")
    w = make_windows([run], WindowConfig(window_s=1.0, hop_s=1.0))
    # velL was written as 0.5 * t, so linear interpolation reproduces it at IMU times (inside the pro span).
    t = run.imu_time[100:200]
    inside = t <= run.pro_time[-1]
    np.testing.assert_allclose(w.pro[1, inside, 2], 0.5 * t[inside], rtol=1e-5, atol=1e-6)


def test_slow_and_nan_windows_are_dropped_and_counted(tiny_root: Path) -> None:
    runs = load_borealtc(tiny_root, classes=("GRASS", "ROCK"))
    runs[3].imu[120, 2] = np.nan  # ROCK/02: windows starting 0.5 and 1.0 s contain sample 120
    w = make_windows(runs, WindowConfig(window_s=1.0, hop_s=0.5, min_speed=0.1))
    assert w.dropped == {"nan": 2, "slow": 4}  # ROCK/00 stands still: all 4 of its windows
    assert np.isfinite(w.imu).all()
    assert len(w) == 15 - 6


def test_split_by_run_holds_out_whole_runs(tiny_root: Path) -> None:
    w = make_windows(load_borealtc(tiny_root, classes=("GRASS", "ROCK")), WindowConfig())
    train, test = split_by_run(w, test_fraction=0.5, seed=3)
    assert not np.any(train & test) and np.all(train | test)
    assert set(w.run_ids[train]).isdisjoint(set(w.run_ids[test]))
    for label in (0, 1):
        assert np.any(test & (w.labels == label)) and np.any(train & (w.labels == label))


def test_bad_inputs_say_what_to_do(tiny_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="classes with data"):
        load_borealtc(tiny_root, classes=("ICE",))
    with pytest.raises(ValueError, match="window_s"):
        WindowConfig(window_s=0)
    bad = tiny_root / "GRASS" / "imu_01.csv"
    bad.write_text("time,wx,wy\n0,1,2\n")
    with pytest.raises(ValueError, match="header"):
        load_run(tiny_root, "GRASS", "01")
    bad.write_text("time,wx,wy,wz,ax,ay,az\n0,1,2,3,4,5,6\n0.01,1,2,x,4,5,6\n")
    with pytest.raises(ValueError, match="corrupt"):
        load_run(tiny_root, "GRASS", "01")
    with pytest.raises(FileNotFoundError, match="list_runs"):
        load_run(tiny_root, "ROCK", "01")


@pytest.mark.data
def test_real_borealtc_windows(real_data) -> None:
    root = real_data("terrain/borealtc")
    runs = load_borealtc(root)
    assert {r.terrain for r in runs} == set(BOREALTC_CLASSES)
    assert len(runs) == 7 + 8 + 12 + 14 + 27
    w = make_windows(runs, WindowConfig(window_s=1.0, hop_s=1.0))
    # The README's usable IMU time is 570 + 1103 + 857 + 663 + 1475 = 4668 s, minus partial windows.
    assert 4500 < len(w) <= 4668
    assert np.isfinite(w.imu).all()
    # Gravity is on the z accelerometer: mean az near 9.8 m/s^2.
    assert 9.0 < float(w.imu[..., 5].mean()) < 10.5
    assert np.bincount(w.labels).min() > 400
