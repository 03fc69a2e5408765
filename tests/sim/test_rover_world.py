"""Rover world: maps, rendering with ground truth, and camera geometry consistent with the projection code."""

from __future__ import annotations

import numpy as np
import pytest

from robossl.pipelines.terrain.projection import IGNORE_INDEX, paint_track_labels, wheel_track_polygons
from robossl_sim.worlds.rover import RoverConfig, RoverWorld, make_terrain_map, record_drive
from robossl_sim.worlds.terrain_textures import TERRAIN_TYPES, terrain_texture


def test_maps_are_deterministic_use_every_terrain_and_differ_by_split() -> None:
    config = RoverConfig(num_terrains=4)
    a, b = make_terrain_map(3, "train", config), make_terrain_map(3, "train", config)
    np.testing.assert_array_equal(a.grid, b.grid)
    assert set(np.unique(a.grid).tolist()) == {0, 1, 2, 3}
    held = make_terrain_map(3, "heldout", config)
    assert not np.array_equal(a.grid, held.grid)
    assert a.terrain_at(np.array([[100.0, 0.0]])).tolist() == [-1]
    with pytest.raises(ValueError, match="heldout"):
        make_terrain_map(0, "test", config)


def test_textures_are_distinct_per_terrain() -> None:
    means = np.array([terrain_texture(t, 64).reshape(-1, 3).mean(0) for t in TERRAIN_TYPES])
    dist = np.linalg.norm(means[:, None] - means[None], axis=-1)
    assert dist[~np.eye(len(TERRAIN_TYPES), dtype=bool)].min() > 10  # mean colours differ by > 10 levels


def test_drive_renders_ground_truth_matching_the_projected_tracks() -> None:
    """Wheel tracks projected with the pipeline's camera model land on pixels whose rendered terrain
    (MuJoCo segmentation render) is the terrain under the wheel: geometry, mount and intrinsics agree."""
    with RoverWorld(seed=0) as world:
        drive = record_drive(world, 6.0, np.random.default_rng(0), image_period_s=1.0)
        camera, mount, offsets = world.camera, world.base_T_camera, world.config.wheel_offsets
    assert drive.images.shape == (6, 96, 128, 3) and drive.images.dtype == np.uint8
    assert drive.audio.shape == (6 * 16000,)
    assert drive.images.std() > 10  # textured, not a blank frame
    mask = drive.terrain_masks[0]
    assert (mask != IGNORE_INDEX).mean() > 0.8  # ground fills most of a forward-down view
    polys, labels = [], []
    for k in range(len(drive.poses) - 1):
        polys.append(wheel_track_polygons(drive.poses[k], drive.poses[k + 1], offsets, 0.06))
        labels.extend(drive.wheel_terrains[k].tolist())
    painted = paint_track_labels(camera, drive.poses[0] @ mount, np.concatenate(polys), np.array(labels))
    hit = painted != IGNORE_INDEX
    assert hit.sum() > 200
    assert (painted[hit] == mask[hit]).mean() > 0.95


def test_motion_follows_command() -> None:
    with RoverWorld(seed=1) as world:
        x0, y0, yaw0 = world.pose
        world.set_command(0.5, 0.0)
        audio = world.step(2.0)
        x1, y1, yaw1 = world.pose
    assert np.hypot(x1 - x0, y1 - y0) == pytest.approx(1.0, abs=0.02)
    assert yaw1 == pytest.approx(yaw0, abs=1e-6)
    assert audio.shape == (32000,) and np.isfinite(audio).all()
