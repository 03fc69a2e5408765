"""Bag salvage inside a damaged file (issue 23, items 3, 4 and the replay parts of 9).

Every bag here is a real file: written by the ``rosbags`` writers (ROS 1 ``.bag``, rosbag2 mcap / sqlite3)
or the project's :class:`~robossl.data.bags.BagWriter`, or a real bag from the data folder; the damage is
done to the bytes on disk. Expected messages come from the intact file, located by an oracle that does not
share code with the reader (payload offsets found with ``bytes.find``, chunk bounds from the file's own
index).
"""

from __future__ import annotations

import random
import shutil
import struct
from pathlib import Path

import pytest

from robossl.cli.main import main
from robossl.data.bags import BagError, BagReader

T0 = 1_700_000_000_000_000_000
BLOCK = 4096


def _text(rng: random.Random, i: int, size: int) -> str:
    """Unique, poorly compressible text for message ``i`` (its payload can be found in the file)."""
    letters = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(size))
    return f"message {i:07d} {letters}"


def write_ros1_bag(path: Path, n: int, size: int = 200, compression: str | None = None) -> Path:
    """n std_msgs/String messages on two topics, 1 ms apart; chunks of 64 KiB."""
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS1_NOETIC)
    string = store.types["std_msgs/msg/String"]
    rng = random.Random(1)
    writer = Writer(path)
    writer.chunk_threshold = 64 * 1024
    if compression is not None:
        writer.set_compression(Writer.CompressionFormat[compression])
    with writer:
        conns = [writer.add_connection(t, "std_msgs/msg/String", typestore=store) for t in ("/a", "/b")]
        for i in range(n):
            raw = store.serialize_ros1(string(data=_text(rng, i, size)), "std_msgs/msg/String")
            writer.write(conns[i % 2], T0 + i * 1_000_000, raw)
    return path


def write_rosbag2(path: Path, n: int, size: int = 200, storage: str = "mcap", zstd: bool = False) -> Path:
    """A rosbag2 folder with n std_msgs/String messages on two topics, 1 ms apart."""
    from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    string = store.types["std_msgs/msg/String"]
    rng = random.Random(2)
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    writer = Writer(path, version=9, storage_plugin=plugin)
    if zstd:
        writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    with writer:
        conns = [writer.add_connection(t, "std_msgs/msg/String", typestore=store) for t in ("/a", "/b")]
        for i in range(n):
            raw = store.serialize_cdr(string(data=_text(rng, i, size)), "std_msgs/msg/String")
            writer.write(conns[i % 2], T0 + i * 1_000_000, raw)
    return path


def storage_file(bag: Path) -> Path:
    return next(p for p in bag.iterdir() if p.suffix in (".mcap", ".db3"))


def read_all(path: Path, salvage: bool = True) -> tuple[list[tuple[str, int, bytes]], list[str]]:
    with BagReader(path, salvage=salvage) as bag:
        messages = [(m.topic, m.log_time_ns, bytes(m.raw)) for m in bag.messages()]
        return messages, list(bag.problems)


def overwrite(file: Path, offset: int, size: int = BLOCK, fill: bytes = b"\0") -> None:
    data = bytearray(file.read_bytes())
    data[offset : offset + size] = fill * size
    file.write_bytes(bytes(data))


def payload_spans(data: bytes, intact: list[tuple[str, int, bytes]]) -> list[tuple[int, int]]:
    """(start, end) byte offsets of each intact message's serialised bytes in an uncompressed file."""
    spans = []
    for _, _, raw in intact:
        start = data.find(raw)
        assert start >= 0 and data.find(raw, start + 1) < 0, "payloads must be unique in the file"
        spans.append((start, start + len(raw)))
    return spans


def is_subsequence(part: list, whole: list) -> bool:
    it = iter(whole)
    return all(any(item == other for other in it) for item in part)


