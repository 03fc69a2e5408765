"""Camera geometry and painting of wheel tracks into images."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robossl.pipelines.terrain.projection import (
    IGNORE_INDEX,
    PinholeCamera,
    camera_mount,
    paint_track_labels,
    pose_from_xy_yaw,
    project_points,
    wheel_track_polygons,
)

CAMERA = PinholeCamera.from_vertical_fov(60.0, 128, 96)


def test_fov_gives_focal_length() -> None:
    assert CAMERA.fy == pytest.approx(48 / math.tan(math.radians(30)))
    assert (CAMERA.cx, CAMERA.cy) == (63.5, 47.5)


def test_point_on_optical_axis_hits_principal_point() -> None:
    mount = camera_mount(0.3, 0.5, 45.0)
    world_T_camera = pose_from_xy_yaw(2.0, 1.0, math.pi / 2) @ mount
    # 45 deg down from 0.5 m height: the axis meets the ground 0.5 m ahead of the camera.
    # The robot faces +y, so that point is at (2, 1 + 0.3 + 0.5, 0).
    uv, depth = project_points(np.array([[2.0, 1.8, 0.0]]), world_T_camera, CAMERA)
    np.testing.assert_allclose(uv[0], [CAMERA.cx, CAMERA.cy], atol=1e-9)
    assert depth[0] == pytest.approx(0.5 * math.sqrt(2))
    # A point to the robot's left appears on the image's left.
    uv_left, _ = project_points(np.array([[1.8, 1.8, 0.0]]), world_T_camera, CAMERA)
    assert uv_left[0, 0] < CAMERA.cx


def test_track_quads_follow_the_wheels() -> None:
    start, end = pose_from_xy_yaw(0, 0, 0), pose_from_xy_yaw(1, 0, 0)
    quads = wheel_track_polygons(start, end, np.array([[0.2, 0.3], [0.2, -0.3]]), 0.1)
    assert quads.shape == (2, 4, 3)
    np.testing.assert_allclose(quads[0, :, :2], [[0.2, 0.35], [0.2, 0.25], [1.2, 0.25], [1.2, 0.35]])
    assert np.all(quads[..., 2] == 0)


def test_paints_later_track_and_ignores_the_rest() -> None:
    mount = camera_mount(0.3, 0.5, 35.0)
    world_T_camera = pose_from_xy_yaw(0, 0, 0) @ mount
    ahead = wheel_track_polygons(
        pose_from_xy_yaw(1.0, 0, 0), pose_from_xy_yaw(1.5, 0, 0), np.array([[0.0, 0.2], [0.0, -0.2]]), 0.1
    )
    behind = wheel_track_polygons(
        pose_from_xy_yaw(-2.0, 0, 0), pose_from_xy_yaw(-1.5, 0, 0), np.array([[0.0, 0.0]]), 0.1
    )
    labels = paint_track_labels(CAMERA, world_T_camera, np.concatenate([ahead, behind]), np.array([3, 1, 2]))
    values, counts = np.unique(labels, return_counts=True)
    assert set(values.tolist()) == {1, 3, IGNORE_INDEX}  # label 2 is behind the camera: skipped
    # Left wheel (label 3) on the left half, right wheel (label 1) on the right half.
    cols3, cols1 = np.nonzero(labels == 3)[1], np.nonzero(labels == 1)[1]
    assert cols3.max() < CAMERA.cx < cols1.min()
    assert counts[values.tolist().index(IGNORE_INDEX)] > 0.9 * labels.size


def test_index_painting_and_label_range() -> None:
    world_T_camera = pose_from_xy_yaw(0, 0, 0) @ camera_mount(0.3, 0.5, 35.0)
    quad = wheel_track_polygons(
        pose_from_xy_yaw(1, 0, 0), pose_from_xy_yaw(1.3, 0, 0), np.array([[0.0, 0.0]]), 0.2
    )
    index = paint_track_labels(CAMERA, world_T_camera, quad, np.array([700]), background=-1)
    assert index.dtype == np.int32 and set(np.unique(index).tolist()) == {-1, 700}
    with pytest.raises(ValueError, match="background=-1"):
        paint_track_labels(CAMERA, world_T_camera, quad, np.array([700]))
