"""RealWorld HAR, Opportunity and PAMAP2 loaders on small files written in each dataset's real format."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from robossl.data.datasets.opportunity import opportunity_class_names
from robossl.data.datasets.pamap2 import pamap2_class_names
from robossl.data.datasets.realworld import REALWORLD_ACTIVITIES, read_realworld_csv
from robossl.data.har import (
    fill_short_gaps,
    load_opportunity,
    load_opportunity_file,
    load_pamap2,
    load_pamap2_file,
    load_realworld_subject,
)

# ----------------------------------------------------------------------------- PAMAP2


def _pamap2_rows(count: int, activity: int, start: float = 5.0) -> np.ndarray:
    rows = np.full((count, 54), np.nan)
    rows[:, 0] = start + np.arange(count) * 0.01
    rows[:, 1] = activity
    for imu, temp_col in enumerate((3, 20, 37)):
        rows[:, temp_col] = 30.0
        rows[:, temp_col + 1 : temp_col + 4] = (
            100 * imu + np.arange(count)[:, None] + np.array([0.1, 0.2, 0.3])
        )
        rows[:, temp_col + 4 : temp_col + 7] = -1.0  # +-6 g accelerometer: must not be picked
        rows[:, temp_col + 7 : temp_col + 10] = 10 * imu + np.array([1.0, 2.0, 3.0])
        rows[:, temp_col + 10 : temp_col + 17] = 7.0
    return rows


def _write_pamap2(path: Path, rows: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, rows, fmt="%.6f")  # real files write 'NaN'; numpy writes 'nan', both parse


def test_pamap2_picks_acc16_and_gyro_per_imu_and_maps_activity_ids(tmp_path: Path) -> None:
    rows = np.concatenate([_pamap2_rows(50, 0), _pamap2_rows(30, 24, start=5.5)])
    _write_pamap2(tmp_path / "Protocol" / "subject101.dat", rows)
    rec = load_pamap2_file(tmp_path / "Protocol" / "subject101.dat")
    assert rec.device_names == ("hand", "chest", "ankle") and rec.subject == "subject101"
    np.testing.assert_allclose(rec.devices["chest"][3], [103.1, 103.2, 103.3, 11.0, 12.0, 13.0], rtol=1e-6)
    assert rec.class_names[rec.labels[0]] == "null" and rec.class_names[rec.labels[-1]] == "rope_jumping"
    assert rec.labels[-1] == len(pamap2_class_names()) - 1
    assert rec.timestamps_s is not None and rec.timestamps_s[0] == 0.0
    assert len(load_pamap2(tmp_path)) == 1


def test_pamap2_bridges_short_packet_loss_and_keeps_long_holes(tmp_path: Path) -> None:
    rows = _pamap2_rows(100, 4)
    rows[10:13, 4:7] = np.nan  # 3 samples of hand acc lost: bridged
    rows[40:70, 38:41] = np.nan  # 0.3 s of ankle acc lost: kept as NaN
    _write_pamap2(tmp_path / "subject102.dat", rows)
    rec = load_pamap2_file(tmp_path / "subject102.dat", max_gap_s=0.1)
    np.testing.assert_allclose(rec.devices["hand"][10:13, 0], [10.1, 11.1, 12.1], rtol=1e-5)
    assert np.isnan(rec.devices["ankle"][40:70, :3]).all() and np.isfinite(rec.devices["ankle"][:40]).all()


def test_pamap2_bad_files(tmp_path: Path) -> None:
    _write_pamap2(tmp_path / "a.dat", _pamap2_rows(5, 8))
    with pytest.raises(ValueError, match="unknown activity ids \\[8\\]"):
        load_pamap2_file(tmp_path / "a.dat")
    _write_pamap2(tmp_path / "b.dat", _pamap2_rows(5, 1)[:, :50])
    with pytest.raises(ValueError, match="54 columns"):
        load_pamap2_file(tmp_path / "b.dat")
    with pytest.raises(ValueError, match="unknown PAMAP2 devices"):
        load_pamap2_file(tmp_path / "a.dat", devices=("wrist",))
    with pytest.raises(FileNotFoundError, match="archive.ics.uci.edu"):
        load_pamap2(tmp_path / "missing")


# ----------------------------------------------------------------------------- Opportunity


def _opportunity_rows(count: int, locomotion: int, gesture: int) -> np.ndarray:
    rows = np.zeros((count, 250))
    rows[:, 0] = np.arange(count) * 33 + 1000  # milliseconds
    rows[:, 1:243] = 5.0
    for k, first in enumerate((38, 51, 64, 77, 90)):
        rows[:, first - 1 : first + 5] = 1000 * (k + 1) + np.arange(6)
    rows[:, 243] = locomotion
    rows[:, 249] = gesture
    return rows


def test_opportunity_reads_five_imus_and_both_label_tracks(tmp_path: Path) -> None:
    rows = np.concatenate([_opportunity_rows(20, 0, 0), _opportunity_rows(10, 5, 407521)])
    rows[:, 0] = np.arange(30) * 33 + 1000
    np.savetxt(tmp_path / "S3-ADL2.dat", rows, fmt="%g")
    rec = load_opportunity_file(tmp_path / "S3-ADL2.dat")
    assert rec.subject == "S3" and rec.device_names == ("back", "rua", "rla", "lua", "lla")
    np.testing.assert_array_equal(rec.devices["rla"][0], [3000, 3001, 3002, 3003, 3004, 3005])
    assert rec.class_names[rec.labels[-1]] == "lie"
    gestures = load_opportunity_file(tmp_path / "S3-ADL2.dat", label="ml_both_arms")
    assert gestures.class_names[gestures.labels[-1]] == "drink_from_cup"
    assert len(opportunity_class_names("ml_both_arms")) == 18
    assert rec.timestamps_s is not None and rec.timestamps_s[1] == pytest.approx(0.033)
    assert [r.name for r in load_opportunity(tmp_path)] == ["opportunity/S3-ADL2"]


def test_opportunity_bad_files(tmp_path: Path) -> None:
    np.savetxt(tmp_path / "S1-Drill.dat", _opportunity_rows(5, 3, 0), fmt="%g")
    with pytest.raises(ValueError, match="unknown locomotion label codes \\[3\\]"):
        load_opportunity_file(tmp_path / "S1-Drill.dat")
    with pytest.raises(ValueError, match="label must be one of"):
        load_opportunity_file(tmp_path / "S1-Drill.dat", label="hl_activity")
    np.savetxt(tmp_path / "S2-Drill.dat", _opportunity_rows(5, 1, 0)[:, :249], fmt="%g")
    with pytest.raises(ValueError, match="250 columns"):
        load_opportunity_file(tmp_path / "S2-Drill.dat")


# ----------------------------------------------------------------------------- RealWorld


def _csv(start_ms: float, count: int, rate: float, value: float) -> str:
    lines = ["id,attr_time,attr_x,attr_y,attr_z"]
    for i in range(count):
        t = start_ms + i * 1000 / rate
        lines.append(f"{i + 1},{t:.0f},{value + i * 0.01:.4f},{value:.4f},{-value:.4f}")
    return "\n".join(lines) + "\n"


def _write_realworld(
    root: Path, activity: str, positions: tuple[str, ...], sessions=("",), nested: bool = False
) -> None:
    folder = root / "proband3" / "data"
    folder.mkdir(parents=True, exist_ok=True)
    for sensor, prefix, value in (("acc", "acc", 9.0), ("gyr", "Gyroscope", 0.5)):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for session in sessions:
                for k, position in enumerate(positions):
                    text = _csv(1.4e12 + 7 * k, 150 + 10 * k, 50.0, value + k)
                    archive.writestr(f"{prefix}_{activity}{session}_{position}.csv", text)
        data = buffer.getvalue()
        if nested:
            outer = io.BytesIO()
            with zipfile.ZipFile(outer, "w") as archive:
                archive.writestr(f"{sensor}_{activity}_csv.zip", data)
            data = outer.getvalue()
        (folder / f"{sensor}_{activity}_csv.zip").write_bytes(data)


def test_realworld_synchronises_positions_and_sensors_per_session(tmp_path: Path) -> None:
    positions = ("chest", "forearm", "waist")
    _write_realworld(tmp_path, "walking", positions)
    _write_realworld(tmp_path, "climbingup", positions, sessions=("", "_2"), nested=True)
    rec = load_realworld_subject(tmp_path, 3, positions=positions, activities=("climbingup", "walking"))
    assert rec.device_names == positions and rec.devices["forearm"].shape[1] == 6
    assert rec.sample_rate_hz == 50.0 and rec.subject == "proband3"
    separators = np.flatnonzero(np.isnan(rec.devices["chest"][:, 0]))
    assert len(separators) == 3  # one NaN row after each of the three sessions
    assert set(rec.labels) == {
        REALWORLD_ACTIVITIES.index("climbingup"),
        REALWORLD_ACTIVITIES.index("walking"),
    }
    valid = np.isfinite(rec.devices["forearm"][:, 0])
    np.testing.assert_allclose(rec.devices["forearm"][valid, 1], 10.0, atol=1e-5)  # acc y of position k=1
    np.testing.assert_allclose(rec.devices["waist"][valid, 4], 2.5, atol=1e-5)  # gyro y of position k=2
    # common span: the shortest stream (150 samples at 50 Hz) minus the 14 ms start offset -> 149 grid rows
    assert separators[0] == 149


def test_realworld_missing_position_and_bad_csv(tmp_path: Path) -> None:
    _write_realworld(tmp_path, "walking", ("chest",))
    with pytest.raises(ValueError, match="no acc data for position 'head'"):
        load_realworld_subject(tmp_path, 3, positions=("chest", "head"), activities=("walking",))
    with pytest.raises(FileNotFoundError, match="uni-mannheim"):
        load_realworld_subject(tmp_path, 4)
    with pytest.raises(ValueError, match="unknown RealWorld positions"):
        load_realworld_subject(tmp_path, 3, positions=("wrist",))
    with pytest.raises(ValueError, match="expected header"):
        read_realworld_csv("time,x,y,z\n1,2,3,4\n")


def test_fill_short_gaps_leaves_long_and_edge_gaps() -> None:
    x = np.arange(12, dtype=np.float32)[:, None]
    x[[0, 3, 4]] = np.nan
    x[7:11] = np.nan
    out = fill_short_gaps(x, max_gap=2)
    assert np.isnan(out[0, 0]) and np.isnan(out[7:11, 0]).all()
    np.testing.assert_allclose(out[3:5, 0], [3.0, 4.0])