# ---------------------------------------------------------------------------------------------- ROS 1
@pytest.mark.data
def test_real_ros1_bag_with_overwritten_index_block_recovers_every_message(real_data, tmp_path: Path) -> None:
    """The issue's case: a 4 KiB block of a chunk's index records zeroed; rosbags' index read returns 0."""
    from rosbags.rosbag1 import Reader

    source = real_data("rosbag/imu_tools/sparkfun_razor.bag")
    intact, _ = read_all(source)
    assert len(intact) == 4288
    with Reader(source) as index:
        first, second = index.chunk_infos[0].pos, index.chunk_infos[1].pos
        chunk = index.chunks[first]
        index_start = chunk.datapos + chunk.datasize  # the chunk's IndexData records follow its data
    offset = -(-index_start // BLOCK) * BLOCK
    assert offset + BLOCK <= second, "the block must lie in the index records between the two chunks"
    damaged = tmp_path / "damaged.bag"
    shutil.copy(source, damaged)
    damaged.chmod(0o644)
    overwrite(damaged, offset)

    recovered, problems = read_all(damaged)
    assert recovered == intact
    assert problems and "damaged.bag" in problems[0]
    with pytest.raises(BagError, match=r"damaged\.bag"):
        read_all(damaged, salvage=False)


def test_ros1_block_inside_an_uncompressed_chunk_loses_only_the_messages_it_covers(tmp_path: Path) -> None:
    bag = write_ros1_bag(tmp_path / "run.bag", 3000)
    intact, _ = read_all(bag)
    data = bag.read_bytes()
    spans = payload_spans(data, intact)
    offset = spans[1500][0] // BLOCK * BLOCK
    overwrite(bag, offset)

    recovered, problems = read_all(bag)
    assert is_subsequence(recovered, intact)
    assert len(recovered) >= 0.99 * len(intact)
    # a message is lost only if the block covers its record (header <= 64 bytes before the payload), or it
    # is the record just before the block: ROS 1 has no checksums to tell whether the damage began inside it
    before = [i for i, (_, end) in enumerate(spans) if end <= offset]
    after = [i for i, (start, _) in enumerate(spans) if start - 64 >= offset + BLOCK]
    untouched = [intact[i] for i in before[:-1] + after]
    assert set(untouched) <= set(recovered)
    assert any("run.bag" in p for p in problems)


def test_ros1_block_inside_a_compressed_chunk_loses_only_that_chunk(tmp_path: Path) -> None:
    from rosbags.rosbag1 import Reader

    bag = write_ros1_bag(tmp_path / "run.bag", 4000, size=400, compression="BZ2")
    intact, _ = read_all(bag)
    with Reader(bag) as index:
        assert len(index.chunk_infos) >= 4
        victim = index.chunk_infos[1]
        chunk = index.chunks[victim.pos]
        lost_times = {
            entry.time
            for entries in index.indexes.values()
            for entry in entries
            if entry.chunk_pos == victim.pos
        }
    overwrite(bag, chunk.datapos + chunk.datasize // 2, size=256)

    recovered, _ = read_all(bag)
    assert recovered == [m for m in intact if m[1] not in lost_times]
    assert 0 < len(lost_times) < len(intact) // 3


def test_ros1_bag_with_its_first_block_zeroed_recovers_the_later_chunks(tmp_path: Path) -> None:
    """Magic, bag header and the start of the first chunk are gone; the records after are still found."""
    bag = write_ros1_bag(tmp_path / "run.bag", 3000)
    intact, _ = read_all(bag)
    spans = payload_spans(bag.read_bytes(), intact)
    overwrite(bag, 0)

    recovered, problems = read_all(bag)
    untouched = [m for m, (s, _) in zip(intact, spans, strict=True) if s - 64 >= BLOCK]
    assert recovered == untouched or (is_subsequence(recovered, intact) and set(untouched) <= set(recovered))
    assert any("run.bag" in p for p in problems)


# ---------------------------------------------------------------------------------------------- mcap
def _mcap_chunks(data: bytes) -> list[tuple[int, int, int]]:
    """(start offset, length, message_end_time) of every chunk, from the file's summary (chunk index)."""
    summary_start = struct.unpack_from("<Q", data, len(data) - 8 - 20)[0]  # footer field 1
    chunks, pos = [], summary_start
    while data[pos] != 0x02:  # footer
        (length,) = struct.unpack_from("<Q", data, pos + 1)
        if data[pos] == 0x08:  # chunk index
            _, end_time, start, size = struct.unpack_from("<QQQQ", data, pos + 9)
            chunks.append((start, size, end_time))
        pos += 9 + length
    return chunks


def add_chunk_checksums(file: Path) -> None:
    """Write each chunk's CRC-32 into its header, as rosbag2's mcap writer does (rosbags writes 0: none)."""
    import zlib

    from rosbags.rosbag2.storage_mcap import decompress

    data = bytearray(file.read_bytes())
    pos = 8
    while data[pos] != 0x0F:  # data end
        (length,) = struct.unpack_from("<Q", data, pos + 1)
        if data[pos] == 0x06:
            (size,) = struct.unpack_from("<Q", data, pos + 9 + 16)
            (name_len,) = struct.unpack_from("<I", data, pos + 9 + 28)
            compression = bytes(data[pos + 9 + 32 : pos + 9 + 32 + name_len]).decode()
            records = pos + 9 + 40 + name_len
            raw = decompress(bytes(data[records : pos + 9 + length]), compression, size, 0)
            struct.pack_into("<I", data, pos + 9 + 24, zlib.crc32(raw))
        pos += 9 + length
    file.write_bytes(bytes(data))


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_zstd_mcap_recovers_every_complete_chunk_before_the_cut(
    tmp_path: Path, fraction: float
) -> None:
    from robossl.data.bags import salvage_counts

    bag = write_rosbag2(tmp_path / "bag", 12000, size=400, zstd=True)
    file = storage_file(bag)
    intact, _ = read_all(bag)
    data = file.read_bytes()
    chunks = _mcap_chunks(data)
    assert len(chunks) >= 4
    cut = int(len(data) * fraction)
    complete = [end for start, size, end in chunks if start + size <= cut]
    minimum = sum(1 for m in intact if complete and m[1] <= complete[-1])
    file.write_bytes(data[:cut])

    recovered, problems = read_all(bag)
    assert recovered == intact[: len(recovered)]
    assert len(recovered) >= minimum
    counts = salvage_counts(bag)
    assert counts.recovered == len(recovered)
    assert counts.damaged_regions >= 1
    assert any(f"recovered {len(recovered)}" in p.lower() for p in problems)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_uncompressed_mcap_recovers_every_record_before_the_cut(
    tmp_path: Path, fraction: float
) -> None:
    from robossl.data.bags import salvage_counts

    bag = write_rosbag2(tmp_path / "bag", 3000)
    file = storage_file(bag)
    intact, _ = read_all(bag)
    data = file.read_bytes()
    spans = payload_spans(data, intact)
    cut = int(len(data) * fraction)
    file.write_bytes(data[:cut])

    recovered, _ = read_all(bag)
    assert recovered == [m for m, (_, end) in zip(intact, spans, strict=True) if end <= cut]
    assert salvage_counts(bag).recovered == len(recovered)


def test_mcap_with_a_damaged_chunk_in_the_middle_reads_the_chunks_after_it(tmp_path: Path) -> None:
    """The summary is intact, so the indexed read starts fine and fails at the damaged chunk's checksum."""
    from robossl.data.bags import salvage_counts

    bag = write_rosbag2(tmp_path / "bag", 12000, size=400, zstd=True)
    file = storage_file(bag)
    add_chunk_checksums(file)
    intact, _ = read_all(bag)
    chunks = _mcap_chunks(file.read_bytes())
    start, size, end_time = chunks[1]
    previous_end = chunks[0][2]
    overwrite(file, start + size // 2)

    recovered, problems = read_all(bag)
    assert recovered == [m for m in intact if not previous_end < m[1] <= end_time]
    lost = len(intact) - len(recovered)
    counts = salvage_counts(bag)
    assert (counts.recovered, counts.lost) == (len(recovered), lost)
    assert counts.damaged_regions == 1
    assert any(f"{lost} lost" in p for p in problems)


def test_mcap_with_an_overwritten_chunk_header_resyncs_at_the_next_chunk(tmp_path: Path) -> None:
    bag = write_rosbag2(tmp_path / "bag", 12000, size=400, zstd=True)
    file = storage_file(bag)
    intact, _ = read_all(bag)
    data = file.read_bytes()
    chunks = _mcap_chunks(data)
    start, _, end_time = chunks[2]
    previous_end = chunks[1][2]
    # smash the chunk's header and the footer, so no index can say where the next chunk starts
    overwrite(file, start, size=64, fill=b"\xff")
    overwrite(file, len(data) - 8, size=8, fill=b"\xff")

    recovered, _ = read_all(bag)
    assert recovered == [m for m in intact if not previous_end < m[1] <= end_time]


# ---------------------------------------------------------------------------------------------- sqlite3
@pytest.mark.parametrize("n", [20, 2000])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_sqlite3_recovers_every_row_the_file_still_holds(
    tmp_path: Path, n: int, fraction: float
) -> None:
    bag = write_rosbag2(tmp_path / "bag", n, storage="sqlite3")
    file = storage_file(bag)
    intact, _ = read_all(bag)
    data = file.read_bytes()
    spans = payload_spans(data, intact)
    cut = int(len(data) * fraction)
    file.write_bytes(data[:cut])
    # rows are readable when their bytes and the tables naming their topics survive (page 4: topics)
    expected = [m for m, (_, end) in zip(intact, spans, strict=True) if end <= cut] if cut >= 4 * 4096 else []

    try:
        recovered, problems = read_all(bag)
    except BagError as exc:  # nothing readable: acceptable only when nothing was expected
        assert not expected, exc
        assert "bag.db3" in str(exc)
        return
    assert recovered == expected
    assert any("bag.db3" in p for p in problems)


def test_sqlite3_with_a_zeroed_page_loses_only_the_rows_on_it(tmp_path: Path) -> None:
    from robossl.data.bags import salvage_counts

    bag = write_rosbag2(tmp_path / "bag", 2000, storage="sqlite3")
    file = storage_file(bag)
    intact, _ = read_all(bag)
    spans = payload_spans(file.read_bytes(), intact)
    page = spans[1000][0] // BLOCK * BLOCK
    overwrite(file, page)

    recovered, problems = read_all(bag)
    assert recovered == [m for m, (s, _) in zip(intact, spans, strict=True) if not page <= s < page + BLOCK]
    counts = salvage_counts(bag)
    assert counts.recovered == len(recovered) and counts.lost == len(intact) - len(recovered)
    assert any("bag.db3" in p for p in problems)


def test_sqlite3_rows_with_overflow_pages_survive_a_zeroed_page(tmp_path: Path) -> None:
    """Messages of 10 KB span overflow pages; a zeroed page costs at most the few rows that used it."""
    bag = write_rosbag2(tmp_path / "bag", 300, size=10_000, storage="sqlite3")
    file = storage_file(bag)
    intact, _ = read_all(bag)
    overwrite(file, file.stat().st_size // 2 // BLOCK * BLOCK)

    recovered, _ = read_all(bag)
    assert is_subsequence(recovered, intact)
    assert len(intact) - 3 <= len(recovered) < len(intact)


# ---------------------------------------------------------------------------------------------- metadata.yaml
@pytest.mark.parametrize(
    "content",
    [
        b"rosbag2_bagfile_information:\n  version: \xff\xfe9\n",
        b"[" * 100_000,
        b"\x00\x01\x02 not yaml",
        b"- a list",
    ],
    ids=["non-utf8", "deeply-nested", "binary", "wrong-structure"],
)
def test_damaged_metadata_yaml_is_named_and_the_storage_files_are_read(
    tmp_path: Path, content: bytes
) -> None:
    bag = write_rosbag2(tmp_path / "bag", 50)
    intact, _ = read_all(bag)
    (bag / "metadata.yaml").write_bytes(content)

    with pytest.raises(BagError, match=r"metadata\.yaml"):
        read_all(bag, salvage=False)
    recovered, problems = read_all(bag)
    assert recovered == intact
    assert len(problems) == 1 and "metadata.yaml" in problems[0] and "bag.mcap" in problems[0]


# ---------------------------------------------------------------------------------------------- CLI and API
def test_replay_info_reports_damage_and_strict_exits_non_zero(tmp_path: Path, capsys) -> None:
    bag = write_rosbag2(tmp_path / "bag", 12000, size=400, zstd=True)
    file = storage_file(bag)
    add_chunk_checksums(file)
    start, size, _ = _mcap_chunks(file.read_bytes())[1]
    overwrite(file, start + size // 2)
    capsys.readouterr()

    assert main(["replay", str(bag), "--info"]) == 1
    err = capsys.readouterr().err
    assert "bag.mcap" in err and "lost" in err and "damaged region" in err
    assert main(["replay", str(bag), "--info", "--strict"]) == 2
    assert "bag.mcap" in capsys.readouterr().err


def test_replay_info_flags_a_topic_in_an_unknown_serialization_format(tmp_path: Path, capsys) -> None:
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    with Writer(tmp_path / "mixed", version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        good = writer.add_connection("/good", "std_msgs/msg/String", typestore=store)
        odd = writer.add_connection(
            "/odd", "std_msgs/msg/String", typestore=store, serialization_format="json"
        )
        ok = store.serialize_cdr(store.types["std_msgs/msg/String"](data="ok"), "std_msgs/msg/String")
        writer.write(good, T0, ok)
        writer.write(odd, T0 + 1, b'{"data": "json"}')

    assert main(["replay", str(tmp_path / "mixed"), "--info"]) == 1
    err = capsys.readouterr().err
    assert "'/odd'" in err and "'json'" in err


def test_salvage_counts_of_an_intact_bag_are_exact(tmp_path: Path) -> None:
    from robossl.data.bags import salvage_counts

    bag = write_rosbag2(tmp_path / "bag", 200)
    counts = salvage_counts(bag)
    assert (counts.recovered, counts.lost, counts.damaged_regions) == (200, 0, 0)
