"""terrain_node in its own process over real DDS: camera images + CameraInfo, interaction audio
(Int16MultiArray, docs/logs.md layout) and odometry of a rover crossing two terrains -> terrain label
images and cluster statistics; bad inputs dropped and counted; SIGINT saves the model.

The inputs are generated in the test (no recorded rover data with audio exists): two terrains with
different audio spectra (low rumble vs. a high-pitched rattle) and different ground colours."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from tests.ros_nodes.ros_harness import Probe, node_log, start_node, stop_node

NODE = "terrain_node"
RATE = 16000
CHUNK = 1024
SPEED = 0.5  # m/s along +x
SECONDS = 7.0
W, H = 96, 72


def _audio(terrain: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(CHUNK) / RATE
    if terrain == 0:
        noise = np.convolve(rng.normal(size=CHUNK + 31), np.ones(32) / 32, mode="valid")[:CHUNK] * 3
        signal = noise + 0.3 * np.sin(2 * np.pi * 120 * t)
    else:
        signal = 0.4 * rng.normal(size=CHUNK) + 0.5 * np.sin(2 * np.pi * 3100 * t)
    return np.clip(signal * 8000, -32768, 32767).astype(np.int16)


def _image(terrain: int, rng: np.random.Generator) -> np.ndarray:
    base = np.array([60, 140, 50]) if terrain == 0 else np.array([150, 140, 130])
    return np.clip(base + rng.normal(0, 20, size=(H, W, 3)), 0, 255).astype(np.uint8)


@pytest.mark.ros
@pytest.mark.slow
def test_terrain_node_end_to_end(tmp_path: Path) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from nav_msgs.msg import Odometry
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Int16MultiArray, MultiArrayDimension, String

    from robossl.data.bags.messages import AudioChunk, CameraModel
    from robossl.online.checkpoint import load_checkpoint
    from robossl_ros.conversions import audio_msg, camera_info_msg, header, image_msg
    from robossl_ros.qos import STATUS_QOS

    model_path = tmp_path / "terrain_model.pt"
    proc = start_node(
        NODE,
        tmp_path,
        {
            "num_clusters": 2,
            "min_clips": 16,
            "embedding_steps": 3,
            "segmentation_steps": 3,
            "cpu_fraction": 0.5,
            "camera_mount": [0.3, 0.5, 35.0],
            "model_path": str(model_path),
            "diagnostics_period_s": 0.5,
        },
    )
    probe = Probe()
    rng = np.random.default_rng(0)
    f = (H / 2) / math.tan(math.radians(30))
    K = np.array([[f, 0, (W - 1) / 2], [0, f, (H - 1) / 2], [0, 0, 1]])
    info = camera_info_msg(
        CameraModel(
            0, "camera", W, H, "plumb_bob", np.zeros(5), K, np.eye(3), np.hstack([K, np.zeros((3, 1))])
        )
    )
    try:
        for topic, kind in (
            ("camera/image_raw", Image),
            ("camera/camera_info", CameraInfo),
            ("audio", Int16MultiArray),
            ("odom", Odometry),
        ):
            probe.publisher(kind, topic, 100)
        probe.subscribe(Image, "terrain/labels", 100)
        probe.subscribe(String, "terrain/clusters", STATUS_QOS)
        probe.subscribe(DiagnosticArray, "/diagnostics")
        probe.wait_for_subscribers(["camera/image_raw", "audio", "odom"], timeout=60)
        probe.spin_for(0.5)

        t0 = time.time_ns()
        chunk_ns = int(CHUNK * 1e9 / RATE)
        image_stamps = []
        next_odom = next_image = next_audio = 0
        end = int(SECONDS * 1e9)
        while min(next_odom, next_image, next_audio) < end:
            now = min(next_odom, next_image, next_audio)
            x = SPEED * now * 1e-9
            terrain = 0 if x < 1.6 else 1
            if now == next_odom:
                odom = Odometry(header=header(t0 + now, "odom"))
                odom.pose.pose.position.x = x
                odom.pose.pose.orientation.w = 1.0
                probe.publishers["odom"].publish(odom)
                next_odom += 50_000_000
            elif now == next_audio:
                probe.publishers["audio"].publish(
                    audio_msg(AudioChunk(_audio(terrain, rng)[:, None], RATE, t0 + now))
                )
                next_audio += chunk_ns
            else:
                info.header = header(t0 + now, "camera")
                probe.publishers["camera/camera_info"].publish(info)
                probe.publishers["camera/image_raw"].publish(
                    image_msg(_image(terrain, rng), "rgb8", t0 + now, "camera")
                )
                image_stamps.append(t0 + now)
                next_image += 250_000_000
            probe.spin_for(0.003)
        # Bad inputs: each is dropped and counted, the node keeps running.
        last = t0 + end
        probe.publishers["camera/image_raw"].publish(
            image_msg(np.zeros((H, W), np.float32), "32FC1", last + 1, "camera")
        )
        probe.publishers["camera/image_raw"].publish(
            image_msg(_image(0, rng)[: H // 2], "rgb8", last + 2, "camera")
        )
        probe.publishers["audio"].publish(audio_msg(AudioChunk(_audio(0, rng)[:, None], 8000, last + 3)))
        bad_layout = Int16MultiArray(data=[1, 2, 3])
        bad_layout.layout.dim = [MultiArrayDimension(label="pcm", size=3, stride=3)]
        probe.publishers["audio"].publish(bad_layout)
        nan_odom = Odometry(header=header(last + 4, "odom"))
        nan_odom.pose.pose.position.x = float("nan")
        probe.publishers["odom"].publish(nan_odom)

        def segmenting() -> bool:  # a trained network is published to inference (steps count mid-round)
            values = probe.diagnostics(NODE)
            return values is not None and int(values["model_version"]) > 0

        assert probe.spin_until(segmenting, 90), f"{probe.diagnostics(NODE)}\n{node_log(tmp_path, NODE)}"
        # Images after training are segmented into the learned clusters.
        for k in range(3):
            stamp = last + 1_000_000 * (k + 10)
            probe.publishers["camera/image_raw"].publish(
                image_msg(_image(k % 2, rng), "bgr8", stamp, "camera")
            )
            image_stamps.append(stamp)

        def stale_images() -> int:  # free-running: a newer image replaces the waiting one (latest-only)
            return int((probe.diagnostics(NODE) or {}).get("dropped.camera/image_raw.stale", 0))

        def accounted() -> bool:  # every image is either labelled or dropped as stale (counted), never lost
            return len(probe.received["terrain/labels"]) + stale_images() == len(image_stamps)

        assert probe.spin_until(accounted, 30), (len(probe.received["terrain/labels"]), stale_images())

        labels = probe.received["terrain/labels"]
        stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in labels]
        assert stamps == [s for s in image_stamps if s in set(stamps)]  # in order, only images sent
        assert stamps[-1] == image_stamps[-1]  # the newest image is never the one replaced
        assert {m.header.frame_id for m in labels} == {"camera"}
        assert all(m.encoding == "mono8" and (m.width, m.height) == (W, H) for m in labels)
        first = np.frombuffer(bytes(labels[0].data), np.uint8)
        assert (first == 255).all()  # nothing learned yet at the first image
        trained = np.frombuffer(bytes(labels[-1].data), np.uint8)
        assert trained.max() < 2  # every pixel gets one of the 2 clusters once segmentation trained

        stats = json.loads(probe.received["terrain/clusters"][-1].data)
        assert stats["num_clusters"] == 2 and 16 <= sum(stats["clips_per_cluster"]) <= stats["clips"]
        assert min(stats["clips_per_cluster"]) > 0
        values = probe.diagnostics(NODE)
        assert values is not None
        assert values["dropped.camera/image_raw.wrong_encoding"] == "1"
        assert values["dropped.camera/image_raw.size_mismatch"] == "1"
        assert values["dropped.audio.wrong_rate"] == "1"
        assert values["dropped.audio.bad_audio_layout"] == "1"
        assert values["dropped.odom.non_finite"] == "1"
    finally:
        probe.close()
        rc = stop_node(proc)
    log = node_log(tmp_path, NODE)
    assert rc == 0, log
    assert "saved model to" in log
    state = load_checkpoint(model_path)["pipeline"]
    assert state["embedder"] is not None and state["segmenter"] is not None


@pytest.mark.ros
def test_lockstep_learns_exactly_one_round_per_n_images_and_nothing_between(tmp_path: Path) -> None:
    """``images_per_round=3``: after every third image exactly ``embedding_steps`` + ``segmentation_steps``
    steps, none after the others and none while the publisher waits; ``terrain/clusters`` reports
    ``images_seen`` after every image, which is what a lock-step publisher waits for. A round waits for the
    audio and odometry up to its image when the image overtakes them, and runs without them after
    LOCKSTEP_SETTLE_S when they never come."""
    from diagnostic_msgs.msg import DiagnosticArray
    from nav_msgs.msg import Odometry
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Int16MultiArray, String

    from robossl.data.bags.messages import AudioChunk, CameraModel
    from robossl_ros.conversions import audio_msg, camera_info_msg, header, image_msg
    from robossl_ros.qos import STATUS_QOS

    per_round, embedding, segmentation = 3, 2, 3
    proc = start_node(
        NODE,
        tmp_path,
        {
            "num_clusters": 2,
            "min_clips": 16,
            "embedding_steps": embedding,
            "segmentation_steps": segmentation,
            "images_per_round": per_round,
            "camera_mount": [0.3, 0.5, 35.0],
            "diagnostics_period_s": 0.2,
        },
    )
    probe = Probe()
    rng = np.random.default_rng(1)
    f = (H / 2) / math.tan(math.radians(30))
    K = np.array([[f, 0, (W - 1) / 2], [0, f, (H - 1) / 2], [0, 0, 1]])
    info = camera_info_msg(
        CameraModel(
            0, "camera", W, H, "plumb_bob", np.zeros(5), K, np.eye(3), np.hstack([K, np.zeros((3, 1))])
        )
    )
    stats: list[dict] = []

    def reported(images: int) -> bool:
        stats.extend(json.loads(m.data) for m in probe.received["terrain/clusters"][len(stats) :])
        return bool(stats) and stats[-1]["images_seen"] >= images

    try:
        for topic, kind in (
            ("camera/image_raw", Image),
            ("camera/camera_info", CameraInfo),
            ("audio", Int16MultiArray),
            ("odom", Odometry),
        ):
            probe.publisher(kind, topic, 100)
        probe.subscribe(String, "terrain/clusters", STATUS_QOS)
        probe.subscribe(DiagnosticArray, "/diagnostics")
        probe.wait_for_subscribers(["camera/image_raw", "audio", "odom"], timeout=60)
        probe.spin_for(0.5)
        t0 = time.time_ns()
        chunk_ns = int(CHUNK * 1e9 / RATE)
        next_audio, images = 0, 0

        def send_inputs(now: int) -> None:  # odometry every 50 ms and audio chunks up to ``now``
            nonlocal next_audio
            for odom_ns in range(max(0, now - 200_000_000), now + 1, 50_000_000):
                odom = Odometry(header=header(t0 + odom_ns, "odom"))
                odom.pose.pose.position.x = SPEED * odom_ns * 1e-9
                odom.pose.pose.orientation.w = 1.0
                probe.publishers["odom"].publish(odom)
            while next_audio + chunk_ns <= now:
                terrain = 0 if SPEED * next_audio * 1e-9 < 1.6 else 1
                probe.publishers["audio"].publish(
                    audio_msg(AudioChunk(_audio(terrain, rng)[:, None], RATE, t0 + next_audio))
                )
                next_audio += chunk_ns

        def send_image(now: int) -> None:
            info.header = header(t0 + now, "camera")
            probe.publishers["camera/camera_info"].publish(info)
            terrain = 0 if SPEED * now * 1e-9 < 1.6 else 1
            probe.publishers["camera/image_raw"].publish(
                image_msg(_image(terrain, rng), "rgb8", t0 + now, "camera")
            )

        for frame in range(36):  # an image every 0.25 s, after the inputs up to its time
            now = frame * 250_000_000
            images += 1
            if images in (30, 33):  # DDS keeps no order between topics: the image overtakes its inputs
                send_image(now)
                probe.spin_for(0.6)
                assert not reported(images), f"round of image {images} ran before its inputs arrived"
                send_inputs(now)
            elif images == 36:  # inputs that never come: the round runs after LOCKSTEP_SETTLE_S
                send_image(now)
            else:
                send_inputs(now)
                probe.spin_for(0.02)
                send_image(now)
            assert probe.spin_until(lambda n=images: reported(n), 60), node_log(tmp_path, NODE)
        probe.spin_for(1.5)  # idle: a background learner would train now
        probe.publishers["camera/image_raw"].publish(
            image_msg(_image(1, rng), "rgb8", t0 + 36 * 250_000_000, "camera")
        )
        assert probe.spin_until(lambda: reported(images + 1), 60), node_log(tmp_path, NODE)
        probe.spin_for(0.5)
        values = probe.diagnostics(NODE)
        assert values is not None and values["lockstep_settle_timeouts"] == "1", values
    finally:
        probe.close()
        rc = stop_node(proc)
    assert rc == 0, node_log(tmp_path, NODE)
    by_image = {s["images_seen"]: s for s in stats}
    assert sorted(by_image) == list(range(1, images + 2))  # one report per image, none skipped
    keys = ("embedding_steps", "segmentation_steps", "learning_rounds")
    previous = dict.fromkeys(keys, 0)
    rounds = []
    for k in range(1, images + 2):
        now = by_image[k]
        delta = {key: now[key] - previous[key] for key in keys}
        if k % per_round or k > images:
            assert delta == {"embedding_steps": 0, "segmentation_steps": 0, "learning_rounds": 0}, (k, now)
        elif delta["learning_rounds"] or rounds:  # learning has started: every third image learns
            assert delta["learning_rounds"] == 1 and delta["embedding_steps"] == embedding, (k, now)
            assert delta["segmentation_steps"] in (0, segmentation), (k, now)
            rounds.append(delta["segmentation_steps"])
        previous = {key: now[key] for key in keys}
    # Learning starts once min_clips clips exist; from then on every third image learns, segmentation as
    # soon as painted labels exist.
    assert len(rounds) >= 4 and rounds[-3:] == [segmentation] * 3, rounds
    assert by_image[images + 1]["learning_rounds"] == len(rounds)
