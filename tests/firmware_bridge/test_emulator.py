"""The Python device emulator: multi-device IMU replay through the protocol, over a real pty and a file."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest

from firmware_bridge import (
    BridgeConfig,
    DeviceClock,
    EmulatedDevices,
    ImuBatch,
    PtyDevices,
    ReceivedMessage,
    SerialBridge,
    StreamDecoder,
)


def _streams(n: int, channels: int, devices: list[int], seed: int = 0) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {d: rng.normal(0, 3, (n, channels)).astype(np.float32) for d in devices}


def _by_device(messages: list[ReceivedMessage]) -> dict[int, list[ReceivedMessage]]:
    out: dict[int, list[ReceivedMessage]] = {}
    for m in messages:
        if isinstance(m.body, ImuBatch):
            out.setdefault(m.device_id, []).append(m)
    return out


def test_replay_into_a_file_object_round_trips_every_value() -> None:
    sink = io.BytesIO()
    devices = EmulatedDevices(sink, [3, 4, 5], DeviceClock(offset_us=10_000))
    streams = _streams(203, 5, [3, 4, 5])
    stats = devices.replay(streams, rate_hz=32.0, batch_samples=8, realtime=False)
    assert stats.frames == 3 * 26 and stats.samples == 3 * 203 and stats.bytes == len(sink.getvalue())
    decoder = StreamDecoder()
    per_device = _by_device(
        [
            ReceivedMessage(
                m.header.device_id, m.msg_type, m.header.seq, m.header.device_time_us, 0.0, 0.0, False, m.body
            )
            for m in decoder.feed(sink.getvalue())
        ]
    )
    for device, data in streams.items():
        got = per_device[device]
        np.testing.assert_array_equal(np.concatenate([m.body.raw for m in got]), data)  # type: ignore[union-attr]
        assert [m.seq for m in got] == list(range(len(got)))
        # 8 samples at 32 Hz: batches start 250,000 us apart (period rounded to 31,250 us).
        assert np.all(np.diff([m.device_time_us for m in got]) == 8 * 31_250)


def test_multi_device_replay_over_a_pty_arrives_complete_and_time_synced() -> None:
    ids = [1, 2, 3, 4]
    streams = _streams(640, 6, ids, seed=1)
    # Device clock: 50 ppm fast and 5,000 s ahead of the host's monotonic clock.
    clock = DeviceClock(offset_us=5_000_000_000, drift_ppm=50.0)
    with PtyDevices(ids, clock) as link:
        assert link.devices is not None
        with SerialBridge(link.port, config=BridgeConfig(sync_interval_s=0.05)) as bridge:
            time.sleep(0.5)  # a few sync round trips first
            link.devices.replay(streams, rate_hz=320.0, batch_samples=16, speed=1.0)
            received = list(bridge.messages(timeout_s=0.5))
            stats = bridge.stats()
    per_device = _by_device(received)
    assert sorted(per_device) == ids
    for device in ids:
        got = per_device[device]
        np.testing.assert_array_equal(np.concatenate([m.body.raw for m in got]), streams[device])  # type: ignore[union-attr]
        # Mapped host time of each sample vs the true host time of that device instant.
        assert all(m.synced for m in got)
        mapped = np.concatenate([m.sample_host_times() for m in got])
        device_us = np.concatenate([m.device_time_us + m.body.sample_period_us * np.arange(16) for m in got])  # type: ignore[union-attr]
        truth = clock._start + (device_us - clock.offset_us) * 1e-6 / (1 + 50e-6)
        error = np.abs(mapped - truth)
        assert np.percentile(error, 99) < 2e-3, f"p99 {np.percentile(error, 99) * 1e3:.2f} ms"
    assert stats["frames_bad"] == 0 and stats["frames_lost"] == 0
    assert set(stats["devices"]) == set(ids)


def test_emulator_answers_streaming_command_and_rejects_unknown_keys() -> None:
    with PtyDevices([7]) as link:
        assert link.devices is not None
        with SerialBridge(link.port) as bridge:
            assert bridge.start_streaming(device_id=7).status == 0
            assert link.devices.streaming[7] and link.devices.streaming_event.is_set()
            assert bridge.configure(2, 100, device_id=7).status == 1  # IMU_RATE_HZ: not emulated


def test_replay_validates_its_input() -> None:
    devices = EmulatedDevices(io.BytesIO(), [1, 2])
    with pytest.raises(ValueError, match="equal lengths"):
        devices.replay({1: np.zeros((10, 3)), 2: np.zeros((11, 3))}, rate_hz=32.0)
    with pytest.raises(ValueError, match="emulated device ids"):
        devices.replay({9: np.zeros((10, 3))}, rate_hz=32.0)
    with pytest.raises(ValueError, match="0..254"):
        EmulatedDevices(io.BytesIO(), [255])


def test_replay_can_be_stopped_early() -> None:
    devices = EmulatedDevices(io.BytesIO(), [1])
    stop = threading.Event()
    stop.set()
    assert devices.replay({1: np.zeros((100, 3), np.float32)}, rate_hz=10.0, stop=stop).frames == 0


@pytest.mark.data
def test_actrectut_gesture_imus_replay_through_the_protocol_exactly(real_data) -> None:  # type: ignore[no-untyped-def]
    scipy_io = pytest.importorskip("scipy.io")
    path = real_data("har/actrectut") / "subject1_gesture" / "data.mat"
    data = scipy_io.loadmat(path)["data"][:2000].astype(np.float32)  # (T, 15) = 3 IMUs x 5 channels
    streams = {device: data[:, 5 * i : 5 * i + 5] for i, device in enumerate((10, 11, 12))}
    sink = io.BytesIO()
    EmulatedDevices(sink, list(streams)).replay(streams, rate_hz=32.0, batch_samples=8, realtime=False)
    messages = StreamDecoder().feed(sink.getvalue())
    for device, expected in streams.items():
        got = np.concatenate([m.body.raw for m in messages if m.header.device_id == device])  # type: ignore[union-attr]
        np.testing.assert_array_equal(got, expected)


def test_audio_chunks_round_trip_and_float_audio_is_refused() -> None:
    from firmware_bridge import AudioChunk

    sink = io.BytesIO()
    devices = EmulatedDevices(sink, [6])
    pcm = (np.sin(np.arange(512) / 5.0) * 20000).astype(np.int16)
    devices.send_audio(6, pcm[:256], 16000, device_time_us=1000)
    devices.send_audio(6, pcm[256:], 16000, device_time_us=1000 + 16000)
    messages = StreamDecoder().feed(sink.getvalue())
    assert [m.header.device_time_us for m in messages] == [1000, 17000]
    bodies = [m.body for m in messages]
    assert all(isinstance(b, AudioChunk) and b.sample_rate_hz == 16000 for b in bodies)
    np.testing.assert_array_equal(np.concatenate([b.pcm[:, 0] for b in bodies]), pcm)  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="int16"):
        devices.send_audio(6, pcm.astype(np.float32), 16000, 0)
