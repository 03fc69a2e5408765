"""BorealTC reader: Husky UGV proprioception on five terrains, cut into labelled vibration windows.

Dataset: LaRocque et al., "Proprioception Is All You Need: Terrain Classification for Boreal Forests"
(arXiv:2403.16877, 2024), CC0. Layout, one folder per terrain class::

    <root>/<CLASS>/imu_XX.csv   time, wx, wy, wz, ax, ay, az        100 Hz (rad/s, m/s^2)
    <root>/<CLASS>/pro_XX.csv   time, curL, curR, velL, velR        ~6.5 Hz (A, m/s)

``XX`` is the run number; ``imu_XX`` and ``pro_XX`` of the same run share the time origin (seconds). Some
runs have no IMU file; ``MIXED`` has no usable IMU at all. Typical use::

    runs = load_borealtc()                                  # every class folder with an IMU run
    windows = make_windows(runs, WindowConfig(window_s=1.0, hop_s=0.5))
    windows.imu.shape        # (N, 100, 6)
    windows.labels           # (N,) class index into windows.class_names
    windows.run_ids          # (N,) index into windows.run_names, for splits by run

Logs from other robots in this layout work too: columns are found by header name (any order, extras ignored),
the IMU rate is read from ``time``, runs at another rate are resampled to ``WindowConfig.sample_rate_hz``
(low-passed when thinning), and the classes are the folders found (or ``robossl pretrain --classes``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robossl.data.locate import require_data

log = logging.getLogger(__name__)

BOREALTC_SUBPATH = "terrain/borealtc"
IMU_CHANNELS = ("wx", "wy", "wz", "ax", "ay", "az")
PRO_CHANNELS = ("curL", "curR", "velL", "velR")
IMU_RATE_HZ = 100.0  # the dataset's IMU rate, and the default rate of the windows
# The real dataset's classes with usable IMU data (sorted: the order load_borealtc() finds them in).
BOREALTC_CLASSES = ("ASPHALT", "FLOORING", "ICE", "SANDY_LOAM", "SNOW")
_SAME_RATE = 1e-3  # relative rate difference below which a run is used as logged (no resampling)
_GAP_PERIODS = 1.5  # a time step longer than this many sample periods is a hole in the log

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

    @property
    def imu_rate_hz(self) -> float:
        """IMU rate in Hz read from the time column (median step; ``nan`` with fewer than 2 samples)."""
        if self.imu_time.shape[0] < 2:
            return float("nan")
        return float(1.0 / np.median(np.diff(self.imu_time)))


@dataclass(frozen=True)
class WindowConfig:
    """How runs are cut into vibration windows."""

    window_s: float = 1.0  # window length in seconds (100 IMU samples at 1.0 s)
    hop_s: float = 0.5  # step between window starts in seconds
    min_speed: float = 0.0  # drop windows whose mean |wheel speed| (m/s) is below this; 0 keeps all
    sample_rate_hz: float = IMU_RATE_HZ  # rate of the windows (Hz); runs logged at another rate are resampled

    def __post_init__(self) -> None:
        if not self.window_s > 0 or not self.hop_s > 0:
            raise ValueError(
                f"window_s and hop_s must be > 0 seconds, got window_s={self.window_s}, hop_s={self.hop_s}"
            )
        if not self.sample_rate_hz > 0:
            raise ValueError(f"sample_rate_hz must be > 0 Hz, got {self.sample_rate_hz}")
        if self.min_speed < 0:
            raise ValueError(f"min_speed is a speed threshold in m/s and must be >= 0, got {self.min_speed}")


@dataclass
class VibrationWindows:
    """Fixed-length windows of IMU (+ proprioception resampled to the IMU clock) with labels.

    Attributes:
        imu: (N, T, 6) float32 IMU windows ``IMU_CHANNELS``, T = round(window_s * sample_rate_hz).
        pro: (N, T, 4) float32 motor currents and wheel speeds linearly interpolated onto the IMU times.
        labels: (N,) int64 class index into ``class_names``.
        run_ids: (N,) int64 index into ``run_names``.
        start_times: (N,) float64 window start, seconds from its run start.
        class_names: terrain class names.
        run_names: ``"<CLASS>/<run>"`` of every run that was windowed.
        dropped: counts of windows dropped and why (``"nan"``, ``"slow"``).
        sample_rate_hz: rate of the windows in Hz.
        source_rates_hz: ``run name -> IMU rate read from its time column`` (Hz); runs whose rate differs
            from ``sample_rate_hz`` were resampled.
    """

    imu: np.ndarray
    pro: np.ndarray
    labels: np.ndarray
    run_ids: np.ndarray
    start_times: np.ndarray
    class_names: tuple[str, ...]
    run_names: tuple[str, ...]
    dropped: dict[str, int] = field(default_factory=dict)
    sample_rate_hz: float = IMU_RATE_HZ
    source_rates_hz: dict[str, float] = field(default_factory=dict)

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
            sample_rate_hz=self.sample_rate_hz,
            source_rates_hz=dict(self.source_rates_hz),
        )


def _read_csv(path: Path, columns: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(time (N,), values (N, len(columns))) from a BorealTC CSV, columns found by their header names."""
    with path.open() as fh:
        header = [name.strip() for name in fh.readline().strip().split(",")]
    expected = ["time", *columns]
    missing = [name for name in expected if name not in header]
    if missing:
        raise ValueError(
            f"{path}: no column {', '.join(repr(m) for m in missing)} in header {header}; a BorealTC-layout "
            f"file names the columns {expected} in its first line (any order; extra columns are ignored)"
        )
    try:
        usecols = [header.index(name) for name in expected]
        table = np.loadtxt(path, delimiter=",", skiprows=1, usecols=usecols, ndmin=2)
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


