"""stereo_mono_node in its own process over real DDS: EuRoC stereo pairs in, disparity / mono depth /
distance / mode out; bad inputs dropped and counted; save/load services; SIGINT saves the model."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from robossl.data.locate import require_data
from tests.ros_nodes.ros_harness import Probe, node_log, start_node, stop_node

NODE = "stereo_mono_node"
FRAMES = 24


def _stereo_source() -> tuple[object, list[tuple[int, np.ndarray, np.ndarray]], str]:
    """(calibration, [(stamp_ns, left, right)], source name): EuRoC when present, else generated frames."""
    from robossl.pipelines.stereo_mono.calibration import StereoCalibration

    try:
        root = require_data("stereo/euroc_v1_01_easy_micro")
    except FileNotFoundError:
        # Generated pair: a smoothed random texture (camera-like: per-pixel white noise has no matchable
        # structure for SGBM) and the same texture shifted by 8 px (a fronto-parallel wall).
        import cv2

        rng = np.random.default_rng(0)
        frames = []
        for k in range(FRAMES):
            noise = rng.integers(0, 256, size=(240, 400), dtype=np.uint8)
            texture = cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 1.2), None, 0, 255, cv2.NORM_MINMAX)
            frames.append((1_000_000_000 + k * 50_000_000, texture[:, 8:384].copy(), texture[:, :376].copy()))
        return StereoCalibration.ideal(376, 240, 200.0, 0.1), frames, "generated"
    from robossl.data.datasets.euroc import EurocSequence

    seq = EurocSequence(root)
    frames = [(f.stamp_ns, f.left, f.right) for f in (seq[i] for i in range(FRAMES))]
    return StereoCalibration.from_euroc(seq.left_sensor, seq.right_sensor), frames, "euroc"


@pytest.mark.ros
@pytest.mark.slow
def test_stereo_mono_node_end_to_end(tmp_path: Path) -> None:
    from sensor_msgs.msg import CameraInfo, Image, Range
    from std_msgs.msg import String
    from std_srvs.srv import Trigger
    from stereo_msgs.msg import DisparityImage

    from robossl.online.checkpoint import load_checkpoint
    from robossl_ros.conversions import image_msg, stereo_camera_infos
    from robossl_ros.qos import STATUS_QOS

    calibration, frames, source = _stereo_source()
    model_path = tmp_path / "stereo_model.pt"
    proc = start_node(
        NODE,
        tmp_path,
        {
            "model_path": str(model_path),
            "min_learning_frames": 5,
            "batch_size": 2,
            "hot_swap_every_steps": 2,
            "replay_capacity": 16,
            "cpu_fraction": 0.5,
            "student_channels": 0.25,
            "rectified_width": 376,  # half the EuRoC width (the default, 0, keeps the raw 752)
            "diagnostics_period_s": 0.5,
            "queue_depth": 50,  # the test asserts that every good pair is processed
        },
    )
    probe = Probe()
    try:
        for topic in ("left/image_raw", "right/image_raw"):
            probe.publisher(Image, topic)
        for topic in ("left/camera_info", "right/camera_info"):
            probe.publisher(CameraInfo, topic)
        probe.subscribe(DisparityImage, "stereo/disparity")
        probe.subscribe(Image, "mono/depth")
        probe.subscribe(Range, "distance")
        probe.subscribe(String, "mode", STATUS_QOS)
        from diagnostic_msgs.msg import DiagnosticArray

        probe.subscribe(DiagnosticArray, "/diagnostics")
        probe.wait_for_subscribers(["left/image_raw", "right/image_raw", "left/camera_info"], timeout=60)
        probe.spin_for(0.5)

        def send(stamp: int, left: np.ndarray, right: np.ndarray, encoding: str = "mono8") -> None:
            info_l, info_r = stereo_camera_infos(calibration, stamp)
            probe.publishers["left/camera_info"].publish(info_l)
            probe.publishers["right/camera_info"].publish(info_r)
            if encoding == "bgr8":
                left, right = np.repeat(left[:, :, None], 3, axis=2), np.repeat(right[:, :, None], 3, axis=2)
            probe.publishers["left/image_raw"].publish(image_msg(left, encoding, stamp, "cam0"))
            probe.publishers["right/image_raw"].publish(image_msg(right, encoding, stamp, "cam1"))
            probe.spin_for(0.08)

        good_stamps = []
        for stamp, left, right in frames[:16]:
            send(stamp, left, right)
            good_stamps.append(stamp)
        # Bad inputs, each dropped and counted while the node keeps running:
        stamp, left, right = frames[16]
        bad = image_msg(left, "mono8", stamp, "cam0")
        bad.encoding = "yuv422"  # wrong encoding (step/size are mono8's)
        probe.publishers["left/image_raw"].publish(bad)
        truncated = image_msg(right, "mono8", stamp, "cam1")
        truncated.data = bytes(truncated.data)[:-100]  # size mismatch
        probe.publishers["right/image_raw"].publish(truncated)
        probe.spin_for(0.1)
        old_stamp, old_left, old_right = frames[0]
        send(old_stamp, old_left, old_right)  # out-of-order stamps on both topics
        stamp, left, right = frames[17]
        send(stamp, left[: left.shape[0] // 2], right[: right.shape[0] // 2])  # pair smaller than CameraInfo
        for k, (stamp, left, right) in enumerate(frames[18:]):
            send(stamp, left, right, "bgr8" if k % 2 else "mono8")  # colour input is converted to grey
            good_stamps.append(stamp)

        def outputs_complete() -> bool:
            return len(probe.received["mono/depth"]) >= len(good_stamps)

        assert probe.spin_until(outputs_complete, timeout=90), (
            f"{len(probe.received['mono/depth'])}/{len(good_stamps)} depth images\n{node_log(tmp_path, NODE)}"
        )

        def trained() -> bool:
            values = probe.diagnostics(NODE)
            return (
                values is not None
                and int(values["training_steps"]) >= 2
                and int(values["frames_processed"]) == len(good_stamps)
            )

        assert probe.spin_until(trained, timeout=60), node_log(tmp_path, NODE)

        # Outputs: stamps and frames of the inputs, 32FC1 at the rectified size, metric values.
        for topic in ("stereo/disparity", "mono/depth", "distance"):
            stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in probe.received[topic]]
            assert stamps == good_stamps, topic
            assert {m.header.frame_id for m in probe.received[topic]} == {"cam0"}
        disparity = probe.received["stereo/disparity"][-1]
        assert disparity.image.encoding == "32FC1" and (disparity.image.width, disparity.image.height) == (
            376,
            240,
        )
        assert disparity.image.header.frame_id == "cam0"
        expected_baseline = 0.11 if source == "euroc" else 0.1
        assert disparity.t == pytest.approx(expected_baseline, abs=0.01) and disparity.f > 0
        disp = np.frombuffer(bytes(disparity.image.data), np.float32).reshape(240, 376)
        valid = disp >= disparity.min_disparity
        assert valid.mean() > 0.2, "SGBM found almost no disparities"
        assert disp[valid].max() <= disparity.max_disparity
        depth_msg = probe.received["mono/depth"][-1]
        assert depth_msg.encoding == "32FC1" and (depth_msg.width, depth_msg.height) == (376, 240)
        depth = np.frombuffer(bytes(depth_msg.data), np.float32)
        assert np.isfinite(depth).all() and (depth > 0.05).all() and (depth < 25).all()
        assert all(0 < r.range < 25 or r.range == float("inf") for r in probe.received["distance"])
        assert probe.received["mode"][0].data == "stereo"

        values = probe.diagnostics(NODE)
        assert values is not None
        assert values["dropped.left/image_raw.wrong_encoding"] == "1"
        assert values["dropped.right/image_raw.size_mismatch"] == "1"
        assert values["dropped.left/image_raw.out_of_order"] == "1"
        assert values["dropped.right/image_raw.out_of_order"] == "1"
        assert values["dropped.left/image_raw.size_mismatch"] == "1"  # the half-height pair
        assert int(values["frames_processed"]) == len(good_stamps)
        assert float(values["buffer_fill"]) > 0 and int(values["model_version"]) >= 1

        # Save / load on request.
        for service in ("save_model", "load_model"):
            client = probe.node.create_client(Trigger, f"/{NODE}/{service}")
            assert client.wait_for_service(timeout_sec=20)
            future = client.call_async(Trigger.Request())
            assert probe.spin_until(future.done, timeout=60)
            result = future.result()
            assert result is not None and result.success, result
        assert model_path.is_file()
        saved_steps = load_checkpoint(model_path)["steps"]
        assert saved_steps >= 2
        mtime = model_path.stat().st_mtime_ns
        time.sleep(0.05)
    finally:
        probe.close()
        rc = stop_node(proc)
    log = node_log(tmp_path, NODE)
    assert rc == 0, log
    assert "saved model to" in log  # on SIGINT
    assert model_path.stat().st_mtime_ns > mtime
    assert load_checkpoint(model_path)["steps"] >= saved_steps
