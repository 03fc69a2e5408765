"""Dataset converters write rosbag2 files whose messages equal the source data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robossl.data.bags import BagReader
from robossl.data.bags.messages import decode_camera_info
from robossl.data.convert.actrectut import convert_actrectut
from robossl.data.convert.borealtc import convert_borealtc
from robossl.data.convert.euroc import convert_euroc
from robossl.data.datasets.actrectut import load_actrectut
from robossl.data.datasets.borealtc import list_runs, load_run
from robossl.data.datasets.euroc import EurocSequence
from robossl.data.streams import imu_arrays, stereo_pairs

pytestmark = pytest.mark.data


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_euroc_conversion_matches_the_folder(real_data, tmp_path: Path, storage: str) -> None:
    root = real_data("stereo/euroc_v1_01_easy_micro")
    report = convert_euroc(root, tmp_path / "euroc", storage=storage, max_frames=4)
    seq = EurocSequence(root)
    assert report.counts["/cam0/image_raw"] == report.counts["/cam1/image_raw"] == 4
    assert report.dropped["unpaired_stamps"] == seq.dropped_stamps == 4
    pairs = list(stereo_pairs(tmp_path / "euroc", "/cam0/image_raw", "/cam1/image_raw"))
    assert len(pairs) == 4
    for (stamp, left, right), frame in zip(pairs, seq):
        assert stamp == frame.stamp_ns
        np.testing.assert_array_equal(left, frame.left)
        np.testing.assert_array_equal(right, frame.right)
    imu = seq.read_imu().between(0, int(seq.stamps_ns[3]) + 1)
    logged = imu_arrays(tmp_path / "euroc", "/imu0")
    np.testing.assert_array_equal(logged.stamps_ns, imu.stamps_ns)
    np.testing.assert_allclose(logged.gyro, imu.gyro)
    np.testing.assert_allclose(logged.accel, imu.accel)
    with BagReader(tmp_path / "euroc") as bag:
        info = next(m for m in bag.messages(["/cam1/camera_info"]))
        model = decode_camera_info(info.msg)
        np.testing.assert_allclose(model.K, seq.right_sensor.camera_matrix())
        np.testing.assert_allclose(model.D[:4], seq.right_sensor.distortion[:4])
        assert (model.width, model.height) == seq.right_sensor.resolution
        # ROS stereo convention: the right projection carries the baseline, p[3] = -fx * baseline
        assert -model.P[0, 3] / model.P[0, 0] == pytest.approx(seq.baseline_m, rel=1e-6)
        np.testing.assert_allclose(model.R @ model.R.T, np.eye(3), atol=1e-9)


def test_actrectut_conversion_one_topic_per_device(real_data, tmp_path: Path) -> None:
    root = real_data("har/actrectut")
    report = convert_actrectut(1, "walk", tmp_path / "walk", root=root, max_seconds=5.0)
    rec = load_actrectut(1, "walk", root=root, channels_per_imu=6)
    n = 5 * 32
    assert report.counts == {**{f"/{d}/imu": n for d in rec.devices}, "/activity": n}
    for device, samples in rec.devices.items():
        logged = imu_arrays(tmp_path / "walk", f"/{device}/imu")
        np.testing.assert_allclose(logged.accel, samples[:n, 0:3], rtol=1e-6)
        np.testing.assert_allclose(logged.gyro, samples[:n, 3:6], rtol=1e-6)
        np.testing.assert_allclose(np.diff(logged.stamps_ns), 1e9 / 32, atol=1)
    with BagReader(tmp_path / "walk") as bag:
        labels = [m.msg.data for m in bag.messages(["/activity"])]
    np.testing.assert_array_equal(labels, rec.labels[:n])


def test_borealtc_conversion_one_bag_per_run(real_data, tmp_path: Path) -> None:
    root = real_data("terrain/borealtc")
    report = convert_borealtc(
        tmp_path / "boreal", root=root, classes=("ICE",), runs_per_class=1, max_seconds=3.0
    )
    run_name = list_runs(root)["ICE"][0]
    run = load_run(root, "ICE", run_name)
    assert report.outputs == [tmp_path / "boreal" / f"ICE_{run_name}"]
    keep = run.imu_time - run.imu_time[0] < 3.0
    logged = imu_arrays(report.outputs[0], "/imu")
    assert len(logged) == keep.sum() == report.counts["/imu"]
    np.testing.assert_allclose(logged.gyro, run.imu[keep, 0:3])
    np.testing.assert_allclose(logged.accel, run.imu[keep, 3:6])
    with BagReader(report.outputs[0]) as bag:
        wheels = [m.msg for m in bag.messages(["/wheels"])]
    assert list(wheels[0].name) == ["left_wheel", "right_wheel"]
    np.testing.assert_allclose(wheels[0].velocity, run.pro[0, 2:4])
    np.testing.assert_allclose(wheels[0].effort, run.pro[0, 0:2])


def test_actrectut_bag_back_to_multi_device_recording(real_data, tmp_path: Path) -> None:
    from robossl.data.datasets.actrectut import actrectut_class_names
    from robossl.data.streams import multi_device_recording

    root = real_data("har/actrectut")
    convert_actrectut(2, "gesture", tmp_path / "g", root=root, max_seconds=4.0)
    rec = load_actrectut(2, "gesture", root=root)
    topics = [f"/{d}/imu" for d in rec.devices]
    back = multi_device_recording(tmp_path / "g", topics, "/activity", actrectut_class_names("gesture"))
    n = 4 * 32
    assert back.device_names == rec.device_names and len(back.labels) == n
    np.testing.assert_array_equal(back.labels, rec.labels[:n])
    assert back.sample_rate_hz == pytest.approx(32.0)
    for device, samples in rec.devices.items():
        # acc xyz, gyro xyz like load_actrectut; gesture devices have gyro x, y only (z written as 0)
        assert back.channel_names[device][:5] == rec.channel_names[device]
        np.testing.assert_allclose(back.devices[device][:, 0:5], samples[:n], rtol=1e-6)
        np.testing.assert_array_equal(back.devices[device][:, 5], 0.0)
