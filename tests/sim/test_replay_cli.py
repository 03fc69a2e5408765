"""`robossl replay`: info, in-process replay, damaged-bag exit status."""

from __future__ import annotations

from pathlib import Path

from robossl.cli.main import main
from robossl.data.bags import BagWriter
from robossl.data.bags.message_builders import build_imu
from robossl.data.bags.typestore import default_typestore


def make_bag(path: Path, n: int = 400) -> Path:
    store = default_typestore()
    with BagWriter(path) as bag:
        for i in range(n):
            stamp = 10**9 + i * 5_000_000
            bag.write("/imu", stamp, build_imu(store, stamp, "imu", [i, 0, 0], [0, 0, 9.81]))
    return path


def test_info_lists_topics(tmp_path: Path, capsys) -> None:
    assert main(["replay", str(make_bag(tmp_path / "bag")), "--info"]) == 0
    out = capsys.readouterr().out
    assert "/imu" in out and "sensor_msgs/msg/Imu" in out and " 400 " in out


def test_in_process_replay_with_time_range(tmp_path: Path, capsys) -> None:
    bag = make_bag(tmp_path / "bag")
    assert main(["replay", str(bag), "--max-speed", "--start", "0.5", "--end", "1.0"]) == 0
    assert "replayed 100 messages" in capsys.readouterr().out


def test_damaged_bag_replays_readable_part_and_exits_1(tmp_path: Path, capsys) -> None:
    bag = make_bag(tmp_path / "bag")
    file = next(bag.glob("*.mcap"))
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    assert main(["replay", str(bag), "--max-speed"]) == 1
    captured = capsys.readouterr()
    replayed = int(captured.out.split("replayed ")[1].split()[0])
    assert 100 < replayed < 400
    assert "problem:" in captured.err and file.name in captured.err
    assert main(["replay", str(bag), "--strict"]) == 2
    assert "truncated or corrupted" in capsys.readouterr().err


def test_missing_bag_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["replay", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err
