"""The rover stage's pretrained start: training-map logs -> offline pretraining -> terrain_node's checkpoint.

:func:`prepare` drives the rover on TRAINING-split maps (never the held-out map of the live stage), records
what terrain_node subscribes to (camera + CameraInfo, interaction audio, odometry) into a rosbag2 (mcap),
reads the bag back through :func:`robossl.pipelines.terrain.replay.feed_bag` into a
:class:`~robossl.pipelines.terrain.pipeline.TerrainPipeline` built exactly as the node builds its own, trains
it offline (embedding rounds with re-clustering, then the segmentation network on the settled track labels)
and saves ``{"pipeline": state_dict()}``, the checkpoint format the node loads from ``model_path`` at
start. The checkpoint keeps the training clips with their cluster ids: the node's re-clustering matches new
clusters to those ids (Hungarian), so a cluster id means the same terrain before and after the start.

Everything lives in ``cache_dir/rover-<key>/`` (``logs/`` the bag, ``terrain.pt`` the checkpoint,
``done.json`` last), keyed by every setting that changes the result, so a second run reuses it. The live
stage's seed does not enter the key: every seed starts from the same pretrained learner and drives its own
held-out map.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from robossl_ros.demo.pretrained import PretrainedStart, cache_folder, finished, fresh_folder, mark_finished
from robossl_ros.demo.rover_config import RoverPretrainConfig, RoverStageConfig, pipeline_config

if TYPE_CHECKING:
    from robossl.pipelines.terrain.pipeline import TerrainPipeline

PRETRAIN_VERSION = 1  # bump when the recording or the training recipe changes what the cache holds
LOG_START_NS = (
    1_000_000_000  # the logs' clock starts at 1 s, before any live stamp (the node drops older poses)
)
FRAME_ID = "rover_camera"


def cache_settings(config: RoverStageConfig) -> dict[str, Any]:
    """What the cached logs and checkpoint depend on (hashed into the cache folder's name)."""
    from robossl_sim.worlds.rover import RoverConfig

    return {
        "version": PRETRAIN_VERSION,
        "pretrain": asdict(config.pretrain),
        "periods_s": [config.control_period_s, config.image_period_s, config.command_period_s],
        "world": asdict(RoverConfig()),
    }


def build_odometry(store: Any, stamp_ns: int, pose: tuple[float, float, float]) -> Any:
    """``nav_msgs/Odometry`` (rosbags) of a ground robot at (x, y, yaw), in the ``odom`` frame."""
    from robossl.data.bags.message_builders import build_header

    types = store.types
    x, y, yaw = (float(v) for v in pose)
    point = types["geometry_msgs/msg/Point"](x=x, y=y, z=0.0)
    orientation = types["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=np.sin(yaw / 2), w=np.cos(yaw / 2))
    zero = types["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0)
    return types["nav_msgs/msg/Odometry"](
        header=build_header(store, stamp_ns, "odom"),
        child_frame_id="base_link",
        pose=types["geometry_msgs/msg/PoseWithCovariance"](
            pose=types["geometry_msgs/msg/Pose"](position=point, orientation=orientation),
            covariance=np.zeros(36),
        ),
        twist=types["geometry_msgs/msg/TwistWithCovariance"](
            twist=types["geometry_msgs/msg/Twist"](linear=zero, angular=zero), covariance=np.zeros(36)
        ),
    )


def record_training_logs(
    bag: Path, config: RoverStageConfig, progress: Callable[[float, str], None]
) -> dict[str, int]:
    """Drive every training map and write terrain_node's input topics to the rosbag2 ``bag`` (mcap).

    The drive loop, periods and message contents are the live stage's; the maps follow each other on one
    clock with ``gap_s`` between them. Returns messages written per topic.
    """
    from robossl.data.bags.message_builders import build_audio, build_camera_info, build_image
    from robossl.data.bags.messages import AudioChunk
    from robossl.data.bags.writer import BagWriter
    from robossl_sim.worlds.rover import RoverWorld, drive_steps

    pretrain = config.pretrain
    rng = np.random.default_rng(pretrain.drive_seed)
    offset_ns = LOG_START_NS
    with BagWriter(bag) as writer:
        store = writer.typestore
        for index, seed in enumerate(pretrain.train_maps):
            with RoverWorld(seed, "train") as world:
                camera = world.camera
                steps = drive_steps(
                    world, pretrain.drive_s, rng, config.image_period_s, config.control_period_s,
                    config.command_period_s,
                )  # fmt: skip
                for step in steps:
                    stamp = offset_ns + int(round(step.t * 1e9))
                    writer.write("/odom", stamp, build_odometry(store, stamp, step.pose))
                    if step.frame is not None:
                        info = build_camera_info(
                            store, stamp, FRAME_ID, (camera.width, camera.height), camera.matrix()
                        )
                        writer.write("/camera/camera_info", stamp, info)
                        image = build_image(store, stamp, FRAME_ID, step.frame.rgb, "rgb8")
                        writer.write("/camera/image_raw", stamp, image)
                    pcm = np.clip(np.round(step.audio * 32767.0), -32768, 32767).astype(np.int16)[:, None]
                    chunk = AudioChunk(pcm, float(world.config.sample_rate), stamp)
                    writer.write("/audio", stamp, build_audio(store, chunk))
                    done = (index + step.t / pretrain.drive_s) / len(pretrain.train_maps)
                    if int(step.t * 20) % 20 == 0:
                        progress(done, f"recording training map {seed}: t={step.t:4.1f} s")
                end = offset_ns + int(round(pretrain.drive_s * 1e9))
                writer.write("/odom", end, build_odometry(store, end, world.pose))
            offset_ns = end + int(round(pretrain.gap_s * 1e9))
        return dict(writer.counts)


def pretrain_from_logs(
    bag: Path, pretrain: RoverPretrainConfig, progress: Callable[[float, str], None]
) -> tuple[TerrainPipeline, dict[str, Any]]:
    """Replay the logs into a fresh learner and train it offline; returns it and numbers for the report."""
    from robossl.pipelines.terrain.pipeline import TerrainPipeline
    from robossl.pipelines.terrain.projection import camera_mount
    from robossl.pipelines.terrain.replay import feed_bag
    from robossl_sim.worlds.rover import RoverConfig

    world = RoverConfig()
    pipeline = TerrainPipeline(pipeline_config(pretrain))
    progress(0.0, f"replaying {bag.name}")
    counts = feed_bag(pipeline, bag, camera_mount(world.camera_x_m, world.camera_z_m, world.camera_pitch_deg))
    rounds = pretrain.embedding_rounds + 1
    metrics: dict[str, float] = {}
    for r in range(pretrain.embedding_rounds):
        progress((r + 0.05) / rounds, f"embedding round {r + 1}/{pretrain.embedding_rounds}")
        metrics.update(pipeline.learn(pretrain.embedding_steps, 0))
    progress((rounds - 1) / rounds, f"segmentation: {pretrain.segmentation_steps} steps")
    metrics.update(pipeline.learn(0, pretrain.segmentation_steps))
    stats = pipeline.stats()
    if stats["segmentation_steps"] == 0:
        raise RuntimeError(
            f"{bag}: pretraining left the segmentation network untrained ({stats['clips']} clips, "
            f"{stats['images']} images, no painted track labels); drive longer (RoverPretrainConfig.drive_s)"
        )
    details = {
        "replayed": counts,
        "clips": stats["clips"],
        "clean_clips": stats["clean_clips"],
        "images": stats["images"],
        "clips_per_cluster": stats["cluster_counts"],
        "embedding_steps": stats["embedding_steps"],
        "segmentation_steps": stats["segmentation_steps"],
        "labelled_images": int(metrics.get("labelled_images", 0)),
        "embedding_loss": round(float(metrics.get("embedding_loss", float("nan"))), 4),
        "segmentation_loss": round(float(metrics.get("segmentation_loss", float("nan"))), 4),
    }
    return pipeline, details


def prepare(
    config: RoverStageConfig, cache_dir: Path, progress: Callable[[float, str], None]
) -> PretrainedStart:
    """Record (or reuse) the training logs and the pretrained checkpoint terrain_node starts from."""
    import torch

    from robossl.online.checkpoint import save_checkpoint

    pretrain = config.pretrain
    folder = cache_folder(Path(cache_dir), "rover", cache_settings(config))
    checkpoint = folder / "terrain.pt"
    info = finished(folder)
    if info is not None and checkpoint.is_file():
        progress(1.0, f"reusing {folder.name}")
        return PretrainedStart(checkpoint, str(info["description"]), True, dict(info["details"]))
    fresh_folder(folder)
    threads = torch.get_num_threads()
    started = time.perf_counter()
    try:
        torch.set_num_threads(1)  # the same arithmetic on every machine (and no oversubscription)
        written = record_training_logs(folder / "logs", config, lambda f, s: progress(0.4 * f, s))
        recorded = time.perf_counter()
        pipeline, details = pretrain_from_logs(
            folder / "logs", pretrain, lambda f, s: progress(0.4 + 0.6 * f, s)
        )
        save_checkpoint(checkpoint, {"pipeline": pipeline.state_dict()})
    finally:
        torch.set_num_threads(threads)
    details.update(
        recorded=written,
        record_seconds=round(recorded - started, 1),
        train_seconds=round(time.perf_counter() - recorded, 1),
        train_maps=list(pretrain.train_maps),
    )
    maps = len(pretrain.train_maps)
    description = (
        f"terrain_node pretrained offline from logs of {maps} training map{'s' if maps > 1 else ''} "
        f"(seeds {', '.join(map(str, pretrain.train_maps))}, {pretrain.drive_s:g} s each, rosbag2 mcap): "
        f"{details['embedding_steps']} embedding + {details['segmentation_steps']} segmentation steps, "
        f"{details['clips']} clips in {pretrain.num_clusters} clusters"
    )
    mark_finished(
        folder, {"description": description, "details": details, "settings": cache_settings(config)}
    )
    progress(1.0, "pretrained")
    return PretrainedStart(checkpoint, description, False, details)
