"""SGBM teacher: disparity and depth on scenes with known geometry, confidence, LR check, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from robossl.pipelines.stereo_mono.teacher import (
    SGBMConfig,
    StereoTeacher,
    corridor_distance,
    flight_distance,
)

from .scenes import two_plane_pair


@pytest.mark.parametrize("lr_check", ["internal", "full"])
def test_recovers_known_disparity_and_metric_depth(lr_check):
    left, right, truth = two_plane_pair()
    teacher = StereoTeacher(focal_px=80.0, baseline_m=0.1, config=SGBMConfig(lr_check=lr_check))
    result = teacher(left, right)
    usable = result.valid & (result.confidence > 0.3)
    assert usable.mean() > 0.5
    error = np.abs(result.disparity - truth)[usable]
    assert np.mean(error > 1.0) < 0.05
    # depth = f B / d: background 80 * 0.1 / 4 = 2 m, foreground 0.8 m
    assert np.nanmedian(result.depth[40:80, 60:100][usable[40:80, 60:100]]) == pytest.approx(0.8, rel=0.05)
    assert np.nanmedian(result.depth[:, 120:][usable[:, 120:]]) == pytest.approx(2.0, rel=0.05)


def test_full_lr_check_removes_occluded_band():
    left, right, truth = two_plane_pair(foreground=12)
    internal = StereoTeacher(80.0, 0.1, SGBMConfig(lr_check="none"))(left, right)
    full = StereoTeacher(80.0, 0.1, SGBMConfig(lr_check="full"))(left, right)
    # the background strip just left of the square is visible only in the left image (occlusion)
    band = (slice(35, 85), slice(48, 53))
    assert full.valid[band].mean() < internal.valid[band].mean()


def test_untextured_region_gets_no_confidence():
    left, right, _ = two_plane_pair()
    left[:, :40] = 128
    right[:, :40] = 128
    result = StereoTeacher(80.0, 0.1)(left, right)
    assert result.confidence[:, 5:30].max() < 0.05
    assert result.confidence[:, 80:].mean() > 0.3


def test_rgb_and_float_inputs_are_accepted():
    left, right, truth = two_plane_pair()
    teacher = StereoTeacher(80.0, 0.1)
    grey = teacher(left, right)
    rgb = teacher(np.repeat(left[..., None], 3, 2), np.repeat(right[..., None], 3, 2))
    as_float = teacher(left / 255.0, right / 255.0)
    assert np.nanmean(np.abs(rgb.disparity - grey.disparity)) < 0.1
    assert np.nanmean(np.abs(as_float.disparity - grey.disparity)) < 0.3


def test_bad_input_errors_are_specific():
    left, right, _ = two_plane_pair()
    teacher = StereoTeacher(80.0, 0.1)
    with pytest.raises(ValueError, match="sizes differ: left 160x120, right 150x120"):
        teacher(left, right[:, :150])
    bad = left.astype(np.float32)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        teacher(bad, right)
    with pytest.raises(ValueError, match="multiple of 16"):
        SGBMConfig(num_disparities=20)
    with pytest.raises(ValueError, match="positive"):
        StereoTeacher(0.0, 0.1)


def test_flight_distance_is_inverse_mean_of_central_window():
    depth = np.full((100, 100), 4.0, np.float32)
    depth[40:60, 40:60] = 1.0  # 400 of the 2500 central pixels
    expected = 1.0 / (400 / 2500 * 1.0 + 2100 / 2500 * 0.25)
    assert flight_distance(depth, window=0.5) == pytest.approx(expected)
    assert np.isnan(flight_distance(np.full((10, 10), np.nan)))


def _room_view(height=120, width=160, focal=100.0):
    """Depth seen by a camera 1 m above the floor facing a wall 4 m away, plus a box whose inner edge is
    0.2 m to the right of the optical axis, 0.5 m ahead (the robot's side would clip it)."""
    cx, cy = (width - 1) / 2, (height - 1) / 2
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    depth = np.full((height, width), 4.0)
    below = rows > cy
    floor = 1.0 * focal / np.maximum(rows - cy, 1e-6)
    depth = np.where(below & (floor < depth), floor, depth)
    box = (0.5 * (cols - cx) / focal >= 0.2) & (np.abs(0.5 * (rows - cy) / focal) <= 0.5)
    depth[box] = 0.5
    return depth.astype(np.float32), (focal, focal, cx, cy)


def test_corridor_distance_sees_the_corner_a_central_window_misses():
    depth, intrinsics = _room_view()
    # the box fills under 10 % of the 0.6 window, so the window's 10th percentile reads past it
    assert flight_distance(depth, window=0.6, percentile=10.0) > 2.0
    assert corridor_distance(depth, None, intrinsics, 0.25, 0.25, percentile=10.0) == pytest.approx(0.5)
    # a narrower corridor (robot 2 x 0.15 m wide) passes the box: the wall ahead, not the floor, is next
    assert corridor_distance(depth, None, intrinsics, 0.15, 0.25, percentile=10.0) == pytest.approx(4.0)


def test_corridor_distance_clear_unknown_and_bad_arguments():
    depth, intrinsics = _room_view()
    only_floor = np.where(np.arange(120)[:, None] > 70, depth, np.nan).astype(np.float32)
    assert corridor_distance(only_floor, None, intrinsics, 0.15, 0.25, clear_m=20.0) == 20.0
    assert np.isnan(corridor_distance(np.full((120, 160), np.nan, np.float32), None, intrinsics, 0.2, 0.2))
    masked = np.zeros(depth.shape, bool)
    assert np.isnan(corridor_distance(depth, masked, intrinsics, 0.2, 0.2))
    with pytest.raises(ValueError, match="half width and half height"):
        corridor_distance(depth, None, intrinsics, 0.0, 0.2)


def test_middlebury_motorcycle_bad_pixel_rate():
    """Real data shipped with scikit-image (Middlebury 2014 motorcycle, quarter size, GT disparity)."""
    data = pytest.importorskip("skimage.data")
    left, right, truth = data.stereo_motorcycle()
    teacher = StereoTeacher(100.0, 1.0, SGBMConfig(num_disparities=64, block_size=5))
    result = teacher(left, right)
    both = result.valid & np.isfinite(truth)
    bad = np.mean(np.abs(result.disparity[both] - truth[both]) > 3.0)
    assert both.sum() > 0.5 * np.isfinite(truth).sum()
    assert bad < 0.20


def test_full_width_matches_the_leftmost_columns():
    left, right, truth = two_plane_pair()
    narrow = StereoTeacher(80.0, 0.1, SGBMConfig(full_width=False))(left, right)
    wide = StereoTeacher(80.0, 0.1, SGBMConfig(full_width=True))(left, right)
    band = (slice(None), slice(8, 32))  # inside SGBM's 32-column blind band, right of the 4 px disparity
    assert not narrow.valid[band].any()
    assert wide.valid[band].mean() > 0.8
    assert np.nanmedian(np.abs(wide.disparity[band] - truth[band])) < 0.5
    # a column x can only match at disparity <= x: the rest would lie in the padding
    columns = np.arange(left.shape[1])[None, :]
    assert not (wide.valid & (wide.disparity > columns)).any()
    # the rest of the image is unchanged by the padding
    both = narrow.valid[:, 40:] & wide.valid[:, 40:]
    assert np.nanmax(np.abs(narrow.disparity[:, 40:][both] - wide.disparity[:, 40:][both])) < 1.0
