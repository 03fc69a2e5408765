"""IMU logs from other tools as tables: CSV or Parquet files with a column mapping.

Robots without ROS (or loggers that export spreadsheets) write one row per IMU sample. ``--columns``
names the file's columns holding, in this order, time (seconds), accelerometer x y z and gyroscope x y z::

    robossl pretrain --method simclr --data walk.csv --columns t,ax,ay,az,gx,gy,gz
    robossl pretrain --method simclr --data log.parquet --columns time,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z
    robossl pretrain --method simclr --data raw.csv --columns 0,4,5,6,1,2,3     # no header: column numbers

CSV: comma-separated, the first row is the header unless every ``--columns`` entry is a number (0-based
column index; then there is no header). Parquet needs ``pyarrow`` (``pip install pyarrow``; the
``robossl[ray]`` extra brings it). Units are taken as they are (m/s^2 and rad/s for ROS-like logs): the
windows are standardised per channel anyway. Rows with NaN / inf are dropped and counted; time must not go
backwards. Spreadsheets, JSON, HDF5 and other formats are refused with a message that says how to convert.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robossl.errors import DataSourceError

ROLES = ("t", "ax", "ay", "az", "gx", "gy", "gz")  # what each --columns entry is, in order
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
_UNSUPPORTED = {
    ".xlsx": "a spreadsheet: save it as CSV",
    ".xls": "a spreadsheet: save it as CSV",
    ".ods": "a spreadsheet: save it as CSV",
    ".json": "JSON: write one row per sample to CSV",
    ".jsonl": "JSON lines: write one row per sample to CSV",
    ".h5": "HDF5: export the IMU dataset to CSV or Parquet",
    ".hdf5": "HDF5: export the IMU dataset to CSV or Parquet",
    ".tsv": "tab-separated: convert to comma-separated CSV",
    ".txt": "plain text: convert to comma-separated CSV with a header",
    ".feather": "Feather: convert to Parquet",
}


class TableFormatError(DataSourceError):
    """A table file's format or columns cannot be read as an IMU log."""


def unsupported_reason(path: Path) -> str | None:
    """Why ``path``'s format is not read (with what to do), or None for a known table format or a bag."""
    return _UNSUPPORTED.get(path.suffix.lower())


@dataclass(frozen=True)
class ImuColumns:
    """The file's columns for time, accelerometer xyz, gyroscope xyz (names, or 0-based indexes)."""

    names: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> ImuColumns:
        """``"t,ax,ay,az,gx,gy,gz"`` -> ImuColumns; raises TableFormatError naming what is wrong."""
        names = tuple(part.strip() for part in text.split(","))
        if len(names) != len(ROLES) or not all(names):
            raise TableFormatError(
                f"--columns needs {len(ROLES)} comma-separated column names for {','.join(ROLES)} "
                f"(time s, accel xyz, gyro xyz), got {text!r}"
            )
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise TableFormatError(
                f"--columns names a column twice: {repeated}; each role needs its own column"
            )
        return cls(names)

    @property
    def by_index(self) -> bool:
        return all(name.isdigit() for name in self.names)


@dataclass
class ImuTable:
    """IMU samples of a table file."""

    stamps_s: np.ndarray  # (N,) float64 seconds, non-decreasing
    gyro: np.ndarray  # (N, 3) float32, the file's unit (rad/s for ROS-like logs)
    accel: np.ndarray  # (N, 3) float32, the file's unit (m/s^2 for ROS-like logs)
    dropped: int  # rows dropped for NaN / inf values


def _csv_values(path: Path, columns: ImuColumns) -> np.ndarray:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        header = None if columns.by_index else next(csv.reader(handle), None)
    if columns.by_index:
        indexes = [int(n) for n in columns.names]
    else:
        if header is None:
            raise TableFormatError(f"{path}: empty file; expected a header row and one row per IMU sample")
        header = [name.strip() for name in header]
        missing = [n for n in columns.names if n not in header]
        if missing:
            raise TableFormatError(
                f"{path}: no column(s) {missing}; the header has {header}: fix --columns ({','.join(ROLES)})"
            )
        indexes = [header.index(n) for n in columns.names]
    try:
        values = np.loadtxt(
            path,
            delimiter=",",
            skiprows=0 if columns.by_index else 1,
            usecols=indexes,
            ndmin=2,
            encoding="utf-8-sig",
        )
    except (ValueError, IndexError) as exc:
        raise TableFormatError(
            f"{path}: not a comma-separated table of numbers in columns {list(columns.names)} ({exc})"
        ) from exc
    return values.astype(np.float64)


def _parquet_values(path: Path, columns: ImuColumns) -> np.ndarray:
    try:
        import pyarrow.parquet as parquet
    except ImportError as exc:
        raise TableFormatError(
            f"{path}: reading Parquet needs pyarrow: pip install pyarrow (or robossl[ray])"
        ) from exc
    try:
        schema = parquet.read_schema(path)
        names = list(columns.names)
        if columns.by_index:
            beyond = [i for i in names if int(i) >= len(schema.names)]
            if beyond:
                raise TableFormatError(
                    f"{path}: column index(es) {beyond} beyond its {len(schema.names)} columns {schema.names}"
                )
            names = [schema.names[int(i)] for i in names]
        missing = [n for n in names if n not in schema.names]
        if missing:
            raise TableFormatError(
                f"{path}: no column(s) {missing}; the file has {schema.names}: fix --columns"
            )
        table = parquet.read_table(path, columns=names)
        return np.column_stack([table.column(n).to_numpy(zero_copy_only=False) for n in names]).astype(
            np.float64
        )
    except TableFormatError:
        raise
    except Exception as exc:  # pyarrow raises its own ArrowInvalid / OSError family for damaged files
        raise TableFormatError(
            f"{path}: not a readable Parquet table of numbers ({type(exc).__name__}: {exc})"
        ) from exc


def read_imu_table(path: str | Path, columns: ImuColumns) -> ImuTable:
    """Read the IMU samples of a CSV or Parquet file.

    Raises:
        TableFormatError: unsupported format, missing columns, non-numeric values, time going backwards.
    """
    path = Path(path)
    reason = unsupported_reason(path)
    if reason is not None:
        raise TableFormatError(
            f"{path}: {reason}; robossl reads IMU tables from CSV or Parquet with --columns"
        )
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise TableFormatError(
            f"{path}: not a CSV or Parquet file (suffix {suffix or 'none'}); name it .csv or .parquet"
        )
    values = _csv_values(path, columns) if suffix == ".csv" else _parquet_values(path, columns)
    finite = np.isfinite(values).all(axis=1)
    values = values[finite]
    stamps = values[:, 0]
    backwards = np.flatnonzero(np.diff(stamps) < 0)
    if backwards.size:
        row = int(backwards[0]) + 1
        raise TableFormatError(
            f"{path}: time column {columns.names[0]!r} goes backwards at data row {row} "
            f"({stamps[row - 1]} -> {stamps[row]}); sort the file by time"
        )
    return ImuTable(
        stamps_s=stamps,
        gyro=values[:, 4:7].astype(np.float32),
        accel=values[:, 1:4].astype(np.float32),
        dropped=int((~finite).sum()),
    )
