"""Calibration from EuRoC sensor.yaml and CameraInfo, and rectification geometry."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from robossl.data.datasets.euroc import CameraSensor, EurocSequence
from robossl.pipelines.stereo_mono.calibration import Rectifier, StereoCalibration

K = np.array([[300.0, 0, 160.0], [0, 300.0, 120.0], [0, 0, 1]])
DIST = np.array([-0.25, 0.07, 0.0005, -0.0003])


def sensor(name: str, T_BS: np.ndarray) -> CameraSensor:
    return CameraSensor(name, (320, 240), (300.0, 300.0, 160.0, 120.0), "radial-tangential", DIST, T_BS, 20.0)


def rotation(axis: np.ndarray, degrees: float) -> np.ndarray:
    return cv2.Rodrigues(np.asarray(axis, float) * np.deg2rad(degrees))[0]


def synthetic_rig() -> tuple[CameraSensor, CameraSensor]:
    """Left camera rotated in the body; right 0.1 m to its right with a 2 degree toe-in and 1 degree roll."""
    body_from_left = np.eye(4)
    body_from_left[:3, :3] = rotation([0, 0, 1], 90)  # like EuRoC: camera axes rotated in the body
    left_from_right = np.eye(4)
    left_from_right[:3, :3] = rotation([0, 1, 0], -2) @ rotation([0, 0, 1], 1)
    left_from_right[:3, 3] = [0.1, 0.002, -0.001]
    return sensor("cam0", body_from_left), sensor("cam1", body_from_left @ left_from_right)


def blob_image(points: np.ndarray) -> np.ndarray:
    image = np.zeros((240, 320), np.float32)
    ys, xs = np.mgrid[0:240, 0:320]
    for x, y in points:
        image += np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 2.0**2))
    return np.clip(image * 250, 0, 255).astype(np.uint8)


def centroid(image: np.ndarray) -> tuple[float, float]:
    weights = image.astype(np.float64)
    ys, xs = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    return float((xs * weights).sum() / weights.sum()), float((ys * weights).sum() / weights.sum())


@pytest.mark.parametrize("depth_m", [1.0, 2.5])
def test_euroc_style_rig_rectifies_to_rows_and_metric_disparity(depth_m):
    left, right = synthetic_rig()
    calibration = StereoCalibration.from_euroc(left, right)
    assert calibration.baseline_m == pytest.approx(0.1, abs=0.003)
    rectifier = Rectifier(calibration)
    point_left = np.array([[0.15, -0.1, depth_m]])  # in the left camera frame
    right_from_left = np.linalg.inv(right.T_BS) @ left.T_BS
    point_right = (right_from_left[:3, :3] @ point_left.T).T + right_from_left[:3, 3]
    pixel_left = cv2.projectPoints(point_left, np.zeros(3), np.zeros(3), K, DIST)[0].reshape(-1, 2)
    pixel_right = cv2.projectPoints(point_right, np.zeros(3), np.zeros(3), K, DIST)[0].reshape(-1, 2)
    rect_left, rect_right = rectifier.rectify(blob_image(pixel_left), blob_image(pixel_right))
    (xl, yl), (xr, yr) = centroid(rect_left), centroid(rect_right)
    assert yl == pytest.approx(yr, abs=0.3)
    expected_disparity = rectifier.focal_px * rectifier.baseline_m / depth_m
    assert xl - xr == pytest.approx(expected_disparity, rel=0.03)


def test_swapped_cameras_are_rejected():
    left, right = synthetic_rig()
    with pytest.raises(ValueError, match="swap them"):
        Rectifier(StereoCalibration.from_euroc(right, left))


def test_camera_info_round_trip_gives_identical_rectification():
    left, right = synthetic_rig()
    reference = Rectifier(StereoCalibration.from_euroc(left, right))
    infos = [
        {"width": 320, "height": 240, "k": K.ravel(), "d": DIST, "r": R.ravel(), "p": P.ravel()}
        for R, P in ((reference.R_left, reference.P_left), (reference.R_right, reference.P_right))
    ]
    from_info = Rectifier(StereoCalibration.from_camera_info(*infos))
    assert from_info.focal_px == pytest.approx(reference.focal_px)
    assert from_info.baseline_m == pytest.approx(reference.baseline_m, rel=1e-6)
    image = (np.random.default_rng(0).random((240, 320)) * 255).astype(np.uint8)
    a, _ = reference.rectify(image, image)
    b, _ = from_info.rectify(image, image)
    assert np.mean(np.abs(a.astype(int) - b.astype(int))) < 0.5


def test_ideal_pair_is_passthrough_and_scales():
    calibration = StereoCalibration.ideal(160, 120, focal_px=80.0, baseline_m=0.1)
    full = Rectifier(calibration)
    assert full.passthrough and full.focal_px == 80.0 and full.baseline_m == pytest.approx(0.1)
    image = np.zeros((120, 160), np.uint8)
    assert full.rectify(image, image)[0] is image
    half = Rectifier(calibration, (80, 60))
    assert half.focal_px == 40.0
    assert half.rectify(image, image)[0].shape == (60, 80)


def test_camera_info_errors_name_the_problem():
    good = {"width": 160, "height": 120, "k": np.eye(3).ravel(), "d": [], "r": np.eye(3).ravel()}
    with pytest.raises(ValueError, match="lacks field 'p'"):
        StereoCalibration.from_camera_info(good, good)
    no_baseline = {**good, "p": np.hstack([np.eye(3), np.zeros((3, 1))]).ravel()}
    with pytest.raises(ValueError, match="baseline"):
        StereoCalibration.from_camera_info(no_baseline, no_baseline)
    with pytest.raises(ValueError, match="must have 9 values"):
        StereoCalibration.from_camera_info({**no_baseline, "k": [1, 2]}, no_baseline)


def test_wrong_image_size_is_rejected():
    rectifier = Rectifier(StereoCalibration.ideal(160, 120, 80.0, 0.1))
    with pytest.raises(ValueError, match="calibration is for 160x120"):
        rectifier.rectify(np.zeros((240, 320), np.uint8), np.zeros((240, 320), np.uint8))


def test_real_euroc_pair_is_row_aligned(real_data):
    """Real EuRoC V1_01 frames: matched ORB features lie on the same rectified row."""
    sequence = EurocSequence(real_data("stereo/euroc_v1_01_easy_micro"))
    rectifier = Rectifier(
        StereoCalibration.from_euroc(sequence.left_sensor, sequence.right_sensor), (376, 240)
    )
    assert rectifier.baseline_m == pytest.approx(0.110, abs=0.002)
    frame = sequence[10]
    left, right = rectifier.rectify(frame.left, frame.right)
    orb = cv2.ORB.create(1000)
    kp_l, des_l = orb.detectAndCompute(left, None)
    kp_r, des_r = orb.detectAndCompute(right, None)
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(des_l, des_r)
    dy = np.array([kp_l[m.queryIdx].pt[1] - kp_r[m.trainIdx].pt[1] for m in matches])
    dx = np.array([kp_l[m.queryIdx].pt[0] - kp_r[m.trainIdx].pt[0] for m in matches])
    good = np.abs(dy) < 5  # discard outlier matches
    assert good.sum() > 50
    assert np.median(np.abs(dy[good])) < 0.6
    assert np.median(dx[good]) > 0  # positive disparities: left really is left