def load_borealtc(root: Path | None = None, classes: Sequence[str] | None = None) -> list[BorealRun]:
    """Every run of ``classes`` that has both files, in class then run order.

    Args:
        root: the ``borealtc`` folder; default: ``<data root>/terrain/borealtc``.
        classes: class folders to read; ``None``: every folder with at least one run that has both files,
            sorted by name (on the real data: ``BOREALTC_CLASSES``; ``MIXED`` has no IMU run).

    Raises:
        ValueError: when a requested class has no run with an IMU file, or no folder has one.
    """
    root = Path(root) if root is not None else require_data(BOREALTC_SUBPATH)
    available = list_runs(root)
    if classes is None:
        classes = tuple(sorted(available))
        if not classes:
            raise ValueError(
                f"no class folder in {root} has a run with both imu_XX.csv and pro_XX.csv; expected the "
                "layout <root>/<CLASS>/imu_XX.csv + pro_XX.csv"
            )
    out: list[BorealRun] = []
    for terrain in classes:
        if terrain not in available:
            raise ValueError(
                f"class {terrain!r} has no run with both imu_XX.csv and pro_XX.csv in {root}; "
                f"classes with data: {sorted(available)}"
            )
        out.extend(load_run(root, terrain, run) for run in available[terrain])
    return out


