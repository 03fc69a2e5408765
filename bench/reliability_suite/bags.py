"""Reliability section 3: damaged bags read through robossl's normal reader, against the intact bag.

Three intact bags hold the same ``N`` sensor_msgs/Imu messages (1 ms apart, ``angular_velocity.x`` =
index) plus a std_msgs/String every 10th message: ROS 1 (written with ``rosbags.rosbag1``, its default
1 MiB chunks, uncompressed), rosbag2 sqlite3 and rosbag2 mcap (written with robossl's BagWriter).

Damaged variants of each: the storage file truncated to 10 / 50 / 90 % of its bytes; a 4 KiB block of
random bytes written over the middle; a zero-length storage file; and the bag's metadata damaged or
missing (rosbag2: ``metadata.yaml`` garbled / deleted; ROS 1: the index section after the last chunk
garbled, the bag header record garbled, the file cut where the index starts).

Each variant is read like ``robossl replay`` does (``BagReader(path)``, salvage on, every message
decoded). Counted: messages recovered intact (same topic, log time and bytes as in the intact bag),
messages delivered with different content (corrupted but passed on), refusals with the named
``BagError`` (fine), and any other exception (escaping).
"""

from __future__ import annotations

import shutil
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np

T0 = 1_700_000_000_000_000_000
BLOCK_BYTES = 4096  # size of the random block written over the middle of the file
ROS1_MAGIC = b"#ROSBAG V2.0\n"


def _imu_values(i: int) -> tuple[list[float], list[float]]:
    return [float(i), 0.5 * i, -float(i)], [0.0, 0.1 * (i % 17), 9.81]


