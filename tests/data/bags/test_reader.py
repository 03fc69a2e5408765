"""Bag reading: real ROS 1 / rosbag2 files, topic and time selection, damaged and unknown input."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from robossl.data.bags import BagError, BagReader, BagWriter, iter_messages
from robossl.data.bags.message_builders import build_imu
from robossl.data.bags.messages import decode_imu
from robossl.data.bags.typestore import default_typestore

T0 = 1_700_000_000_000_000_000


def write_imu_bag(path: Path, n: int = 2000, storage: str = "mcap") -> Path:
    """n Imu messages 1 ms apart; angular_velocity.x = index."""
    store = default_typestore()
    with BagWriter(path, storage=storage) as bag:
        for i in range(n):
            stamp = T0 + i * 1_000_000
            bag.write("/imu", stamp, build_imu(store, stamp, "imu", [float(i), 0.0, 0.0], [0.0, 0.0, 9.81]))
            if i % 10 == 0:
                bag.write("/status", stamp, store.types["std_msgs/msg/String"](data=f"tick {i}"))
    return path


def storage_file(bag: Path) -> Path:
    return next(p for p in bag.iterdir() if p.suffix in (".mcap", ".db3"))


# ---------------------------------------------------------------------------------------------- real bags
# Expected counts were verified independently of robossl: ROS 1 with the bag's own index (rosbags
# rosbag1.Reader, connection counts), sqlite3 with SQL on the file (asserted live below too), mcap by the
# mcap summary statistics (rosbags storage reader) and the rosbag2 metadata.yaml.
REAL_BAGS = {
    "imu_tools/ardrone_imu.bag": {
        "/ardrone/imu": ("sensor_msgs/msg/Imu", 4308),
        "/ardrone/mag": ("sensor_msgs/msg/MagneticField", 4308),
    },
    "imu_tools/sparkfun_razor.bag": {
        "/imu/data_raw": ("sensor_msgs/msg/Imu", 2144),
        "/imu/mag": ("sensor_msgs/msg/MagneticField", 2144),
    },
    "rosbag2_fixtures/sqlite3_talker": {
        "/topic": ("std_msgs/msg/String", 10),
        "/rosout": ("rcl_interfaces/msg/Log", 10),
        "/parameter_events": ("rcl_interfaces/msg/ParameterEvent", 0),
    },
    "rosbag2_fixtures/mcap_talker": {
        "/topic": ("std_msgs/msg/String", 10),
        "/rosout": ("rcl_interfaces/msg/Log", 10),
        "/parameter_events": ("rcl_interfaces/msg/ParameterEvent", 0),
    },
    "rosbag2_fixtures/mcap_split_wbag": {
        name: ("std_msgs/msg/String", n)
        for name, n in zip(
            "AAA BBB CCC DDD EEE FFF GGG HHH".split(), (804, 742, 742, 753, 804, 772, 731, 726)
        )
    },
    "rosbag2_fixtures/empty_bag": {
        "/rosout": ("rcl_interfaces/msg/Log", 0),
        "/parameter_events": ("rcl_interfaces/msg/ParameterEvent", 0),
    },
}


@pytest.mark.data
@pytest.mark.parametrize("name", sorted(REAL_BAGS))
def test_reads_every_real_bag_with_exact_counts_and_types(real_data, name: str) -> None:
    path = real_data(f"rosbag/{name}")
    expected = REAL_BAGS[name]
    with BagReader(path, salvage=False) as bag:
        assert {t: (s.msgtype, s.count) for t, s in bag.topics.items()} == expected
        read: dict[str, int] = {}
        last = -1
        for m in bag.messages():
            assert m.msg is not None and m.msg.__msgtype__ == expected[m.topic][0]
            assert m.log_time_ns >= last, "messages must come in log-time order"
            last = m.log_time_ns
            read[m.topic] = read.get(m.topic, 0) + 1
        assert bag.problems == []
    assert read == {t: n for t, (_, n) in expected.items() if n}


@pytest.mark.data
def test_every_bag_in_the_data_folder_is_covered(real_data) -> None:
    root = real_data("rosbag")
    found = {str(p.relative_to(root)) for p in root.glob("*/*.bag")}
    found |= {str(p.parent.relative_to(root)) for p in root.glob("*/*/metadata.yaml")}
    assert found == set(REAL_BAGS), "a bag was added or removed: give it verified counts in REAL_BAGS"


@pytest.mark.data
def test_sqlite_fixture_counts_match_sql_on_the_file(real_data) -> None:
    folder = real_data("rosbag/rosbag2_fixtures/sqlite3_talker")
    db = sqlite3.connect(f"file:{folder / 'talker.db3'}?mode=ro", uri=True)
    sql = dict(
        db.execute(
            "SELECT t.name, COUNT(m.id) FROM topics t LEFT JOIN messages m ON m.topic_id = t.id GROUP BY t.name"
        )
    )
    db.close()
    with BagReader(folder) as bag:
        assert {t: s.count for t, s in bag.topics.items()} == sql
        texts = [m.msg.data for m in bag.messages(["/topic"])]
    assert texts == [f"Hello, world! {i}" for i in range(10)]


@pytest.mark.data
def test_ros1_imu_values_decode(real_data) -> None:
    path = real_data("rosbag/imu_tools/sparkfun_razor.bag")
    samples = [decode_imu(m.msg) for m in iter_messages(path, ["/imu/data_raw"])]
    assert len(samples) == 2144
    accel = np.array([s.linear_acceleration for s in samples])
    # a resting IMU measures gravity: the mean norm of the specific force is about 9.8 m/s^2
    assert 9.0 < np.linalg.norm(accel, axis=1).mean() < 10.6
    stamps = np.array([s.stamp_ns for s in samples])
    assert np.all(np.diff(stamps) >= 0)


# ---------------------------------------------------------------------------------------------- selection
@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_topic_selection_and_time_range(tmp_path: Path, storage: str) -> None:
    bag = write_imu_bag(tmp_path / "bag", n=1000, storage=storage)
    with BagReader(bag) as reader:
        assert reader.topics["/imu"].count == 1000 and reader.topics["/status"].count == 100
        assert reader.start_ns == T0 and reader.end_ns == T0 + 999 * 1_000_000
        imu = list(reader.messages(["/imu"], T0 + 100_000_000, T0 + 200_000_000))
    assert [m.msg.angular_velocity.x for m in imu] == [float(i) for i in range(100, 200)]
    status = [m.msg.data for m in iter_messages(bag, ["/status"], start=0.5, end=0.6)]
    assert status == [f"tick {i}" for i in range(500, 600, 10)]


def test_unknown_topic_names_the_available_ones(tmp_path: Path) -> None:
    bag = write_imu_bag(tmp_path / "bag", n=10)
    with BagReader(bag) as reader, pytest.raises(BagError, match=r"no topic\(s\) \['/nope'\].*'/imu'"):
        list(reader.messages(["/nope"]))


# ---------------------------------------------------------------------------------------------- damage
@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_truncated_bag_errors_then_salvages_the_readable_part(tmp_path: Path, storage: str) -> None:
    bag = write_imu_bag(tmp_path / "bag", n=2000, storage=storage)
    file = storage_file(bag)
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])
    with pytest.raises(BagError, match="truncated or corrupted") as info:
        BagReader(bag, salvage=False).open()
    assert file.name in str(info.value)
    with BagReader(bag) as reader:
        values = [m.msg.angular_velocity.x for m in reader.messages(["/imu"])]
        assert len(reader.problems) == 1 and file.name in reader.problems[0]
    # about half the file is intact; what is recovered is the first messages, in order (sqlite3 may also
    # keep later rows whose page lies before the cut while an earlier row's page lies after it)
    assert 500 < len(values) < 1500
    assert values[:500] == [float(i) for i in range(500)] and values == sorted(set(values))


def test_garbage_and_empty_files_name_the_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mcap"
    empty.write_bytes(b"")
    with pytest.raises(BagError, match=r"empty\.mcap.*empty \(0 bytes\)"):
        BagReader(empty, salvage=False).open()
    garbage = tmp_path / "garbage.db3"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(BagError, match=r"garbage\.db3"):
        BagReader(garbage).open()


def test_corrupted_bytes_inside_mcap_stop_with_problem(tmp_path: Path) -> None:
    bag = write_imu_bag(tmp_path / "bag", n=2000)
    file = storage_file(bag)
    data = bytearray(file.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = b"\xff" * 64  # smash records in the middle of the data section
    data[-8:] = b"BROKEN!!"  # and the footer, so the index cannot be trusted
    file.write_bytes(bytes(data))
    with BagReader(bag) as reader:
        values = [m.msg.angular_velocity.x for m in reader.messages(["/imu"])]
        assert reader.problems and file.name in reader.problems[0]
    assert 0 < len(values) < 2000
    assert values[:100] == [float(i) for i in range(100)]


def test_unknown_serialization_format_is_named(tmp_path: Path) -> None:
    from rosbags.rosbag2 import StoragePlugin, Writer

    store = default_typestore()
    path = tmp_path / "mixed"
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        good = writer.add_connection("/good", "std_msgs/msg/String", typestore=store)
        odd = writer.add_connection(
            "/odd", "std_msgs/msg/String", typestore=store, serialization_format="json"
        )
        writer.write(
            good,
            T0,
            store.serialize_cdr(store.types["std_msgs/msg/String"](data="ok"), "std_msgs/msg/String"),
        )
        writer.write(odd, T0 + 1, b'{"data": "json"}')
    with (
        BagReader(path, salvage=False) as reader,
        pytest.raises(BagError, match=r"'/odd'.*unknown serialization format 'json'"),
    ):
        list(reader.messages())
    with BagReader(path) as reader:
        assert [m.msg.data for m in reader.messages()] == ["ok"]
        assert any("'json'" in p and "mixed" in p for p in reader.problems)


def test_folder_without_metadata_is_read_from_storage(tmp_path: Path) -> None:
    bag = write_imu_bag(tmp_path / "bag", n=50)
    (bag / "metadata.yaml").unlink()
    with BagReader(bag) as reader:
        assert reader.topics["/imu"].count == 50
        assert sum(1 for _ in reader.messages()) == 55
        assert "metadata.yaml" in reader.problems[0]


def test_missing_split_file_is_reported_and_rest_read(tmp_path: Path, real_data) -> None:
    source = real_data("rosbag/rosbag2_fixtures/mcap_split_wbag")
    copy = tmp_path / "split"
    shutil.copytree(source, copy)
    (copy / "wbag_4.mcap").unlink()
    with BagReader(copy) as reader:
        total = sum(1 for _ in reader.messages())
        assert any("wbag_4.mcap" in p and "missing" in p for p in reader.problems)
    with BagReader(source) as full:
        lost = sum(c.count for c in full.connections if c.source_path.name == "wbag_4.mcap")
    assert total == 6074 - lost and lost > 0
    with pytest.raises(BagError, match="wbag_4.mcap"):
        BagReader(copy, salvage=False).open()


def test_unknown_storage_and_suffix(tmp_path: Path) -> None:
    folder = tmp_path / "weird"
    folder.mkdir()
    (folder / "metadata.yaml").write_text(
        "rosbag2_bagfile_information:\n  storage_identifier: foo\n  relative_file_paths: [a.foo]\n"
    )
    with pytest.raises(BagError, match="unknown storage identifier 'foo'"):
        BagReader(folder).open()
    other = tmp_path / "x.txt"
    other.write_text("hi")
    with pytest.raises(BagError, match=r"unknown bag format \(suffix '\.txt'\)"):
        BagReader(other).open()


def test_writer_refuses_existing_folder_and_conflicting_types(tmp_path: Path) -> None:
    bag = write_imu_bag(tmp_path / "bag", n=1)
    with pytest.raises(BagError, match="exists already"):
        BagWriter(bag)
    store = default_typestore()
    with BagWriter(tmp_path / "new") as writer:
        writer.write("/a", T0, store.types["std_msgs/msg/String"](data="x"))
        with pytest.raises(BagError, match="added as std_msgs/msg/String"):
            writer.write("/a", T0, build_imu(store, T0, "imu", [0, 0, 0], [0, 0, 0]))


@pytest.mark.data
def test_truncated_real_ros1_bag_salvages_leading_messages(real_data, tmp_path: Path) -> None:
    source = real_data("rosbag/imu_tools/ardrone_imu.bag")
    cut = tmp_path / "cut.bag"
    data = source.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(BagError, match=r"cut\.bag.*truncated or corrupted"):
        BagReader(cut, salvage=False).open()
    with BagReader(cut) as reader:
        salvaged = list(reader.messages())
        assert "cut.bag" in reader.problems[0] and "Recovered" in reader.problems[0]
    with BagReader(source) as reader:
        full = list(reader.messages())
    assert 0.4 * len(full) < len(salvaged) < 0.7 * len(full)
    assert [(m.topic, m.log_time_ns, bytes(m.raw)) for m in salvaged] == [
        (m.topic, m.log_time_ns, bytes(m.raw)) for m in full[: len(salvaged)]
    ]
    assert salvaged[-1].msg.__msgtype__ in ("sensor_msgs/msg/Imu", "sensor_msgs/msg/MagneticField")


@pytest.mark.data
def test_ros1_messages_convert_to_ros2_cdr(real_data) -> None:
    store = default_typestore()
    with BagReader(real_data("rosbag/imu_tools/ardrone_imu.bag")) as reader:
        assert reader.is_ros1
        for message in list(reader.messages(["/ardrone/imu"]))[:20]:
            ros2 = store.deserialize_cdr(reader.to_cdr(message), "sensor_msgs/msg/Imu")
            assert ros2.header.stamp.sec == message.msg.header.stamp.sec
            assert ros2.header.frame_id == message.msg.header.frame_id
            assert ros2.angular_velocity.z == message.msg.angular_velocity.z


@pytest.mark.parametrize(
    ("plugin", "mode"),
    [("MCAP", "FILE"), ("MCAP", "MESSAGE"), ("MCAP", "STORAGE"), ("SQLITE3", "FILE"), ("SQLITE3", "MESSAGE")],
)
def test_reads_zstd_compressed_bags(tmp_path: Path, plugin: str, mode: str) -> None:
    from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer

    store = default_typestore()
    writer = Writer(tmp_path / "bag", version=9, storage_plugin=StoragePlugin[plugin])
    writer.set_compression(CompressionMode[mode], CompressionFormat.ZSTD)
    with writer:
        conn = writer.add_connection("/imu", "sensor_msgs/msg/Imu", typestore=store)
        for i in range(50):
            msg = build_imu(store, T0 + i, "imu", [float(i), 0, 0], [0, 0, 9.81])
            writer.write(conn, T0 + i, store.serialize_cdr(msg, "sensor_msgs/msg/Imu"))
    with BagReader(tmp_path / "bag", salvage=False) as reader:
        assert reader.topics["/imu"].count == 50
        assert [m.msg.angular_velocity.x for m in reader.messages()] == [float(i) for i in range(50)]


@pytest.mark.data
@pytest.mark.parametrize("name", ["rosbag2_fixtures/mcap_talker", "rosbag2_fixtures/mcap_split_wbag"])
def test_mcap_index_counts_equal_a_full_record_scan(real_data, name: str) -> None:
    from robossl.data.bags.mcap_scan import McapScanSource
    from robossl.data.bags.sources import RosbagsSource

    for file in sorted(real_data(f"rosbag/{name}").glob("*.mcap")):
        indexed = RosbagsSource(file)
        scanned = McapScanSource(file)
        try:
            assert scanned.damaged == []
            assert {c.topic: c.count for c in scanned.connections} == {
                c.topic: c.count for c in indexed.connections
            }
        finally:
            indexed.close()
            scanned.close()
