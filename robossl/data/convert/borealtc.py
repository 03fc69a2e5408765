"""BorealTC runs -> rosbag2: one recording per run, IMU plus wheel proprioception.

Topics: ``/imu`` (``sensor_msgs/msg/Imu``, 100 Hz, ``wx wy wz`` -> angular_velocity in rad/s, ``ax ay az``
-> linear_acceleration in m/s^2) and ``/wheels`` (``sensor_msgs/msg/JointState``, ~6.5 Hz, joints
``left_wheel`` and ``right_wheel``: ``velocity`` = wheel speed in m/s, ``effort`` = motor current in A,
position empty). The terrain class is stored in ``metadata.yaml`` custom data (``terrain``). Each bag is
``<out>/<TERRAIN>_<run>``; times are ``start_ns`` plus the run's own seconds.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from robossl.data.bags.message_builders import build_imu, build_joint_state
from robossl.data.bags.writer import BagWriter
from robossl.data.convert.report import ConvertReport
from robossl.data.datasets.borealtc import BOREALTC_CLASSES, BorealRun, list_runs, load_run
from robossl.data.locate import require_data

__all__ = ["convert_borealtc", "write_borealtc_run"]


def _events(
    run: BorealRun, store: Any, start_ns: int, max_seconds: float | None
) -> Iterator[tuple[int, int, str, Any]]:
    def imu() -> Iterator[tuple[int, int, str, Any]]:
        for t, row in zip(run.imu_time, run.imu):
            if max_seconds is not None and t - run.imu_time[0] >= max_seconds:
                return
            stamp = start_ns + round(float(t) * 1e9)
            yield stamp, 0, "/imu", build_imu(store, stamp, "imu", row[0:3], row[3:6])

    def wheels() -> Iterator[tuple[int, int, str, Any]]:
        for t, (cur_l, cur_r, vel_l, vel_r) in zip(run.pro_time, run.pro):
            if max_seconds is not None and t - run.imu_time[0] >= max_seconds:
                return
            stamp = start_ns + round(float(t) * 1e9)
            msg = build_joint_state(
                store, stamp, ["left_wheel", "right_wheel"], velocity=[vel_l, vel_r], effort=[cur_l, cur_r]
            )
            yield stamp, 1, "/wheels", msg

    return heapq.merge(imu(), wheels(), key=lambda e: (e[0], e[1]))


def write_borealtc_run(
    run: BorealRun,
    out: str | Path,
    storage: str = "mcap",
    start_ns: int = 1_000_000_000,
    max_seconds: float | None = None,
) -> dict[str, int]:
    """Write one run as a rosbag2 recording; returns messages per topic."""
    with BagWriter(out, storage=storage) as bag:
        bag.set_custom_data("source", f"BorealTC {run.terrain} run {run.run}")
        bag.set_custom_data("terrain", run.terrain)
        for stamp, _, topic, msg in _events(run, bag.typestore, start_ns, max_seconds):
            bag.write(topic, stamp, msg)
        return dict(bag.counts)


def convert_borealtc(
    out: str | Path,
    root: str | Path | None = None,
    classes: tuple[str, ...] = BOREALTC_CLASSES,
    runs_per_class: int | None = None,
    storage: str = "mcap",
    max_seconds: float | None = None,
    progress: bool = False,
) -> ConvertReport:
    """Convert BorealTC runs to one rosbag2 recording per run under ``out``.

    Args:
        out: folder for the bags (created; each bag folder must not exist yet).
        root: the ``borealtc`` folder (default: the real-data folder).
        classes: terrain classes to convert.
        runs_per_class: convert only the first N runs of each class; None for all.
        storage: ``"mcap"`` or ``"sqlite3"``.
        max_seconds: convert only the first seconds of each run; None for all.
        progress: show a tqdm progress bar over runs.
    """
    root_path = Path(root) if root is not None else require_data("terrain/borealtc")
    available = list_runs(root_path)
    missing = [c for c in classes if c not in available]
    if missing:
        raise ValueError(
            f"terrain classes {missing} have no run with IMU and wheel files; available: {sorted(available)}"
        )
    jobs = [(c, r) for c in classes for r in available[c][:runs_per_class]]
    Path(out).mkdir(parents=True, exist_ok=True)
    report = ConvertReport()
    for terrain, run_name in tqdm(jobs, desc="borealtc -> rosbag2", unit="run", disable=not progress):
        run = load_run(root_path, terrain, run_name)
        target = Path(out) / f"{terrain}_{run_name}"
        report.add_counts(write_borealtc_run(run, target, storage=storage, max_seconds=max_seconds))
        report.outputs.append(target)
    return report