def _resample(run: BorealRun, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """``(time (M,), imu (M, 6))`` of ``run`` on a uniform ``rate_hz`` grid from its first sample.

    Thinning low-passes first (zero-phase Butterworth at 0.45 x the new rate) so that vibration above the
    new Nyquist rate does not alias into the band; raising the rate interpolates linearly. Output samples
    next to a NaN/inf input sample are NaN, so the windows holding them are dropped as before.
    """
    from scipy.signal import butter, sosfiltfilt

    time, values = run.imu_time, run.imu
    steps = np.diff(time)
    period = float(np.median(steps))
    hole = int(np.argmax(steps))
    if steps[hole] > _GAP_PERIODS * period:
        raise ValueError(
            f"run {run.name} (imu_{run.run}.csv) is logged at {1 / period:.4g} Hz and must be resampled to "
            f"{rate_hz:g} Hz, but its time column jumps {steps[hole]:.4g} s at t = {time[hole]:.4g} s; "
            "split the file at the hole (or log at the window rate) so no samples are invented across it"
        )
    bad = ~np.isfinite(values).all(axis=1)
    if bad.all():
        return time[:0], values[:0]
    filled = values.copy()
    for c in range(values.shape[1]):
        filled[bad, c] = np.interp(time[bad], time[~bad], values[~bad, c])
    if 1 / period > rate_hz:
        sos = butter(8, 0.45 * rate_hz, fs=1 / period, output="sos")
        filled = sosfiltfilt(sos, filled, axis=0, padlen=min(3 * (2 * len(sos) + 1), len(time) - 1))
    grid = time[0] + np.arange(int(np.floor((time[-1] - time[0]) * rate_hz + 1e-6)) + 1) / rate_hz
    out = np.stack([np.interp(grid, time, filled[:, c]) for c in range(values.shape[1])], axis=1)
    after = np.clip(np.searchsorted(time, grid), 0, len(time) - 1)
    out[bad[after] | bad[np.maximum(after - 1, 0)]] = np.nan
    return grid, out


def make_windows(
    runs: list[BorealRun], config: WindowConfig | None = None, class_names: tuple[str, ...] | None = None
) -> VibrationWindows:
    """Cut runs into fixed-length windows on the IMU clock; windows never cross runs.

    Each run's IMU rate is read from its time column; runs logged at another rate than
    ``config.sample_rate_hz`` are resampled to it first (:func:`_resample`), so a window always spans
    ``config.window_s`` seconds.

    Args:
        runs: from :func:`load_borealtc` (or hand-made :class:`BorealRun` objects).
        config: window length, hop, rate and speed filter.
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
    rate = config.sample_rate_hz
    length = int(round(config.window_s * rate))
    hop = max(1, int(round(config.hop_s * rate)))
    imu_w, pro_w, labels, run_ids, starts = [], [], [], [], []
    dropped = {"nan": 0, "slow": 0}
    source_rates: dict[str, float] = {}
    for run_index, run in enumerate(runs):
        if run.terrain not in class_names:
            raise ValueError(f"run {run.name} has class {run.terrain!r}, not in class_names {class_names}")
        if run.imu.shape[0] < max(length, 2):
            continue
        source_rates[run.name] = run.imu_rate_hz
        imu_time, imu = run.imu_time, run.imu
        if abs(run.imu_rate_hz / rate - 1) > _SAME_RATE:
            log.info("BorealTC run %s: IMU at %.4g Hz, resampled to %g Hz", run.name, run.imu_rate_hz, rate)
            imu_time, imu = _resample(run, rate)
        n = imu.shape[0]
        if n < length:
            continue
        # Wheel odometry is ~6.5 Hz: interpolate each channel onto the IMU clock.
        pro_on_imu = np.stack(
            [np.interp(imu_time, run.pro_time, run.pro[:, c]) for c in range(run.pro.shape[1])], axis=1
        )
        begin = np.arange(0, n - length + 1, hop)
        idx = begin[:, None] + np.arange(length)[None, :]
        imu_run, pro_run = imu[idx], pro_on_imu[idx]
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
        starts.append(imu_time[begin[keep]])
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
        sample_rate_hz=rate,
        source_rates_hz=source_rates,
    )


def split_by_run(
    windows: VibrationWindows, test_fraction: float = 0.3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (train, test) masks that hold out whole runs, at least one test run per class.

    Runs, not windows, are held out, because neighbouring windows of one run are nearly identical and a
    window-level split would leak. A class recorded in a single run is split in time instead: the last
    ``test_fraction`` of its windows are test, the windows overlapping the boundary are in neither mask
    (so no sample is in both), and the rest train.

    Raises:
        ValueError: a one-run class has too few windows to leave both a training and a test part.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    window_s = windows.imu.shape[1] / windows.sample_rate_hz
    test_runs: list[int] = []
    test = np.zeros(len(windows), dtype=bool)
    straddling = np.zeros(len(windows), dtype=bool)
    for label in np.unique(windows.labels):
        runs = np.unique(windows.run_ids[windows.labels == label])
        if len(runs) >= 2:
            n_test = min(len(runs) - 1, max(1, int(round(test_fraction * len(runs)))))
            test_runs.extend(rng.choice(runs, size=n_test, replace=False).tolist())
            continue
        mine = np.flatnonzero(windows.labels == label)
        start = windows.start_times[mine]
        n_test = max(1, int(round(test_fraction * len(mine))))
        boundary = np.sort(start)[len(mine) - n_test]
        before = start + window_s <= boundary + 1e-9
        if not before.any():
            raise ValueError(
                f"class {windows.class_names[label]} has one run ({windows.run_names[runs[0]]}) with "
                f"{len(mine)} windows of {window_s:g} s: too short to hold out its end without overlap; "
                "record a second run of it, use a shorter window or leave the class out"
            )
        test[mine] = start >= boundary
        straddling[mine] = ~before & (start < boundary)
        log.info(
            "split_by_run: class %s has one run; its last %d of %d windows are test",
            windows.class_names[label],
            n_test,
            len(mine),
        )
    test |= np.isin(windows.run_ids, test_runs)
    return ~test & ~straddling, test
