"""CSV / Parquet IMU logs with a column mapping: values land in the right channels, named errors otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robossl.cli.main import main
from robossl.data.imu_table import ImuColumns, TableFormatError, read_imu_table
from robossl.data.pretrain_sources import load_source
from robossl.errors import DataSourceError

ROWS = 200


def signal() -> np.ndarray:
    """(ROWS, 7): time, accel xyz (10 + i, 20 + i, 30 + i), gyro xyz (-1 - i, -2 - i, -3 - i) at 100 Hz."""
    i = np.arange(ROWS, dtype=np.float64)
    return np.column_stack([i * 0.01, 10 + i, 20 + i, 30 + i, -1 - i, -2 - i, -3 - i])


def write_csv(path: Path, header: list[str] | None, columns: np.ndarray) -> Path:
    lines = [",".join(header)] if header else []
    lines += [",".join(f"{v:g}" for v in row) for row in columns]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_csv_with_other_column_names_and_order_maps_to_gyro_then_accel(tmp_path: Path) -> None:
    data = signal()
    # the file: gyro first, an extra column, time last
    header = ["gyr_x", "gyr_y", "gyr_z", "temperature", "acc_x", "acc_y", "acc_z", "time"]
    table = np.column_stack([data[:, 4:7], np.full(ROWS, 21.5), data[:, 1:4], data[:, 0]])
    path = write_csv(tmp_path / "walk.csv", header, table)
    imu = read_imu_table(path, ImuColumns.parse("time,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z"))
    np.testing.assert_allclose(imu.stamps_s, data[:, 0])
    np.testing.assert_array_equal(imu.accel, data[:, 1:4].astype(np.float32))
    np.testing.assert_array_equal(imu.gyro, data[:, 4:7].astype(np.float32))
    windows = load_source(path, columns="time,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z")
    assert windows.windows.shape == (5, 64, 6)  # 200 rows, 64-sample windows, hop 32
    np.testing.assert_array_equal(windows.windows[1, 0], [-33, -34, -35, 42, 52, 62])  # row 32
    assert windows.spec.modality == "imu" and windows.spec.channel_names[0] == "gyro_x"


def test_a_headerless_csv_by_column_number_and_a_parquet_file_read_the_same(tmp_path: Path) -> None:
    data = signal()
    by_number = read_imu_table(write_csv(tmp_path / "raw.csv", None, data), ImuColumns.parse("0,1,2,3,4,5,6"))
    parquet = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    names = ["t", "ax", "ay", "az", "gx", "gy", "gz"]
    parquet.write_table(pa.table({n: data[:, i] for i, n in enumerate(names)}), tmp_path / "log.parquet")
    from_parquet = read_imu_table(tmp_path / "log.parquet", ImuColumns.parse(",".join(names)))
    for imu in (by_number, from_parquet):
        np.testing.assert_array_equal(imu.gyro, data[:, 4:7].astype(np.float32))
        np.testing.assert_array_equal(imu.accel, data[:, 1:4].astype(np.float32))


def test_rows_with_nan_are_dropped_and_counted(tmp_path: Path) -> None:
    data = signal()
    data[5, 2] = np.nan
    imu = read_imu_table(write_csv(tmp_path / "gaps.csv", None, data), ImuColumns.parse("0,1,2,3,4,5,6"))
    assert (imu.dropped, len(imu.stamps_s)) == (1, ROWS - 1)


@pytest.mark.parametrize(
    ("name", "content", "columns", "message"),
    [
        ("a.csv", "t,ax\n0,1\n", "t,ax,ay,az,gx,gy,gz", r"no column\(s\) \['ay', 'az', 'gx', 'gy', 'gz'\]"),
        ("a.csv", "t,ax\n0,1\n", "t,ax,ay", "needs 7 comma-separated column names"),
        ("a.csv", "t,ax\n0,1\n", "t,t,ay,az,gx,gy,gz", "names a column twice"),
        ("a.csv", "1,1,2,3,4,5,6\n0,1,2,3,4,5,6\n", "0,1,2,3,4,5,6", "goes backwards at data row 1"),
        ("a.csv", "0,1,x,3,4,5,6\n", "0,1,2,3,4,5,6", "not a comma-separated table of numbers"),
        ("a.xlsx", "PK", "t,ax,ay,az,gx,gy,gz", "a spreadsheet: save it as CSV"),
        ("a.json", "{}", "t,ax,ay,az,gx,gy,gz", "JSON: write one row per sample to CSV"),
        ("a.parquet", "not parquet", "t,ax,ay,az,gx,gy,gz", "not a readable Parquet table"),
    ],
)
def test_bad_tables_give_named_errors(tmp_path: Path, name, content, columns, message) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(TableFormatError, match=message) as error:
        read_imu_table(path, ImuColumns.parse(columns))
    assert "--columns" in str(error.value) or name in str(error.value)


def test_a_table_without_columns_and_a_short_log_are_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "walk.csv", ["t", "ax", "ay", "az", "gx", "gy", "gz"], signal())
    with pytest.raises(DataSourceError, match="walk.csv is an IMU table: name its columns with --columns"):
        load_source(path)
    short = write_csv(tmp_path / "short.csv", None, signal()[:40])
    with pytest.raises(DataSourceError, match="40 finite IMU rows .* fewer than one window of 64"):
        load_source(short, columns="0,1,2,3,4,5,6")
    (tmp_path / "log.xlsx").write_bytes(b"PK")
    with pytest.raises(DataSourceError, match="a spreadsheet: save it as CSV"):
        load_source(tmp_path / "log.xlsx")


def test_pretrain_runs_on_a_csv_log(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(0)
    data = np.column_stack([np.arange(2000) * 0.01, rng.normal(size=(2000, 6))])
    path = write_csv(tmp_path / "walk.csv", ["t", "ax", "ay", "az", "gx", "gy", "gz"], data)
    argv = ["pretrain", "--method", "simclr", "--data", str(path), "--columns", "t,ax,ay,az,gx,gy,gz"]
    argv += ["--steps", "2", "--batch-size", "8", "--out", str(tmp_path / "run"), "--threads", "1"]
    assert main(argv) == 0
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
    assert main([*argv[:5], "--steps", "2"]) == 2
    assert "walk.csv is an IMU table: name its columns with --columns" in capsys.readouterr().err
