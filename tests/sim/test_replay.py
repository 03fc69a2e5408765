"""Record an in-process sim stream, replay it in-process: identical messages, pacing, selection."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from robossl.data.bags.message_builders import build_image, build_imu
from robossl.data.bags.messages import decode_image, decode_imu
from robossl_sim.recorder import Recorder
from robossl_sim.replay import ReplayConfig, Replayer

T0 = 1_000_000_000_000
FRAME_NS = 50_000_000  # 20 Hz camera
IMU_NS = 5_000_000  # 200 Hz IMU


def sim_stream(seconds: float, seed: int = 0):
    """A deterministic generated Image + Imu stream: (topic, stamp_ns, payload)."""
    rng = np.random.default_rng(seed)
    for k in range(int(seconds * 1e9) // IMU_NS):
        stamp = T0 + k * IMU_NS
        yield "/imu", stamp, (rng.normal(size=3), rng.normal(size=3) + [0, 0, 9.81])
        if k % (FRAME_NS // IMU_NS) == 0:
            yield "/cam/image_raw", stamp, rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)


def record_sim(path: Path, seconds: float, storage: str = "mcap", topics=None) -> tuple[list, Recorder]:
    sent = []
    with Recorder(path, storage=storage, topics=topics) as rec:
        store = rec.typestore
        for topic, stamp, payload in sim_stream(seconds):
            if topic == "/imu":
                msg = build_imu(store, stamp, "imu", payload[0], payload[1])
            else:
                msg = build_image(store, stamp, "cam", payload, "rgb8")
            if rec.record(topic, stamp, msg):
                sent.append((topic, stamp, store.serialize_cdr(msg, msg.__msgtype__), payload))
    return sent, rec


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_record_then_replay_gives_identical_messages(tmp_path: Path, storage: str) -> None:
    sent, rec = record_sim(tmp_path / "run", 1.0, storage)
    assert rec.counts == {"/imu": 200, "/cam/image_raw": 20}
    got = []
    stats = Replayer(tmp_path / "run", ReplayConfig(rate=None)).run(got.append)
    assert stats.messages == len(sent) == 220
    for (topic, stamp, raw, payload), m in zip(sent, got):
        assert (m.topic, m.log_time_ns) == (topic, stamp)
        assert bytes(m.raw) == bytes(raw)
        if topic == "/imu":
            sample = decode_imu(m.msg)
            np.testing.assert_array_equal(sample.angular_velocity, payload[0])
            assert sample.stamp_ns == stamp
        else:
            image_stamp, image = decode_image(m.msg)
            assert image_stamp == stamp
            np.testing.assert_array_equal(image, payload)


def test_recorder_keeps_only_chosen_topics(tmp_path: Path) -> None:
    _, rec = record_sim(tmp_path / "run", 0.5, topics=["/cam/image_raw"])
    assert rec.counts == {"/cam/image_raw": 10} and rec.ignored == 100


def test_paced_replay_follows_the_rate(tmp_path: Path) -> None:
    record_sim(tmp_path / "run", 1.0)
    begin = time.perf_counter()
    stats = Replayer(tmp_path / "run", ReplayConfig(rate=2.0, topics=["/cam/image_raw"])).run(lambda m: None)
    wall = time.perf_counter() - begin
    # 19 frame intervals of 50 ms = 0.95 s of log time at 2x -> ~0.475 s of wall time; the schedule is
    # absolute, so sleep overshoot on a loaded machine delays only the last message, it does not add up
    assert stats.bag_s == pytest.approx(0.95)
    assert 0.45 < wall < 1.0
    assert 1.6 < stats.x_realtime <= 2.05
    flat = Replayer(tmp_path / "run", ReplayConfig(rate=None, topics=["/cam/image_raw"])).run(lambda m: None)
    assert flat.x_realtime > 4.0


def test_slow_consumer_makes_replay_late_not_drift(tmp_path: Path) -> None:
    record_sim(tmp_path / "run", 0.5)
    stats = Replayer(tmp_path / "run", ReplayConfig(rate=1.0, topics=["/cam/image_raw"])).run(
        {"/cam/image_raw": lambda m: time.sleep(0.12)}
    )
    assert stats.messages == 10
    assert stats.late >= 5  # each frame takes 120 ms, frames are due every 50 ms


def test_time_range_and_topic_handlers(tmp_path: Path) -> None:
    record_sim(tmp_path / "run", 1.0)
    seen: dict[str, list[int]] = {"/imu": [], "/cam/image_raw": []}
    config = ReplayConfig(rate=None, start=0.2, end=0.4)
    stats = Replayer(tmp_path / "run", config).run(
        {t: (lambda m, t=t: seen[t].append(m.log_time_ns)) for t in seen}
    )
    assert seen["/imu"] == [T0 + k * IMU_NS for k in range(40, 80)]
    assert seen["/cam/image_raw"] == [T0 + k * FRAME_NS for k in range(4, 8)]
    assert stats.per_topic == {"/imu": 40, "/cam/image_raw": 4}


def test_damaged_recording_replays_its_readable_part(tmp_path: Path) -> None:
    sent, _ = record_sim(tmp_path / "run", 1.0)
    file = next((tmp_path / "run").glob("*.mcap"))
    file.write_bytes(file.read_bytes()[: int(file.stat().st_size * 0.6)])
    got = []
    stats = Replayer(tmp_path / "run", ReplayConfig(rate=None)).run(got.append)
    assert 0 < stats.messages < len(sent)
    assert [bytes(m.raw) for m in got] == [bytes(s[2]) for s in sent[: len(got)]]
    assert stats.problems and file.name in stats.problems[0]


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        ReplayConfig(rate=0)
    with pytest.raises(ValueError, match="end"):
        ReplayConfig(start=2.0, end=1.0)