def write_ros1(path: Path, n: int) -> Path:
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS1_NOETIC)
    Imu, Header, Time = (
        store.types[t] for t in ("sensor_msgs/msg/Imu", "std_msgs/msg/Header", "builtin_interfaces/msg/Time")
    )
    Vector3, Quaternion = (
        store.types["geometry_msgs/msg/Vector3"],
        store.types["geometry_msgs/msg/Quaternion"],
    )
    String = store.types["std_msgs/msg/String"]
    with Writer(path) as writer:
        imu = writer.add_connection("/imu", "sensor_msgs/msg/Imu", typestore=store)
        status = writer.add_connection("/status", "std_msgs/msg/String", typestore=store)
        for i in range(n):
            stamp = T0 + i * 1_000_000
            gyro, accel = _imu_values(i)
            msg = Imu(
                header=Header(seq=i, stamp=Time(sec=stamp // 10**9, nanosec=stamp % 10**9), frame_id="imu"),
                orientation=Quaternion(x=0.0, y=0.0, z=0.0, w=1.0),
                orientation_covariance=np.array([-1.0] + [0.0] * 8),
                angular_velocity=Vector3(x=gyro[0], y=gyro[1], z=gyro[2]),
                angular_velocity_covariance=np.zeros(9),
                linear_acceleration=Vector3(x=accel[0], y=accel[1], z=accel[2]),
                linear_acceleration_covariance=np.zeros(9),
            )
            writer.write(imu, stamp, store.serialize_ros1(msg, "sensor_msgs/msg/Imu"))
            if i % 10 == 0:
                writer.write(
                    status, stamp, store.serialize_ros1(String(data=f"tick {i}"), "std_msgs/msg/String")
                )
    return path


def write_rosbag2(path: Path, n: int, storage: str) -> Path:
    from robossl.data.bags import BagWriter
    from robossl.data.bags.message_builders import build_imu
    from robossl.data.bags.typestore import default_typestore

    store = default_typestore()
    with BagWriter(path, storage=storage) as bag:
        for i in range(n):
            stamp = T0 + i * 1_000_000
            gyro, accel = _imu_values(i)
            bag.write("/imu", stamp, build_imu(store, stamp, "imu", gyro, accel))
            if i % 10 == 0:
                bag.write("/status", stamp, store.types["std_msgs/msg/String"](data=f"tick {i}"))
    return path


def storage_file(bag: Path) -> Path:
    """The file holding the messages: the .bag itself, or the .mcap/.db3 inside a rosbag2 folder."""
    if bag.is_file():
        return bag
    return next(p for p in sorted(bag.iterdir()) if p.suffix in (".mcap", ".db3"))


def _ros1_index_pos(data: bytes) -> int:
    """``index_pos`` from the ROS 1 bag header record (where the connection/chunk-info index starts)."""
    pos = len(ROS1_MAGIC)
    (header_len,) = struct.unpack_from("<I", data, pos)
    header = data[pos + 4 : pos + 4 + header_len]
    i = 0
    while i < len(header):
        (field_len,) = struct.unpack_from("<I", header, i)
        name, _, value = header[i + 4 : i + 4 + field_len].partition(b"=")
        if name == b"index_pos":
            return int(struct.unpack("<Q", value)[0])
        i += 4 + field_len
    raise ValueError("ROS 1 bag header has no index_pos")


def make_variants(intact: Path, kind: str, out: Path, rng: np.random.Generator) -> dict[str, Path]:
    """Damaged copies of ``intact`` (a .bag file or rosbag2 folder) under ``out``; name -> path."""
    variants: dict[str, Path] = {}

    def copy(name: str) -> tuple[Path, Path]:
        target = out / f"{kind}_{name}"
        if intact.is_file():
            target = target.with_suffix(".bag")
            shutil.copyfile(intact, target)
        else:
            shutil.copytree(intact, target)
        variants[name] = target
        return target, storage_file(target)

    size = storage_file(intact).stat().st_size
    for percent in (10, 50, 90):
        _, file = copy(f"truncated_to_{percent}pct")
        file.write_bytes(file.read_bytes()[: size * percent // 100])
    _, file = copy("block_corrupted")
    block = bytearray(file.read_bytes())
    middle = len(block) // 2
    block[middle : middle + BLOCK_BYTES] = rng.integers(0, 256, BLOCK_BYTES, dtype=np.uint8).tobytes()
    file.write_bytes(bytes(block))
    _, file = copy("zero_length")
    file.write_bytes(b"")
    if kind == "ros1":
        data = storage_file(intact).read_bytes()
        index_pos = _ros1_index_pos(data)
        _, file = copy("index_damaged")
        damaged = bytearray(data)
        tail = len(damaged) - index_pos
        damaged[index_pos:] = rng.integers(0, 256, tail, dtype=np.uint8).tobytes()
        file.write_bytes(bytes(damaged))
        _, file = copy("index_missing")
        file.write_bytes(data[:index_pos])
        _, file = copy("header_damaged")
        damaged = bytearray(data)
        damaged[len(ROS1_MAGIC) : len(ROS1_MAGIC) + 4096] = rng.integers(
            0, 256, 4096, dtype=np.uint8
        ).tobytes()
        file.write_bytes(bytes(damaged))
    else:
        folder, _ = copy("metadata_damaged")
        meta = folder / "metadata.yaml"
        text = meta.read_bytes()
        meta.write_bytes(text[: len(text) // 2] + rng.integers(0, 256, 64, dtype=np.uint8).tobytes())
        folder, _ = copy("metadata_missing")
        (folder / "metadata.yaml").unlink()
    return variants


def read_all(path: Path) -> dict[str, Any]:
    """Read a bag as ``robossl replay`` does; outcome, messages and problems."""
    from robossl.data.bags import BagError, BagReader

    messages: list[tuple[str, int, bytes]] = []
    result: dict[str, Any] = {"outcome": "read"}
    try:
        with BagReader(path) as reader:
            for m in reader.messages():
                messages.append((m.topic, m.log_time_ns, bytes(m.raw)))
            result["problems"] = len(reader.problems)
            result["decode_errors"] = reader.stats.decode_errors
            for name in ("recovered", "lost", "salvaged", "skipped"):  # counts a reader may report
                value = getattr(reader, name, None)
                if isinstance(value, int):
                    result[f"reader_{name}"] = value
    except BagError as exc:
        result["outcome"] = "refused"
        result["error"] = str(exc)[:300]
    except Exception as exc:  # noqa: BLE001 - counting what escapes is the point
        result["outcome"] = "escaping"
        result["error"] = f"{type(exc).__name__}: {exc}"[:300]
    result["messages"] = messages
    return result


def run(messages: int, workdir: Path, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    workdir.mkdir(parents=True, exist_ok=True)
    intact = {
        "ros1": write_ros1(workdir / "intact_ros1.bag", messages),
        "sqlite3": write_rosbag2(workdir / "intact_sqlite3", messages, "sqlite3"),
        "mcap": write_rosbag2(workdir / "intact_mcap", messages, "mcap"),
    }
    rows: dict[str, Any] = {}
    escaping = 0
    for kind, path in intact.items():
        reference = read_all(path)
        if reference["outcome"] != "read":
            raise RuntimeError(f"the intact {kind} bag {path} did not read: {reference.get('error')}")
        truth = {(t, stamp): raw for t, stamp, raw in reference["messages"]}
        rows[f"{kind}/intact"] = {"messages": len(truth), "recovered_fraction": 1.0}
        for name, variant in make_variants(path, kind, workdir, rng).items():
            got = read_all(variant)
            intact_count = sum(1 for t, stamp, raw in got["messages"] if truth.get((t, stamp)) == raw)
            row = {
                "outcome": got["outcome"],
                "recovered": intact_count,
                "recovered_fraction": round(intact_count / len(truth), 4),
                "corrupted_delivered": len(got["messages"]) - intact_count,
                **{k: v for k, v in got.items() if k not in ("messages", "outcome")},
            }
            escaping += got["outcome"] == "escaping"
            rows[f"{kind}/{name}"] = row
    return {
        "intact_messages": {kind: rows[f"{kind}/intact"]["messages"] for kind in intact},
        "variants": rows,
        "escaping_exceptions": escaping,
        "corrupted_messages_delivered": sum(r.get("corrupted_delivered", 0) for r in rows.values()),
        "ros1_block_corrupted_recovered_fraction": rows["ros1/block_corrupted"]["recovered_fraction"],
        "block_bytes": BLOCK_BYTES,
        "seconds": round(time.perf_counter() - started, 1),
    }
