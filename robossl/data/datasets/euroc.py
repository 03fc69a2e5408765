"""Reader for the EuRoC MAV / ASL dataset folder layout (Burri et al., IJRR 2016).

Layout (``root`` is the sequence folder that holds ``mav0/``, or ``mav0/`` itself)::

    mav0/cam0/data.csv        "#timestamp [ns],filename"
    mav0/cam0/data/<ns>.png   8-bit grey images
    mav0/cam0/sensor.yaml     intrinsics [fu, fv, cu, cv], distortion, T_BS (body <- sensor), rate_hz
    mav0/cam1/...             same for the right camera
    mav0/imu0/data.csv        timestamp [ns], gyro x,y,z [rad/s], accel x,y,z [m/s^2]
    mav0/imu0/sensor.yaml     T_BS, rate_hz, noise densities

``sensor.yaml`` files start with OpenCV's ``%YAML:1.0`` directive, which plain YAML parsers reject; the
reader drops directive lines before parsing.

Stereo frames are the stamps present in both cameras' ``data.csv`` whose PNG files exist; listed stamps
without an image are dropped and counted in :attr:`EurocSequence.dropped_stamps` (the shared micro excerpt
lists 99 stamps for cam1 but ships only 95 images).

Example::

    seq = EurocSequence("/data/euroc_v1_01_easy_micro")
    for frame in seq:                       # StereoFrame(stamp_ns, left, right), uint8 (H, W)
        ...
    imu = seq.read_imu()                    # ImuSamples with stamps_ns (N,), gyro (N, 3), accel (N, 3)
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml


@dataclass(frozen=True)
class CameraSensor:
    """One camera's calibration from a EuRoC ``sensor.yaml``."""

    name: str  # folder name, e.g. "cam0"
    resolution: tuple[int, int]  # (width, height) in pixels
    intrinsics: tuple[float, float, float, float]  # (fu, fv, cu, cv) in pixels
    distortion_model: str  # "radial-tangential" (OpenCV plumb_bob k1 k2 p1 p2) or "equidistant"
    distortion: np.ndarray  # (4,) or (5,) distortion coefficients
    T_BS: np.ndarray  # (4, 4) body <- sensor rigid transform, metres
    rate_hz: float  # nominal frame rate, Hz

    def camera_matrix(self) -> np.ndarray:
        """The 3x3 pinhole matrix K (float64)."""
        fu, fv, cu, cv = self.intrinsics
        return np.array([[fu, 0.0, cu], [0.0, fv, cv], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class ImuSensor:
    """IMU description from ``imu0/sensor.yaml``."""

    T_BS: np.ndarray  # (4, 4) body <- sensor transform
    rate_hz: float  # nominal rate, Hz
    noise: dict[str, float] = field(default_factory=dict)  # e.g. gyroscope_noise_density


@dataclass(frozen=True)
class StereoFrame:
    """A synchronised stereo pair."""

    stamp_ns: int  # capture time, nanoseconds
    left: np.ndarray  # (H, W) uint8 image from cam0
    right: np.ndarray  # (H, W) uint8 image from cam1


@dataclass(frozen=True)
class ImuSamples:
    """IMU samples as arrays (rows sorted by time)."""

    stamps_ns: np.ndarray  # (N,) int64 nanoseconds
    gyro: np.ndarray  # (N, 3) angular velocity, rad/s
    accel: np.ndarray  # (N, 3) specific force, m/s^2

    def __len__(self) -> int:
        return int(self.stamps_ns.shape[0])

    def between(self, start_ns: int, end_ns: int) -> ImuSamples:
        """Samples with ``start_ns <= stamp < end_ns``."""
        lo, hi = np.searchsorted(self.stamps_ns, [start_ns, end_ns], side="left")
        return ImuSamples(self.stamps_ns[lo:hi], self.gyro[lo:hi], self.accel[lo:hi])


def read_sensor_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a EuRoC/OpenCV-style ``sensor.yaml`` into a dict (``%YAML:1.0`` directive tolerated)."""
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"sensor file {source} does not exist")
    text = "\n".join(line for line in source.read_text().splitlines() if not line.lstrip().startswith("%"))
    try:
        content = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(content, dict):
        raise ValueError(f"{source} does not hold a YAML mapping")
    return content


def _matrix(entry: Any, where: str) -> np.ndarray:
    try:
        rows, cols, data = int(entry["rows"]), int(entry["cols"]), entry["data"]
        matrix = np.asarray(data, dtype=np.float64).reshape(rows, cols)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: expected a matrix with rows, cols and data ({exc})") from exc
    return matrix


def read_camera_sensor(path: str | os.PathLike[str]) -> CameraSensor:
    """Read one camera's ``sensor.yaml``.

    Raises:
        ValueError: when a required key is missing or malformed (the message names the key).
    """
    source = Path(path)
    content = read_sensor_yaml(source)
    for key in ("intrinsics", "resolution", "T_BS"):
        if key not in content:
            raise ValueError(f"{source}: missing key {key!r} (expected a EuRoC camera sensor.yaml)")
    intrinsics = [float(v) for v in content["intrinsics"]]
    if len(intrinsics) != 4:
        raise ValueError(f"{source}: intrinsics must be [fu, fv, cu, cv], got {content['intrinsics']}")
    resolution = [int(v) for v in content["resolution"]]
    if len(resolution) != 2:
        raise ValueError(f"{source}: resolution must be [width, height], got {content['resolution']}")
    distortion = np.asarray(content.get("distortion_coefficients", [0, 0, 0, 0]), dtype=np.float64)
    T_BS = _matrix(content["T_BS"], f"{source}: T_BS")
    if T_BS.shape != (4, 4):
        raise ValueError(f"{source}: T_BS must be 4x4, got {T_BS.shape}")
    return CameraSensor(
        name=source.parent.name,
        resolution=(resolution[0], resolution[1]),
        intrinsics=(intrinsics[0], intrinsics[1], intrinsics[2], intrinsics[3]),
        distortion_model=str(content.get("distortion_model", "radial-tangential")),
        distortion=distortion,
        T_BS=T_BS,
        rate_hz=float(content.get("rate_hz", 0.0)),
    )


def read_stamp_csv(path: str | os.PathLike[str]) -> list[tuple[int, str]]:
    """Rows ``(stamp_ns, filename)`` of a camera ``data.csv`` (comment header skipped)."""
    rows: list[tuple[int, str]] = []
    with open(path, newline="") as handle:
        for line_number, row in enumerate(csv.reader(handle), start=1):
            if not row or row[0].lstrip().startswith("#"):
                continue
            if len(row) < 2:
                raise ValueError(f"{path}:{line_number}: expected 'timestamp,filename', got {row}")
            try:
                stamp = int(row[0].strip())
            except ValueError as exc:
                raise ValueError(f"{path}:{line_number}: timestamp {row[0]!r} is not an integer") from exc
            rows.append((stamp, row[1].strip()))
    return rows


def _mav0(root: Path) -> Path:
    if (root / "mav0").is_dir():
        return root / "mav0"
    if (root / "cam0").is_dir():
        return root
    raise FileNotFoundError(f"{root} is not a EuRoC sequence: expected {root}/mav0/cam0 (or {root}/cam0)")


def read_image(path: Path) -> np.ndarray:
    """Read a grey PNG as uint8 (H, W).

    Raises:
        ValueError: when the file is missing, truncated or not an image.
    """
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"cannot decode image {path}: the file is missing, truncated or not a PNG")
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.dtype == np.uint16:
        image = (image // 256).astype(np.uint8)
    return image


class EurocSequence:
    """A EuRoC/ASL sequence folder: synchronised stereo frames, calibration and IMU.

    Args:
        root: the sequence folder (holding ``mav0/``) or the ``mav0`` folder itself.
        left: camera folder used as the left image (default ``cam0``).
        right: camera folder used as the right image (default ``cam1``).
    """

    def __init__(self, root: str | os.PathLike[str], left: str = "cam0", right: str = "cam1") -> None:
        self.root = Path(root)
        self.mav0 = _mav0(self.root)
        self.left_dir = self.mav0 / left
        self.right_dir = self.mav0 / right
        for folder in (self.left_dir, self.right_dir):
            if not (folder / "data.csv").is_file():
                raise FileNotFoundError(
                    f"{folder}/data.csv not found: is {self.root} a EuRoC stereo sequence?"
                )
        self.left_sensor = read_camera_sensor(self.left_dir / "sensor.yaml")
        self.right_sensor = read_camera_sensor(self.right_dir / "sensor.yaml")
        left_rows = dict(read_stamp_csv(self.left_dir / "data.csv"))
        right_rows = dict(read_stamp_csv(self.right_dir / "data.csv"))
        common = sorted(set(left_rows) & set(right_rows))
        # stamps listed by one camera only, or whose PNG is missing, are dropped and counted
        self.dropped_stamps = len(set(left_rows) ^ set(right_rows))
        self._pairs: list[tuple[int, Path, Path]] = []
        for stamp in common:
            left_path = self.left_dir / "data" / left_rows[stamp]
            right_path = self.right_dir / "data" / right_rows[stamp]
            if left_path.is_file() and right_path.is_file():
                self._pairs.append((stamp, left_path, right_path))
            else:
                self.dropped_stamps += 1

    @property
    def stamps_ns(self) -> np.ndarray:
        """(N,) int64 stamps of the usable stereo pairs."""
        return np.array([stamp for stamp, _, _ in self._pairs], dtype=np.int64)

    @property
    def baseline_m(self) -> float:
        """Distance between the two camera centres, metres (from the two ``T_BS``)."""
        return float(np.linalg.norm(self.left_sensor.T_BS[:3, 3] - self.right_sensor.T_BS[:3, 3]))

    def __len__(self) -> int:
        return len(self._pairs)

    def __getitem__(self, index: int) -> StereoFrame:
        if not -len(self._pairs) <= index < len(self._pairs):
            raise IndexError(f"frame {index} out of range: the sequence has {len(self._pairs)} stereo pairs")
        stamp, left_path, right_path = self._pairs[index]
        return StereoFrame(stamp, read_image(left_path), read_image(right_path))

    def __iter__(self) -> Iterator[StereoFrame]:
        for index in range(len(self._pairs)):
            yield self[index]

    def read_imu(self, folder: str = "imu0") -> ImuSamples:
        """All IMU samples of ``mav0/<folder>/data.csv``.

        Raises:
            FileNotFoundError: when the IMU folder is absent.
            ValueError: when a row does not have 7 numeric columns.
        """
        path = self.mav0 / folder / "data.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: this sequence has no {folder}")
        rows = []
        with open(path, newline="") as handle:
            for line_number, row in enumerate(csv.reader(handle), start=1):
                if not row or row[0].lstrip().startswith("#"):
                    continue
                if len(row) < 7:
                    raise ValueError(f"{path}:{line_number}: expected 7 columns (t, gyro xyz, accel xyz)")
                rows.append(row[:7])
        stamps = np.array([int(r[0]) for r in rows], dtype=np.int64)
        values = np.array([[float(v) for v in r[1:7]] for r in rows], dtype=np.float64).reshape(-1, 6)
        order = np.argsort(stamps, kind="stable")
        return ImuSamples(stamps[order], values[order, :3], values[order, 3:6])

    def read_imu_sensor(self, folder: str = "imu0") -> ImuSensor:
        """Calibration of the IMU (``T_BS``, rate and noise densities)."""
        path = self.mav0 / folder / "sensor.yaml"
        content = read_sensor_yaml(path)
        noise = {k: float(v) for k, v in content.items() if k.endswith(("_density", "_walk"))}
        T_BS = _matrix(content["T_BS"], f"{path}: T_BS") if "T_BS" in content else np.eye(4)
        return ImuSensor(T_BS=T_BS, rate_hz=float(content.get("rate_hz", 0.0)), noise=noise)
