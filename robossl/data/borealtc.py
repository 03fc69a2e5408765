"""BorealTC reader: Husky UGV proprioception on five terrains, cut into labelled vibration windows.

Dataset: LaRocque et al., "Proprioception Is All You Need: Terrain Classification for Boreal Forests"
(arXiv:2403.16877, 2024), CC0. Layout, one folder per terrain class::

    <root>/<CLASS>/imu_XX.csv   time, wx, wy, wz, ax, ay, az        100 Hz (rad/s, m/s^2)
    <root>/<CLASS>/pro_XX.csv   time, curL, curR, velL, velR        ~6.5 Hz (A, m/s)

``XX`` is the run number; ``imu_XX`` and ``pro_XX`` of the same run share the time origin (seconds). Some
runs have no IMU file; ``MIXED`` has no usable IMU at all. Typical use::

    runs = load_borealtc()                                  # every run with an IMU file
    windows = make_windows(runs, WindowConfig(window_s=1.0, hop_s=0.5))
    windows.imu.shape        # (N, 100, 6)
    windows.labels           # (N,) class index into windows.class_names
    windows.run_ids          # (N,) index into windows.run_names, for splits by run
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robossl.data.locate import require_data

BOREALTC_SUBPATH = "terrain/borealtc"
IMU_CHANNELS = ("wx", "wy", "wz", "ax", "ay", "az")
PRO_CHANNELS = ("curL", "curR", "velL", "velR")
IMU_RATE_HZ = 100.0
# Classes with usable IMU data, in a fixed order so label ids are stable across machines.
BOREALTC_CLASSES = ("ASPHALT", "FLOORING", "ICE", "SANDY_LOAM", "SNOW")

_RUN_FILE = re.compile(r"^(imu|pro)_(\d+)\.csv$")


@dataclass
class BorealRun:
    """One recorded run of one terrain.

    Attributes:
        terrain: class folder name, e.g. ``"SNOW"``.
        run: run number as written in the file name, e.g. ``"03"``.
        imu_time: (N,) seconds from the run start.
        imu: (N, 6) float64, ``IMU_CHANNELS`` (rad/s, m/s^2).
        pro_time: (M,) seconds, same origin as ``imu_time``.
        pro: (M, 4) float64, ``PRO_CHANNELS`` (motor currents in A, wheel speeds in m/s).
    """

    terrain: str
    run: str
    imu_time: np.ndarray
    imu: np.ndarray
    pro_time: np.ndarray
    pro: np.ndarray

    @property
    def name(self) -> str:
        """``"<CLASS>/<run>"``, unique within the dataset."""
        return f"{self.terrain}/{self.run}"


@dataclass(frozen=True)
class WindowConfig:
    """How runs are cut into vibration windows."""

    window_s: float = 1.0  # window length in seconds (100 IMU samples at 1.0 s)
    hop_s: float = 0.5  # step between window starts in seconds
    min_speed: float = 0.0  # drop windows whose mean |wheel speed| (m/s) is below this; 0 keeps all

    def __post_init__(self) -> None:
        if not self.window_s > 0 or not self.hop_s > 0:
            raise ValueError(
                f"window_s and hop_s must be > 0 seconds, got window_s={self.window_s}, hop_s={self.hop_s}"
            )
        if self.min_speed < 0:
            raise ValueError(f"min_speed is a speed threshold in m/s and must be >= 0, got {self.min_speed}")


@dataclass
class VibrationWindows:
    """Fixed-length windows of IMU (+ proprioception resampled to the IMU clock) with labels.

    Attributes:
        imu: (N, T, 6) float32 IMU windows, T = round(window_s * 100).
        pro: (N, T, 4) float32 motor currents and wheel speeds linearly interpolated onto the IMU times.
        labels: (N,) int64 class index into ``class_names``.
        run_ids: (N,) int64 index into ``run_names``.
        start_times: (N,) float64 window start, seconds from its run start.
        class_names: terrain class names.
        run_names: ``"<CLASS>/<run>"`` of every run that was windowed.
        dropped: counts of windows dropped and why (``"nan"``, ``"slow"``).
    """

    imu: np.ndarray
    pro: np.ndarray
    labels: np.ndarray
    run_ids: np.ndarray
    start_times: np.ndarray
    class_names: tuple[str, ...]
    run_names: tuple[str, ...]
    dropped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, mask_or_index: np.ndarray) -> VibrationWindows:
        """The windows selected by a boolean mask or an index array (names and counts are kept)."""
        return VibrationWindows(
            imu=self.imu[mask_or_index],
            pro=self.pro[mask_or_index],
            labels=self.labels[mask_or_index],
            run_ids=self.run_ids[mask_or_index],
            start_times=self.start_times[mask_or_index],
            class_names=self.class_names,
            run_names=self.run_names,
            dropped=dict(self.dropped),
        )


def _read_csv(path: Path, columns: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(time (N,), values (N, len(columns))) from a BorealTC CSV, checking its header."""
    with path.open() as fh:
        header = fh.readline().strip().split(",")
    expected = ["time", *columns]
    if header[: len(expected)] != expected:
        raise ValueError(f"{path}: header {header} does not start with {expected}; is this a BorealTC file?")
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=1, usecols=range(len(expected)), ndmin=2)
    except ValueError as exc:
        raise ValueError(
            f"{path}: cannot parse numbers ({exc}); the file may be truncated or corrupt"
        ) from exc
    if table.shape[0] == 0:
        raise ValueError(f"{path}: no data rows")
    time = table[:, 0]
    if np.any(np.diff(time) <= 0):
        raise ValueError(f"{path}: time column is not strictly increasing; the run cannot be windowed")
    return time, table[:, 1:]


