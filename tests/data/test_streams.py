"""Sample streams for offline retraining: IMU arrays/windows, stereo pairing, images, audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robossl.data.bags import BagWriter
from robossl.data.bags.message_builders import build_audio, build_image, build_imu
from robossl.data.bags.messages import AudioChunk
from robossl.data.bags.typestore import default_typestore
from robossl.data.streams import audio_stream, image_stream, imu_arrays, imu_windows, stereo_pairs

T0 = 2_000_000_000


@pytest.fixture
def bag(tmp_path: Path) -> Path:
    store = default_typestore()
    path = tmp_path / "bag"
    with BagWriter(path) as writer:
        for i in range(100):  # 100 Hz IMU; sample 50 is NaN (a driver glitch) and must be dropped
            stamp = T0 + i * 10_000_000
            gyro = [float("nan"), 0, 0] if i == 50 else [float(i), 1.0, 2.0]
            writer.write("/imu", stamp, build_imu(store, stamp, "imu", gyro, [0, 0, 9.81]))
        for k in range(6):  # 10 Hz stereo; right frame 2 is missing, left frame 4 is missing
            stamp = T0 + k * 100_000_000
            if k != 4:
                writer.write(
                    "/left", stamp, build_image(store, stamp, "l", np.full((4, 6), k, np.uint8), "mono8")
                )
            if k != 2:
                right = np.full((4, 6), 100 + k, np.uint8)
                writer.write("/right", stamp + 1000, build_image(store, stamp, "r", right, "mono8"))
        writer.write("/left", T0 + 10**9, build_image(store, T0, "l", np.zeros((2, 2), np.float32), "32FC1"))
        for c in range(3):
            chunk = AudioChunk(np.full((160, 1), c, np.int16), 16000, T0 + c * 10_000_000)
            writer.write("/audio", T0 + c * 10_000_000, build_audio(store, chunk))
    return path


def test_imu_arrays_drop_nan_samples(bag: Path) -> None:
    imu = imu_arrays(bag, "/imu")
    assert len(imu) == 99 and imu.dropped == 1
    assert 50.0 not in imu.gyro[:, 0] and imu.gyro[50, 0] == 51.0
    np.testing.assert_array_equal(imu.accel[:, 2], 9.81)


def test_imu_windows_shape_and_hop(bag: Path) -> None:
    windows = list(imu_windows(bag, "/imu", window=20, hop=10, end=0.5))  # 50 samples in [0, 0.5) s
    assert [w.shape for _, w in windows] == [(20, 6)] * 4
    assert [start for start, _ in windows] == [T0 + k * 100_000_000 for k in range(4)]
    assert windows[1][1][0, 0] == 10.0 and windows[1][1].dtype == np.float32
    with pytest.raises(ValueError, match="window and hop"):
        next(imu_windows(bag, "/imu", window=0, hop=1))


def test_stereo_pairs_match_header_stamps_and_skip_orphans(bag: Path) -> None:
    pairs = list(stereo_pairs(bag, "/left", "/right"))
    assert [stamp for stamp, _, _ in pairs] == [T0 + k * 100_000_000 for k in (0, 1, 3, 5)]
    for stamp, left, right in pairs:
        k = (stamp - T0) // 100_000_000
        assert left[0, 0] == k and right[0, 0] == 100 + k


def test_image_stream_and_audio_stream(bag: Path) -> None:
    images = list(image_stream(bag, "/left"))
    assert len(images) == 6 and images[-1][1].dtype == np.float32
    chunks = list(audio_stream(bag, "/audio"))
    assert [c.stamp_ns for c in chunks] == [T0, T0 + 10_000_000, T0 + 20_000_000]
    assert [int(c.samples[0, 0]) for c in chunks] == [0, 1, 2]
