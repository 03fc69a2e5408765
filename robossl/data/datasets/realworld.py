"""RealWorld HAR (Sztyler and Stuckenschmidt, PerCom 2016): 15 subjects, 7 body positions, 8 activities, 50 Hz.

Download: https://www.uni-mannheim.de/dws/research/projects/activity-recognition/dataset/dataset-realworld/
(archive ``realworld2016_dataset.zip``, http://wifo5-14.informatik.uni-mannheim.de/sensor/dataset/realworld2016/realworld2016_dataset.zip).

On-disk layout: ``proband<k>/data/<sensor>_<activity>_csv.zip`` with sensor ``acc`` or ``gyr`` (also
``mag``, ``lig``, ...); each zip holds one CSV per body position, named ``<prefix>_<activity>_<position>.csv``
(the prefix differs per sensor, e.g. ``acc_`` / ``Gyroscope_``; some activities were recorded in several
sessions, ``..._<activity>_2_<position>.csv``, and a few zips contain further zips). CSV columns:
``id,attr_time,attr_x,attr_y,attr_z`` with ``attr_time`` in milliseconds. Positions: chest, forearm, head,
shin, thigh, upperarm, waist. Activities: climbingdown, climbingup, jumping, lying, standing, sitting,
running, walking.

The devices of one position and session have separate clocks and lengths, so every session is put on one
50 Hz grid over the span that all requested positions and sensors cover
(:func:`robossl.data.sync.synchronise_streams`); sessions are concatenated with one NaN row between
them so no window spans two sessions. A missing position file raises ``ValueError`` naming it.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from robossl.data.recording import MultiDeviceRecording
from robossl.data.sync import synchronise_streams

REALWORLD_URL = (
    "https://www.uni-mannheim.de/dws/research/projects/activity-recognition/dataset/dataset-realworld/"
)
REALWORLD_SAMPLE_RATE_HZ = 50.0
REALWORLD_POSITIONS = ("chest", "forearm", "head", "shin", "thigh", "upperarm", "waist")
REALWORLD_ACTIVITIES = (
    "climbingdown",
    "climbingup",
    "jumping",
    "lying",
    "standing",
    "sitting",
    "running",
    "walking",
)
REALWORLD_SENSORS = ("acc", "gyr")


def read_realworld_csv(text: str, source: str = "<csv>") -> tuple[np.ndarray, np.ndarray]:
    """Parse one RealWorld CSV (``id,attr_time,attr_x,attr_y,attr_z``) into (seconds ``(N,)``, xyz ``(N, 3)``).

    Raises:
        ValueError: when the header or the rows do not follow that layout.
    """
    lines = text.strip().splitlines()
    if not lines or [h.strip() for h in lines[0].split(",")][:5] != [
        "id",
        "attr_time",
        "attr_x",
        "attr_y",
        "attr_z",
    ]:
        raise ValueError(f"{source}: expected header 'id,attr_time,attr_x,attr_y,attr_z', got {lines[:1]}")
    try:
        table = np.loadtxt(io.StringIO("\n".join(lines[1:])), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{source}: unreadable row ({exc})") from exc
    if table.size == 0:
        return np.zeros(0), np.zeros((0, 3))
    if table.shape[1] < 5:
        raise ValueError(f"{source}: rows need 5 columns, got {table.shape[1]}")
    return table[:, 1] / 1000.0, table[:, 2:5]


def _csv_members(archive: zipfile.ZipFile, source: str) -> Iterator[tuple[str, str]]:
    """(member name, text) of every CSV in ``archive``, descending one level into nested zips."""
    for name in archive.namelist():
        if name.endswith(".csv"):
            yield Path(name).name, archive.read(name).decode("utf-8", errors="replace")
        elif name.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(archive.read(name))) as inner:
                yield from _csv_members(inner, f"{source}/{name}")


def _sessions(zip_path: Path, activity: str) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """session id -> position -> (seconds, xyz) for one sensor zip."""
    pattern = re.compile(rf"_{activity}(?:_(\d+))?_([a-z]+)\.csv$")
    out: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    with zipfile.ZipFile(zip_path) as archive:
        for name, text in _csv_members(archive, str(zip_path)):
            match = pattern.search(name)
            if match is None or match.group(2) not in REALWORLD_POSITIONS:
                continue
            session = match.group(1) or "1"
            out.setdefault(session, {})[match.group(2)] = read_realworld_csv(text, f"{zip_path}:{name}")
    return out


def load_realworld_subject(
    root: str | os.PathLike[str],
    subject: int,
    positions: tuple[str, ...] = REALWORLD_POSITIONS,
    sensors: tuple[str, ...] = REALWORLD_SENSORS,
    activities: tuple[str, ...] = REALWORLD_ACTIVITIES,
) -> MultiDeviceRecording:
    """Load one subject (``proband<subject>``) as a synchronised multi-device recording.

    Args:
        root: the extracted ``realworld2016_dataset`` folder.
        subject: proband number (1-15).
        positions: body positions (devices) to keep.
        sensors: ``("acc",)`` or ``("acc", "gyr")``: 3 channels per sensor, acc in m/s^2, gyro in rad/s.
        activities: activities to load; labels are their index in :data:`REALWORLD_ACTIVITIES`.

    Returns:
        Recording with one ``(T, 3 * len(sensors))`` array per position at 50 Hz (NaN rows between sessions).

    Raises:
        FileNotFoundError: missing subject folder or sensor zip.
        ValueError: unknown position/sensor/activity, or a position missing from a session.
    """
    for value, allowed, what in (
        (positions, REALWORLD_POSITIONS, "positions"),
        (sensors, REALWORLD_SENSORS, "sensors"),
        (activities, REALWORLD_ACTIVITIES, "activities"),
    ):
        bad = [v for v in value if v not in allowed]
        if bad or not value:
            raise ValueError(f"unknown RealWorld {what} {bad}; choose from {allowed}")
    folder = Path(root) / f"proband{subject}" / "data"
    if not folder.is_dir():
        raise FileNotFoundError(f"RealWorld folder {folder} not found (download from {REALWORLD_URL})")
    rate = REALWORLD_SAMPLE_RATE_HZ
    pieces: dict[str, list[np.ndarray]] = {p: [] for p in positions}
    labels: list[np.ndarray] = []
    for activity in activities:
        per_sensor = {}
        for sensor in sensors:
            zip_path = folder / f"{sensor}_{activity}_csv.zip"
            if not zip_path.is_file():
                raise FileNotFoundError(
                    f"RealWorld file {zip_path} not found (download from {REALWORLD_URL})"
                )
            per_sensor[sensor] = _sessions(zip_path, activity)
        for session in sorted(per_sensor[sensors[0]]):
            streams = {}
            for sensor in sensors:
                found = per_sensor[sensor].get(session, {})
                for position in positions:
                    if position not in found:
                        raise ValueError(
                            f"proband{subject} {activity} session {session}: no {sensor} data for position "
                            f"{position!r}; drop it from positions=..."
                        )
                    streams[f"{position}/{sensor}"] = found[position]
            _, samples, valid = synchronise_streams(streams, rate, max_gap_s=0.1, sort=True)
            for position in positions:
                block = np.concatenate([samples[f"{position}/{s}"] for s in sensors], axis=1)
                block[~valid] = np.nan
                pieces[position] += [block, np.full((1, block.shape[1]), np.nan, np.float32)]
            label = REALWORLD_ACTIVITIES.index(activity)
            labels += [np.full(len(valid), label, np.int64), np.array([label], np.int64)]
    if not labels:
        raise ValueError(f"proband{subject}: no sessions found for activities {activities}")
    channels = tuple(f"{s}_{axis}" for s in sensors for axis in "xyz")
    return MultiDeviceRecording(
        name=f"realworld/proband{subject}",
        subject=f"proband{subject}",
        devices={p: np.concatenate(pieces[p]).astype(np.float32) for p in positions},
        labels=np.concatenate(labels),
        sample_rate_hz=rate,
        class_names=REALWORLD_ACTIVITIES,
        channel_names={p: channels for p in positions},
    )
