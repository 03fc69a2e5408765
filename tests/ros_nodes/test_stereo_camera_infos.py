"""StereoCameraInfos: the last valid CameraInfo per side, new problems flagged once, the calibration handed
over only when the pair changes, an unusable pair rejected without rebuilding (real CameraInfo messages)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robossl.pipelines.stereo_mono.calibration import StereoCalibration
from robossl_ros.conversions import RejectedInput
from robossl_ros.message_builders import stereo_camera_infos
from robossl_ros.stereo_camera_infos import StereoCameraInfos, check_pair_size

TOPICS = {"left": "left/camera_info", "right": "right/camera_info"}


def _calibration(fx: float = 400.0) -> StereoCalibration:
    K = np.array([[fx, 0, 160.0], [0, fx, 120.0], [0, 0, 1]])
    D = np.zeros(5)
    return StereoCalibration((320, 240), K, D, K.copy(), D.copy(), np.eye(3), np.array([-0.1, 0, 0]))


def test_bad_camera_info_keeps_the_last_valid_one_and_is_flagged_new_once() -> None:
    cameras = StereoCameraInfos(TOPICS)
    with pytest.raises(LookupError):
        cameras.apply(cameras.snapshot(), lambda c: None)
    left, right = stereo_camera_infos(_calibration(), 1)
    bad = stereo_camera_infos(_calibration(), 1)[1]
    bad.k[0] = math.nan
    why, new = cameras.add("right", bad) or (None, False)
    assert isinstance(why, RejectedInput) and why.reason == "bad_calibration" and new
    assert "right/camera_info" in str(why)
    again = cameras.add("right", bad)
    assert again is not None and str(again[0]) == str(why) and again[1] is False  # a repeat: not new
    assert cameras.add("left", left) is None
    with pytest.raises(RejectedInput, match="no valid CameraInfo yet: CameraInfo on right/camera_info"):
        cameras.apply(cameras.snapshot(), lambda c: None)
    assert cameras.add("right", right) is None
    used: list[StereoCalibration] = []
    snapshot = cameras.snapshot()
    assert cameras.apply(snapshot, used.append) and len(used) == 1
    assert used[0].image_size == (320, 240) and used[0].K_left[0, 0] == pytest.approx(400.0)
    assert not cameras.apply(snapshot, used.append) and len(used) == 1  # same pair: nothing rebuilt
    assert cameras.add("right", bad) is not None  # a bad one later: the last valid pair stays in use
    assert not cameras.apply(cameras.snapshot(), used.append) and len(used) == 1


def test_a_pair_that_cannot_be_used_is_rejected_once_and_then_without_rebuilding() -> None:
    cameras = StereoCameraInfos(TOPICS)
    for side, info in zip(("left", "right"), stereo_camera_infos(_calibration(), 1)):
        cameras.add(side, info)
    calls = []

    def refuse(calibration: StereoCalibration) -> None:
        calls.append(calibration)
        raise ValueError("rectified size 16x12 is too small")

    for _ in range(2):
        with pytest.raises(
            RejectedInput, match="CameraInfo pair on left/camera_info and right/camera_info: "
        ):
            cameras.apply(cameras.snapshot(), refuse)
    assert len(calls) == 1
    for side, info in zip(("left", "right"), stereo_camera_infos(_calibration(fx=420.0), 2)):
        cameras.add(side, info)
    assert cameras.apply(cameras.snapshot(), lambda c: None)  # a new pair is tried again


def test_pair_size_must_match_each_other_and_the_calibration() -> None:
    image = np.zeros((240, 320), np.uint8)
    check_pair_size(image, image, (320, 240), "left/image_raw")
    with pytest.raises(RejectedInput, match=r"left 320x240, right 300x240, CameraInfo 320x240"):
        check_pair_size(image, np.zeros((240, 300), np.uint8), (320, 240), "left/image_raw")
    with pytest.raises(RejectedInput, match="CameraInfo 640x480; publish both at the calibrated size"):
        check_pair_size(image, image, (640, 480), "left/image_raw")