def list_runs(root: Path | None = None) -> dict[str, list[str]]:
    """Run numbers that have both an IMU and a proprioception file, per class folder.

    Args:
        root: the ``borealtc`` folder; default: ``<data root>/terrain/borealtc``.
    """
    root = Path(root) if root is not None else require_data(BOREALTC_SUBPATH)
    runs: dict[str, list[str]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        kinds: dict[str, set[str]] = {"imu": set(), "pro": set()}
        for f in folder.iterdir():
            m = _RUN_FILE.match(f.name)
            if m:
                kinds[m.group(1)].add(m.group(2))
        both = sorted(kinds["imu"] & kinds["pro"])
        if both:
            runs[folder.name] = both
    return runs


def load_run(root: Path, terrain: str, run: str) -> BorealRun:
    """Read ``<root>/<terrain>/imu_<run>.csv`` and ``pro_<run>.csv``."""
    folder = Path(root) / terrain
    imu_path, pro_path = folder / f"imu_{run}.csv", folder / f"pro_{run}.csv"
    for p in (imu_path, pro_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p} missing; list_runs() gives the runs that have both files")
    imu_time, imu = _read_csv(imu_path, IMU_CHANNELS)
    pro_time, pro = _read_csv(pro_path, PRO_CHANNELS)
    return BorealRun(terrain, run, imu_time, imu, pro_time, pro)


def load_borealtc(root: Path | None = None, classes: tuple[str, ...] = BOREALTC_CLASSES) -> list[BorealRun]:
    """Every run of ``classes`` that has both files, in class then run order.

    Raises:
        ValueError: when a requested class has no run with an IMU file.
    """
    root = Path(root) if root is not None else require_data(BOREALTC_SUBPATH)
    available = list_runs(root)
    out: list[BorealRun] = []
    for terrain in classes:
        if terrain not in available:
            raise ValueError(
                f"class {terrain!r} has no run with both imu_XX.csv and pro_XX.csv in {root}; "
                f"classes with data: {sorted(available)}"
            )
        out.extend(load_run(root, terrain, run) for run in available[terrain])
    return out


def make_windows(
    runs: list[BorealRun], config: WindowConfig | None = None, class_names: tuple[str, ...] | None = None
) -> VibrationWindows:
    """Cut runs into fixed-length windows on the IMU clock; windows never cross runs.

    Args:
        runs: from :func:`load_borealtc` (or hand-made :class:`BorealRun` objects).
        config: window length, hop and speed filter.
        class_names: label order; default: the order in which terrains first appear in ``runs``.

    Returns:
        :class:`VibrationWindows`. Windows with any NaN/inf are dropped and counted under ``"nan"``;
        windows slower than ``config.min_speed`` under ``"slow"``.
    """
    config = config or WindowConfig()
    if not runs:
        raise ValueError("no runs to window; load_borealtc() returned nothing — check the data folder")
    if class_names is None:
        class_names = tuple(dict.fromkeys(r.terrain for r in runs))
    length = int(round(config.window_s * IMU_RATE_HZ))
    hop = max(1, int(round(config.hop_s * IMU_RATE_HZ)))
    imu_w, pro_w, labels, run_ids, starts = [], [], [], [], []
    dropped = {"nan": 0, "slow": 0}
    for run_index, run in enumerate(runs):
        if run.terrain not in class_names:
            raise ValueError(f"run {run.name} has class {run.terrain!r}, not in class_names {class_names}")
        n = run.imu.shape[0]
        if n < length:
            continue
        # Wheel odometry is ~6.5 Hz: interpolate each channel onto the 100 Hz IMU clock.
        pro_on_imu = np.stack(
            [np.interp(run.imu_time, run.pro_time, run.pro[:, c]) for c in range(run.pro.shape[1])], axis=1
        )
        begin = np.arange(0, n - length + 1, hop)
        idx = begin[:, None] + np.arange(length)[None, :]
        imu_run, pro_run = run.imu[idx], pro_on_imu[idx]
        finite = np.isfinite(imu_run).all(axis=(1, 2)) & np.isfinite(pro_run).all(axis=(1, 2))
        dropped["nan"] += int((~finite).sum())
        keep = finite
        if config.min_speed > 0:
            speed = np.abs(pro_run[:, :, 2:4]).mean(axis=(1, 2))
            slow = finite & (speed < config.min_speed)
            dropped["slow"] += int(slow.sum())
            keep = keep & ~slow
        imu_w.append(imu_run[keep].astype(np.float32))
        pro_w.append(pro_run[keep].astype(np.float32))
        labels.append(np.full(int(keep.sum()), class_names.index(run.terrain), dtype=np.int64))
        run_ids.append(np.full(int(keep.sum()), run_index, dtype=np.int64))
        starts.append(run.imu_time[begin[keep]])
    if not imu_w:
        raise ValueError(
            f"every run is shorter than one window ({config.window_s} s); use a shorter window_s"
        )
    return VibrationWindows(
        imu=np.concatenate(imu_w),
        pro=np.concatenate(pro_w),
        labels=np.concatenate(labels),
        run_ids=np.concatenate(run_ids),
        start_times=np.concatenate(starts).astype(np.float64),
        class_names=tuple(class_names),
        run_names=tuple(r.name for r in runs),
        dropped=dropped,
    )


def split_by_run(
    windows: VibrationWindows, test_fraction: float = 0.3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (train, test) masks that hold out whole runs, at least one test run per class.

    Runs, not windows, are held out, because neighbouring windows of one run are nearly identical and a
    window-level split would leak.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    test_runs: list[int] = []
    for label in np.unique(windows.labels):
        runs = np.unique(windows.run_ids[windows.labels == label])
        if len(runs) < 2:
            raise ValueError(
                f"class {windows.class_names[label]} has {len(runs)} run(s); a run split needs at least 2"
            )
        n_test = min(len(runs) - 1, max(1, int(round(test_fraction * len(runs)))))
        test_runs.extend(rng.choice(runs, size=n_test, replace=False).tolist())
    test = np.isin(windows.run_ids, test_runs)
    return ~test, test
