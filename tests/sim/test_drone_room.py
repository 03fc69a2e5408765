"""MuJoCo drone room: layouts, metric depth, stereo geometry, collisions from contacts, closed loop."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")

from robossl.pipelines.stereo_mono import StereoMonoConfig, StereoMonoPipeline, StereoTeacher  # noqa: E402
from robossl.pipelines.stereo_mono.switching import FlightMode  # noqa: E402
from robossl_sim.closed_loop import FlightConfig, ObstacleAvoider, fly  # noqa: E402
from robossl_sim.worlds.drone_room import DroneRoom, DroneRoomConfig, make_layout  # noqa: E402

EMPTY = DroneRoomConfig(obstacle_count=(0, 0))


@pytest.fixture(scope="module")
def empty_room():
    with DroneRoom(0, config=EMPTY) as room:
        yield room


def test_layouts_are_deterministic_and_splits_differ():
    config = DroneRoomConfig()
    a, b = make_layout(5, "train", config), make_layout(5, "train", config)
    assert a == b
    held = make_layout(5, "heldout", config)
    assert held.texture_seeds != a.texture_seeds
    for layout in (a, held):
        assert config.obstacle_count[0] <= len(layout.obstacles) <= config.obstacle_count[1]
        x, y, _ = layout.start
        for ob in layout.obstacles:
            assert math.hypot(ob.x - x, ob.y - y) > math.hypot(ob.half_x, ob.half_y) + config.min_gap_m
    with pytest.raises(ValueError, match="unknown room split"):
        make_layout(0, "test", config)


def test_render_gives_rgb_and_metric_depth(empty_room):
    empty_room.reset((0.0, 0.0, 0.0))  # facing the east wall at x = 2.5; cameras 0.05 m ahead of centre
    frame = empty_room.render()
    assert frame.left.shape == (120, 160, 3) and frame.left.dtype == np.uint8
    assert frame.left_depth[60, 80] == pytest.approx(2.45, rel=0.01)
    # the wall is a plane perpendicular to the optical axis: same depth along the centre row
    assert np.ptp(frame.left_depth[60, 40:120]) < 0.02
    assert frame.left.std() > 10  # textured, not blank


def test_stereo_pair_has_the_configured_baseline(empty_room):
    empty_room.reset((0.5, 0.3, 0.0))
    frame = empty_room.render()
    calibration = empty_room.calibration
    teacher = StereoTeacher(calibration.P_left[0, 0], calibration.baseline_m)
    result = teacher(frame.left, frame.right)
    window = (slice(50, 70), slice(70, 110))
    confident = result.confidence[window] > 0.3
    assert confident.mean() > 0.5
    assert np.median(result.depth[window][confident]) == pytest.approx(2.5 - 0.5 - 0.05, rel=0.05)


def test_collision_is_detected_from_contacts(empty_room):
    empty_room.reset((1.5, 0.0, 0.0))
    empty_room.set_command(0.5, 0.0)
    empty_room.step(1.0)  # 0.5 m: sphere front at 2.15 m, wall at 2.5 m
    assert not empty_room.in_collision()
    assert empty_room.nearest_obstacle_distance() == pytest.approx(0.35, abs=0.02)
    empty_room.step(1.5)
    assert empty_room.in_collision()
    assert empty_room.pose[0] < 2.5 - 0.14  # the wall stopped the drone


def pipeline_for(room: DroneRoom, policy: str) -> StereoMonoPipeline:
    config = StereoMonoConfig.from_dict(
        {
            "sgbm": {"num_disparities": 48},
            "student": {"input_height": 32, "input_width": 64, "width": 0.25},
            "switching": {"policy": policy},
            "run_mono_in_stereo_mode": policy != "stereo_only",
        }
    )
    return StereoMonoPipeline(config, room.calibration)


@pytest.mark.slow
def test_closed_loop_stereo_avoids_walls_that_a_blind_student_hits(empty_room):
    """An untrained student predicts 2 m everywhere, so mono_only flight never turns and hits walls;
    stereo flight turns away. Both fly 30 simulated seconds from the same pose."""
    flight = FlightConfig(duration_s=30.0, camera_hz=4.0, train_steps=0, absrel_every_frames=10)
    logs = {}
    for policy in ("stereo_only", "mono_only"):
        empty_room.reset((0.0, 0.0, 0.3))
        logs[policy] = fly(empty_room, pipeline_for(empty_room, policy), flight)
    stereo, blind = logs["stereo_only"].summary(), logs["mono_only"].summary()
    assert blind["collisions"] >= 2
    assert stereo["collisions"] <= 1
    assert stereo["distance_m"] > 6.0
    assert stereo["mono_time_fraction"] == 0.0 and blind["mono_time_fraction"] == 1.0
    # full-width matching adds some wrong matches at the left edge (points the right camera does not see)
    assert stereo["stereo_absrel"] < 0.2
    assert len(logs["stereo_only"].positions) == 120


@pytest.mark.slow
def test_training_wheels_stop_a_blind_student_from_hitting_walls(empty_room):
    """The untrained student reads 2 m everywhere; let it fly at once (quality gate open): stereo must take
    over on every approach that stereo-only flight would avoid, so no wall is hit, while mono still flies
    the open stretches."""
    flight = FlightConfig(duration_s=30.0, camera_hz=4.0, train_steps=0, absrel_every_frames=10)
    pipeline = pipeline_for(empty_room, "persistent")
    switching = pipeline.config.switching
    switching.min_learning_frames, switching.min_quality_count = 0, 1
    switching.quality_enter, switching.quality_exit = 5.0, 6.0
    outputs = []
    process = pipeline.process

    def recording_process(left, right, stamp):
        outputs.append(process(left, right, stamp))
        return outputs[-1]

    pipeline.process = recording_process  # type: ignore[method-assign]
    empty_room.reset((0.0, 0.0, 0.3))
    log = fly(empty_room, pipeline, flight)
    summary = log.summary()
    # never flown on mono where stereo-only flight would avoid (stereo < 1 m) and mono would fly on
    mono_flew_on = [
        o for o in outputs if o.mode is FlightMode.MONO and o.stereo_distance < 1.0 and o.mono_distance >= 1.0
    ]
    assert len(outputs) == 120 and mono_flew_on == []
    assert summary["collisions"] == 0
    assert summary["mono_time_fraction"] > 0.3
    takeovers = [t for t in log.transitions if "imminent collision" in t]
    assert takeovers and all("mono reads 2.00 m" in t for t in takeovers)
    assert summary["distance_m"] > 5.0


def test_fly_rejects_training_wheels_slower_than_the_controller(empty_room):
    pipeline = pipeline_for(empty_room, "persistent")  # imminent 1.15 m by default
    with pytest.raises(ValueError, match="imminent_distance_m"):
        fly(empty_room, pipeline, FlightConfig(duration_s=1.0, avoid_distance_m=1.3))


def test_avoider_escapes_a_pocket_after_a_full_turn():
    """Blocked, then every direction reads between the avoidance and the clear distance: the avoider turns
    one full revolution, then accepts the avoidance distance instead of spinning for ever."""
    config = FlightConfig(avoid_distance_m=1.0, clear_distance_m=1.4, turn_rate=1.2, clear_margin_rad=0.0)
    avoider = ObstacleAvoider(config)
    dt = 0.25
    assert avoider.command(0.8, None, dt) == (0.0, pytest.approx(1.2))
    commands = [avoider.command(1.2, None, dt) for _ in range(40)]
    turning = [c for c in commands if c[0] == 0.0]
    # 2 pi / (1.2 rad/s * 0.25 s) = 20.9 ticks of turning in all, one of them the first command above
    assert len(turning) == 20 and all(c[0] == 0.0 for c in commands[:20])
    assert commands[20][0] == config.cruise_speed_mps
    # a fresh turn needs the clear distance again
    avoider.command(0.8, None, dt)
    assert avoider.command(1.2, None, dt)[0] == 0.0
    assert avoider.command(1.5, None, dt)[0] == config.cruise_speed_mps


def test_avoider_keeps_turning_a_margin_after_the_view_clears():
    config = FlightConfig(avoid_distance_m=1.0, clear_distance_m=1.4, turn_rate=1.2, clear_margin_rad=0.5)
    avoider = ObstacleAvoider(config)
    dt = 0.25  # 0.3 rad per tick: a 0.5 rad margin takes two more ticks of turning
    avoider.command(0.8, None, dt)
    assert avoider.command(1.2, None, dt)[0] == 0.0
    assert [avoider.command(1.6, None, dt)[0] for _ in range(3)] == [0.0, 0.0, config.cruise_speed_mps]
    # the view closing again during the margin restarts it
    avoider.command(0.8, None, dt)
    assert [avoider.command(d, None, dt)[0] for d in (1.6, 1.2, 1.6, 1.6, 1.6)] == [0.0] * 4 + [
        config.cruise_speed_mps
    ]
