"""ActRecTut recording -> rosbag2: one ``sensor_msgs/Imu`` topic per body-worn device.

Topics: ``/<device>/imu`` (e.g. ``/right_hand/imu``) at 32 Hz, and ``/activity`` (``std_msgs/msg/UInt8``,
0-based class id, 0 = NULL) at the same instants for evaluation. Times start at ``start_ns`` (default 1 s)
plus ``timestamps_s``. ActRecTut stores raw sensor units, not SI; values are copied unchanged: channels
``acc_x, acc_y, acc_z`` -> ``linear_acceleration`` and ``gyro_x, gyro_y[, gyro_z]`` -> ``angular_velocity``
(gesture devices have two gyro axes; ``angular_velocity.z`` is 0 for them). Orientation is marked unknown.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from robossl.data.bags.message_builders import build_imu
from robossl.data.bags.writer import BagWriter
from robossl.data.convert.report import ConvertReport
from robossl.data.datasets.actrectut import load_actrectut

__all__ = ["ACTIVITY_TOPIC", "convert_actrectut"]

ACTIVITY_TOPIC = "/activity"


def convert_actrectut(
    subject: int,
    task: str,
    out: str | Path,
    root: str | Path | None = None,
    storage: str = "mcap",
    max_seconds: float | None = None,
    start_ns: int = 1_000_000_000,
    progress: bool = False,
) -> ConvertReport:
    """Convert one ActRecTut recording (subject, task) to one rosbag2 recording.

    Args:
        subject: 1 or 2.
        task: ``"gesture"`` or ``"walk"``.
        out: output bag folder (must not exist).
        root: ActRecTut folder (default: the real-data folder).
        storage: ``"mcap"`` or ``"sqlite3"``.
        max_seconds: convert only the first seconds; None for all.
        start_ns: log time of the first sample, ns.
        progress: show a tqdm progress bar.
    """
    rec = load_actrectut(subject, task, root=root, channels_per_imu=6 if task == "walk" else 5)
    times = (
        rec.timestamps_s if rec.timestamps_s is not None else np.arange(len(rec.labels)) / rec.sample_rate_hz
    )
    n = len(times) if max_seconds is None else int(np.searchsorted(times, max_seconds, side="left"))
    report = ConvertReport()
    with BagWriter(out, storage=storage) as bag:
        store = bag.typestore
        bag.set_custom_data("source", f"ActRecTut {rec.name}")
        bag.set_custom_data("class_names", ",".join(rec.class_names))
        label_type = store.types["std_msgs/msg/UInt8"]
        devices = list(rec.devices.items())
        for t in tqdm(range(n), desc=f"{rec.name} -> rosbag2", unit="row", disable=not progress):
            stamp = start_ns + round(float(times[t]) * 1e9)
            for device, samples in devices:
                row = samples[t]
                gyro = list(row[3:6]) + [0.0] * (3 - len(row[3:6]))
                bag.write(f"/{device}/imu", stamp, build_imu(store, stamp, device, gyro, row[0:3]))
            bag.write(ACTIVITY_TOPIC, stamp, label_type(data=int(rec.labels[t])))
        report.add_counts(bag.counts)
    report.outputs.append(Path(out))
    return report
