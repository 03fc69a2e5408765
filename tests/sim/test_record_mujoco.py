"""Record a real MuJoCo drone-room run (stereo RGB, depth, IMU from the physics state) and replay it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robossl.data.bags.message_builders import build_image, build_imu
from robossl.data.bags.messages import decode_image, decode_imu
from robossl_sim.recorder import Recorder
from robossl_sim.replay import ReplayConfig, Replayer

FRAME_S = 0.05


def test_mujoco_run_round_trips_through_a_bag(tmp_path: Path) -> None:
    from robossl_sim.worlds.drone_room import DroneRoom

    frames = []
    with DroneRoom(seed=1) as room, Recorder(tmp_path / "sim_run", topics=None) as rec:
        store = rec.typestore
        room.set_command(forward_mps=0.4, yaw_rate=0.3)
        for k in range(8):
            stamp = 1_000_000_000 + int(k * FRAME_S * 1e9)
            room.step(FRAME_S)
            render = room.render()
            gyro = [0.0, 0.0, float(room.data.qvel[2])]  # yaw rate from the physics state
            rec.record("/left/image_raw", stamp, build_image(store, stamp, "left", render.left, "rgb8"))
            rec.record("/right/image_raw", stamp, build_image(store, stamp, "right", render.right, "rgb8"))
            rec.record("/left/depth", stamp, build_image(store, stamp, "left", render.left_depth, "32FC1"))
            rec.record("/imu", stamp, build_imu(store, stamp, "imu", gyro, [0.0, 0.0, 9.81]))
            frames.append((stamp, render, gyro))
    got: dict[str, list] = {}
    stats = Replayer(tmp_path / "sim_run", ReplayConfig(rate=None)).run(
        lambda m: got.setdefault(m.topic, []).append(m)
    )
    assert stats.messages == 32 and stats.problems == []
    assert frames[0][1].left.std() > 5, "the render should show a textured room, not a blank image"
    for (stamp, render, gyro), left, right, depth, imu in zip(
        frames, got["/left/image_raw"], got["/right/image_raw"], got["/left/depth"], got["/imu"]
    ):
        assert decode_image(left.msg)[0] == stamp
        np.testing.assert_array_equal(decode_image(left.msg)[1], render.left)
        np.testing.assert_array_equal(decode_image(right.msg)[1], render.right)
        np.testing.assert_array_equal(decode_image(depth.msg)[1], render.left_depth)
        np.testing.assert_array_equal(decode_imu(imu.msg).angular_velocity, gyro)
