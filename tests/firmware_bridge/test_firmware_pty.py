"""End-to-end: the host build of the C firmware on one end of a real pseudo-terminal, SerialBridge
(pyserial) on the other."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge import BridgeConfig, ConfigKey, Heartbeat, ImuBatch, ReceivedMessage, SerialBridge
from firmware_bridge.messages import AckStatus
from firmware_bridge.synthetic import DEFAULT_SCALE, synthetic_imu_raw

N_SAMPLES = 10_000


@contextmanager
def firmware(binary: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start the firmware process; yield it and the pty path it printed; stop it afterwards."""
    proc = subprocess.Popen([str(binary), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert line[:1] == ["FWB_PTY"], (
            f"firmware did not announce its pty: {line} {proc.stderr.read() if proc.stderr else ''}"
        )
        yield proc, line[1]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def collect_imu(
    bridge: SerialBridge, n_samples: int, timeout_s: float
) -> tuple[list[ReceivedMessage], list[ReceivedMessage]]:
    """Read messages until ``n_samples`` IMU samples arrived (or timeout); return (imu, others)."""
    imu: list[ReceivedMessage] = []
    others: list[ReceivedMessage] = []
    received = 0
    deadline = time.monotonic() + timeout_s
    while received < n_samples and time.monotonic() < deadline:
        message = bridge.get(timeout_s=0.5)
        if message is None:
            continue
        if isinstance(message.body, ImuBatch):
            imu.append(message)
            received += message.body.raw.shape[0]
        else:
            others.append(message)
    return imu, others


def start_with_retries(bridge: SerialBridge, attempts: int = 5) -> None:
    """Start streaming; a damaged ack (corruption tests) is simply asked for again."""
    for _ in range(attempts):
        try:
            ack = bridge.configure(ConfigKey.STREAMING, 1, device_id=1, timeout_s=0.5)
            assert ack.status == AckStatus.OK
            return
        except TimeoutError:
            continue
    raise AssertionError("firmware never acknowledged STREAMING=1")


def test_10000_samples_arrive_with_correct_values_and_none_lost(firmware_binary: Path) -> None:
    args = ("--rate", "10000", "--batch", "20", "--max-samples", str(N_SAMPLES), "--heartbeat-ms", "200")
    with firmware(firmware_binary, *args, "--drift-ppm", "50", "--offset-us", "7000000000") as (_, port):
        with SerialBridge(port, baudrate=921600) as bridge:
            ack = bridge.start_streaming(device_id=1)
            assert (ack.status, ack.value) == (AckStatus.OK, 1)
            imu, others = collect_imu(bridge, N_SAMPLES, timeout_s=30.0)
            time.sleep(0.3)  # a few more heartbeats and sync round trips
            stats = bridge.stats()
    raw = np.concatenate([m.body.raw for m in imu])  # type: ignore[union-attr]
    assert raw.shape == (N_SAMPLES, 6)
    np.testing.assert_array_equal(raw, synthetic_imu_raw(0, N_SAMPLES))
    np.testing.assert_array_equal(imu[0].body.scale, DEFAULT_SCALE)  # type: ignore[union-attr]
    # Sample timestamps: every batch starts 20 samples x 100 us after the previous one.
    starts = np.array([m.device_time_us for m in imu], dtype=np.int64)
    np.testing.assert_array_equal(np.diff(starts), 2000)
    assert all(m.body.sample_period_us == 100 for m in imu)  # type: ignore[union-attr]
    assert stats["frames_bad"] == 0 and stats["frames_lost"] == 0 and stats["seq_gaps"] == 0
    assert any(isinstance(m.body, Heartbeat) for m in others)
    # Clock sync over the real pty: a batch is sent right after its last sample is due, so its last
    # sample's mapped host time must be just before the moment it was read.
    assert stats["devices"][1]["synced"] and stats["sync_responses"] > 0
    synced = [m for m in imu if m.synced]
    assert len(synced) > len(imu) // 2
    latency = np.array([m.receive_time_s - m.sample_host_times()[-1] for m in synced])
    assert np.percentile(latency, 5) > -3e-3, "mapped times lie in the future: clock sync is off"
    assert np.median(latency) < 20e-3, f"median latency {np.median(latency) * 1e3:.1f} ms"


def test_corruption_every_undamaged_frame_recovered_every_damaged_counted(
    firmware_binary: Path, tmp_path: Path
) -> None:
    damage_log = tmp_path / "damage.log"
    args = ("--rate", "10000", "--batch", "20", "--max-samples", str(N_SAMPLES), "--heartbeat-ms", "0")
    faults = ("--flip-rate", "0.03", "--drop-rate", "0.03", "--seed", "11", "--damage-log", str(damage_log))
    with firmware(firmware_binary, *args, *faults) as (_, port):
        config = BridgeConfig(sync_interval_s=0.05, deliver_sync_responses=True)
        bridge = SerialBridge(port, config=config).start()
        try:
            start_with_retries(bridge)
            seen: list[ReceivedMessage] = []
            deadline = time.monotonic() + 30.0
            last_imu = time.monotonic()
            # Read until the stream of IMU batches has been over for 0.5 s (max samples reached).
            while time.monotonic() < deadline and time.monotonic() - last_imu < 0.5:
                message = bridge.get(timeout_s=0.1)
                if message is not None:
                    seen.append(message)
                    if isinstance(message.body, ImuBatch):
                        last_imu = time.monotonic()
        finally:
            bridge.stop()
        stats = bridge.stats()
    damaged = {int(line.split()[0]) for line in damage_log.read_text().splitlines()}
    seqs = [m.seq for m in seen]
    first, last = min(seqs), max(seqs)
    damaged_inside = {o for o in damaged if first <= o <= last}
    # Every frame the firmware wrote between the first and last received one was either received
    # intact or damaged; none is both, none is missing, none duplicated.
    assert sorted(seqs) == sorted(set(range(first, last + 1)) - damaged_inside)
    assert len(damaged_inside) > 10, "the injector should have damaged a good number of frames"
    # Every damaged frame is counted: as a missing sequence number, and as a dropped fragment.
    assert stats["frames_lost"] == len(damaged_inside)
    damaged_after = len([o for o in damaged if o > last])
    assert len(damaged_inside) <= stats["frames_bad"] <= len(damaged_inside) + damaged_after
    assert stats["crc_errors"] + stats["cobs_errors"] + stats["too_short"] > 0
    # The values of the IMU batches that came through are exactly right.
    imu = [m for m in seen if isinstance(m.body, ImuBatch)]
    assert imu
    stream_start = min(m.device_time_us for m in imu) - 0  # sample index from the device time
    for m in imu:
        index = (m.device_time_us - stream_start) // 100 + _first_index(imu)
        np.testing.assert_array_equal(m.body.raw, synthetic_imu_raw(index, 20))  # type: ignore[union-attr]


def _first_index(imu: list[ReceivedMessage]) -> int:
    """Synthetic sample index of the earliest received batch (batch k starts at sample 20 k)."""
    earliest = min(imu, key=lambda m: m.device_time_us)
    raw = earliest.body.raw  # type: ignore[union-attr]
    for k in range(0, N_SAMPLES, 20):
        if np.array_equal(raw, synthetic_imu_raw(k, 20)):
            return k
    raise AssertionError("earliest batch matches no synthetic batch")


def test_firmware_rejects_bad_config_values_and_unknown_keys(firmware_binary: Path) -> None:
    with firmware(firmware_binary, "--heartbeat-ms", "0") as (_, port):
        with SerialBridge(port) as bridge:
            assert bridge.configure(ConfigKey.IMU_RATE_HZ, 0, device_id=1).status == AckStatus.BAD_VALUE
            assert bridge.configure(99, 1, device_id=1).status == AckStatus.UNKNOWN_KEY
            ack = bridge.configure(ConfigKey.IMU_BATCH_SAMPLES, 5, device_id=1)
            assert (ack.status, ack.value) == (AckStatus.OK, 5)
            with pytest.raises(TimeoutError, match="device 42"):
                bridge.configure(ConfigKey.STREAMING, 1, device_id=42, timeout_s=0.3)


def test_firmware_receiver_drops_and_counts_garbage_then_still_obeys(firmware_binary: Path) -> None:
    """Host-to-device corruption: the C receiver resynchronises and reports rx_errors in heartbeats."""
    from firmware_bridge import ConfigCommand, encode_frame

    with firmware(firmware_binary, "--heartbeat-ms", "0") as (_, port):
        with SerialBridge(port, config=BridgeConfig(sync_interval_s=0)) as bridge:
            good = encode_frame(ConfigCommand(500, int(ConfigKey.HEARTBEAT_PERIOD_MS), 0, 50), 1, 0)
            damaged = bytearray(good)
            damaged[10] ^= 0x01 if damaged[10] != 0x01 else 0x02  # never forge a delimiter
            bridge.send_raw(b"\x13\x37" * 3000 + b"\x00" + bytes(damaged) + b"\x05garb\x00" + good[:-1])
            bridge.send_raw(b"\x00")  # the trailing delimiter arrives late: still one frame
            deadline = time.monotonic() + 5.0
            heartbeat = None
            while heartbeat is None and time.monotonic() < deadline:
                message = bridge.get(timeout_s=0.5)
                if message is not None and isinstance(message.body, Heartbeat):
                    heartbeat = message.body
    assert heartbeat is not None, "the config command after the garbage was not obeyed"
    # The over-long run, the flipped frame and the short garbage fragment were each counted once.
    assert heartbeat.rx_errors == 3


def test_firmware_streams_audio_chunks_alongside_imu(firmware_binary: Path) -> None:
    from firmware_bridge import AudioChunk
    from firmware_bridge.synthetic import synthetic_audio

    args = (
        "--rate",
        "1000",
        "--batch",
        "10",
        "--audio-rate",
        "16000",
        "--audio-chunk",
        "160",
        "--heartbeat-ms",
        "0",
    )
    with firmware(firmware_binary, *args) as (_, port):
        with SerialBridge(port, config=BridgeConfig(sync_interval_s=0)) as bridge:
            assert (
                bridge.configure(ConfigKey.AUDIO_RATE_HZ, 50_000, device_id=1).status == AckStatus.BAD_VALUE
            )
            bridge.start_streaming(device_id=1)
            audio: list[ReceivedMessage] = []
            imu: list[ReceivedMessage] = []
            deadline = time.monotonic() + 10.0
            while len(audio) < 30 and time.monotonic() < deadline:
                message = bridge.get(timeout_s=0.5)
                if message is not None and isinstance(message.body, AudioChunk):
                    audio.append(message)
                elif message is not None and isinstance(message.body, ImuBatch):
                    imu.append(message)
            stats = bridge.stats()
    assert len(audio) == 30 and imu
    pcm = np.concatenate([m.body.pcm[:, 0] for m in audio])  # type: ignore[union-attr]
    np.testing.assert_array_equal(pcm, synthetic_audio(0, 30 * 160))
    assert all(m.body.sample_rate_hz == 16000 and m.body.pcm.shape == (160, 1) for m in audio)  # type: ignore[union-attr]
    np.testing.assert_array_equal(np.diff([m.device_time_us for m in audio]), 10_000)  # 160 frames at 16 kHz
    raw = np.concatenate([m.body.raw for m in imu])  # type: ignore[union-attr]
    np.testing.assert_array_equal(raw, synthetic_imu_raw(0, raw.shape[0]))
    assert stats["frames_bad"] == 0 and stats["frames_lost"] == 0
