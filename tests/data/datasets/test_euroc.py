"""EuRoC/ASL folder reader: the real micro excerpt plus small synthetic folders for bad input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from robossl.data.datasets.euroc import EurocSequence, read_camera_sensor

SENSOR_YAML = """%YAML:1.0
sensor_type: camera
T_BS:
  cols: 4
  rows: 4
  data: [1.0, 0.0, 0.0, {tx}, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
rate_hz: 20
resolution: [32, 24]
camera_model: pinhole
intrinsics: [30.0, 30.0, 16.0, 12.0]
distortion_model: radial-tangential
distortion_coefficients: [0.0, 0.0, 0.0, 0.0]
"""


def make_sequence(
    root: Path, left_stamps: list[int], right_stamps: list[int], missing: int | None = None
) -> Path:
    rng = np.random.default_rng(0)
    for cam, stamps, tx in (("cam0", left_stamps, 0.0), ("cam1", right_stamps, 0.1)):
        folder = root / "mav0" / cam
        (folder / "data").mkdir(parents=True)
        (folder / "sensor.yaml").write_text(SENSOR_YAML.format(tx=tx))
        lines = ["#timestamp [ns],filename"] + [f"{s},{s}.png" for s in stamps]
        (folder / "data.csv").write_text("\n".join(lines) + "\n")
        for s in stamps:
            if s != missing or cam == "cam0":
                image = (rng.random((24, 32)) * 255).astype(np.uint8)
                cv2.imwrite(str(folder / "data" / f"{s}.png"), image)
    imu = root / "mav0" / "imu0"
    imu.mkdir()
    rows = ["#timestamp [ns],wx,wy,wz,ax,ay,az"] + [f"{t},{t * 1e-9},0,0,9.8,0,0" for t in (30, 10, 20)]
    (imu / "data.csv").write_text("\n".join(rows) + "\n")
    return root


def test_real_micro_excerpt_has_95_pairs_with_calibration(real_data):
    seq = EurocSequence(real_data("stereo/euroc_v1_01_easy_micro"))
    assert len(seq) == 95
    assert seq.dropped_stamps == 4  # cam1 lists 99 stamps, 95 images
    assert seq.baseline_m == pytest.approx(0.110, abs=0.002)
    assert seq.left_sensor.intrinsics == (458.654, 457.296, 367.215, 248.375)
    assert seq.left_sensor.distortion.shape == (4,)
    frame = seq[0]
    assert frame.left.shape == (480, 752) and frame.left.dtype == np.uint8
    assert frame.right.shape == (480, 752)
    assert np.all(np.diff(seq.stamps_ns) > 0)
    imu = seq.read_imu()
    assert imu.gyro.shape[1] == 3 and len(imu) > 20000
    # gravity dominates the specific force of a hovering MAV
    assert np.linalg.norm(imu.accel, axis=1).mean() == pytest.approx(9.81, abs=0.5)
    window = imu.between(int(seq.stamps_ns[0]), int(seq.stamps_ns[1]))
    assert 8 <= len(window) <= 12  # 50 ms at 200 Hz
    assert seq.read_imu_sensor().rate_hz == 200.0


def test_only_pairs_with_both_images_are_returned(tmp_path):
    root = make_sequence(tmp_path, [1, 2, 3, 4], [2, 3, 4, 5], missing=3)
    seq = EurocSequence(root)
    assert list(seq.stamps_ns) == [2, 4]
    assert seq.dropped_stamps == 3  # 1 and 5 in one camera only, 3 without a right image
    assert seq.baseline_m == pytest.approx(0.1)
    assert [f.stamp_ns for f in seq] == [2, 4]


def test_imu_rows_sorted_by_time(tmp_path):
    seq = EurocSequence(make_sequence(tmp_path, [1], [1]))
    imu = seq.read_imu()
    assert list(imu.stamps_ns) == [10, 20, 30]
    assert imu.gyro[:, 0] == pytest.approx([10e-9, 20e-9, 30e-9])


def test_corrupt_png_raises_with_path(tmp_path):
    root = make_sequence(tmp_path, [1], [1])
    (root / "mav0" / "cam1" / "data" / "1.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match="cannot decode image .*1.png"):
        EurocSequence(root)[0]


def test_missing_intrinsics_named_in_error(tmp_path):
    path = tmp_path / "sensor.yaml"
    path.write_text(
        "%YAML:1.0\nresolution: [32, 24]\nT_BS: {rows: 4, cols: 4, data: [1,0,0,0,0,1,0,0,0,0,1,0,0,0,0,1]}\n"
    )
    with pytest.raises(ValueError, match="missing key 'intrinsics'"):
        read_camera_sensor(path)


def test_not_a_sequence_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a EuRoC sequence"):
        EurocSequence(tmp_path)
