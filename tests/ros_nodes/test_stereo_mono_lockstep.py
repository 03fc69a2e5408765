"""stereo_mono_node learning lock-step (``train_steps_per_input``) over real DDS, started from the drone
demo's pretrained checkpoint: exactly N training steps per processed stereo pair, whatever the machine."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.ros_nodes.ros_harness import Probe, node_log, start_node, stop_node

os.environ.setdefault("MUJOCO_GL", "egl")

NODE = "stereo_mono_node"
FRAMES = 12
STEPS_PER_PAIR = 2


@pytest.mark.ros
def test_node_trains_exactly_n_steps_per_pair_from_the_pretrained_checkpoint(tmp_path: Path) -> None:
    from sensor_msgs.msg import CameraInfo, Image, Range

    from robossl.online.checkpoint import load_checkpoint
    from robossl_ros.conversions import image_msg, stereo_camera_infos
    from robossl_ros.demo import drone_stage
    from robossl_ros.demo.drone_pretraining import DronePretrainConfig
    from robossl_sim.worlds.drone_room import DroneRoom

    config = drone_stage.DroneStageConfig(
        train_steps_per_frame=STEPS_PER_PAIR,
        hot_swap_every_steps=4,
        pretrain=DronePretrainConfig(rooms=1, seconds_per_room=3.2, steps=5),
    )
    start = drone_stage.prepare(config, tmp_path / "cache", lambda fraction, status: None)
    model = tmp_path / "stereo_mono.pt"
    model.write_bytes(start.checkpoint.read_bytes())
    params = drone_stage.node_parameters(config, str(model))[NODE]
    batch = 4
    params.update({"batch_size": batch, "diagnostics_period_s": 0.2, "queue_depth": 50})
    proc = start_node(NODE, tmp_path, params)
    probe = Probe()
    try:
        for topic in ("left/image_raw", "right/image_raw"):
            probe.publisher(Image, topic)
        for topic in ("left/camera_info", "right/camera_info"):
            probe.publisher(CameraInfo, topic)
        probe.subscribe(Range, "distance")
        from diagnostic_msgs.msg import DiagnosticArray

        probe.subscribe(DiagnosticArray, "/diagnostics")
        probe.wait_for_subscribers(list(probe.publishers), timeout=60)
        probe.spin_for(0.5)
        with DroneRoom(0, "heldout") as room:
            room.set_command(0.3, 0.4)
            for k in range(FRAMES):
                render = room.render()
                stamp = 1_000_000_000 + k * 200_000_000
                info_l, info_r = stereo_camera_infos(room.calibration, stamp, ("left", "right"))
                probe.publishers["left/camera_info"].publish(info_l)
                probe.publishers["right/camera_info"].publish(info_r)
                probe.publishers["left/image_raw"].publish(image_msg(render.left, "rgb8", stamp, "left"))
                probe.publishers["right/image_raw"].publish(image_msg(render.right, "rgb8", stamp, "right"))
                # closed loop: the next pair only after this one's answer
                assert probe.spin_until(lambda k=k: len(probe.received["distance"]) > k, timeout=90), (
                    node_log(tmp_path, NODE)
                )
                room.step(0.2)

        forfeited = STEPS_PER_PAIR * (batch - 1)  # pairs 1 .. batch-1: the replay holds less than a batch
        expected = 5 + STEPS_PER_PAIR * FRAMES - forfeited

        def trained() -> bool:  # the last pair's steps are trained right after its answer
            values = probe.diagnostics(NODE)
            return values is not None and int(values["training_steps"]) >= expected

        probe.spin_until(trained, timeout=60)
        probe.spin_for(1.0)  # no step more comes
        values = probe.diagnostics(NODE)
        assert values is not None, node_log(tmp_path, NODE)
    finally:
        probe.close()
        rc = stop_node(proc)
    log = node_log(tmp_path, NODE)
    assert rc == 0, log
    assert f"loaded model from {model} (5 steps)" in log
    assert int(values["frames_processed"]) == FRAMES
    assert int(values["forfeited_steps"]) == forfeited
    assert int(values["training_steps"]) == expected
    assert int(values["train_steps_per_input"]) == STEPS_PER_PAIR
    assert load_checkpoint(model)["steps"] == expected
    assert np.isfinite([m.range for m in probe.received["distance"]]).all()
