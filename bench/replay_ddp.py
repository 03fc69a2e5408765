"""The first pass of bench/replay.py as two data-parallel processes: each labels every other frame (rectify +
SGBM, one thread) and trains the student with half of each batch; gloo DDP on loopback averages the
gradients; rank 0 gathers the labels in log order and writes the teacher cache. This is how the retraining
uses both cores without threads competing (``layout "ddp2"``). Runs only inside the network sandbox."""

from __future__ import annotations

import datetime
import os
import socket
import time
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _worker(rank: int, world: int, job: dict[str, Any], results: Any) -> None:
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"  # gloo's own sockets on loopback only
    import cv2
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from robossl.data.bags import BagReader
    from robossl.data.streams import stereo_pairs
    from robossl.data.teacher_cache import cached_labels
    from robossl.pipelines.stereo_mono.config import StereoMonoConfig
    from robossl.pipelines.stereo_mono.label_cache import (
        label_frame,
        stack_labels,
        stereo_labels,
        teacher_key,
    )
    from robossl.pipelines.stereo_mono.learner import MonoDepthLearner
    from robossl.pipelines.stereo_mono.log_training import StereoLogTopics, calibration_from_log
    from robossl.pipelines.stereo_mono.pipeline import StereoMonoPipeline

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{job['port']}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=300),
    )
    bag, topics = Path(job["bag"]), StereoLogTopics(**job["topics"])
    config = StereoMonoConfig.from_dict(job["config"])
    pipeline = StereoMonoPipeline(config, calibration_from_log(bag, topics))
    torch.manual_seed(0)
    learner = MonoDepthLearner(config.student, config.learner)
    learner.model = DistributedDataParallel(learner.model)  # type: ignore[assignment]
    with BagReader(bag) as reader:
        pairs = min(reader.topics[topics.left_image].count, reader.topics[topics.right_image].count)
    local_batch = job["batch"] // world
    max_steps = (pairs // world) // local_batch  # equal on every rank: DDP steps must pair up
    dist.barrier()
    begin, cpu_begin = time.perf_counter(), time.process_time()
    stamps, samples, fractions, pending, steps = [], [], [], [], 0
    if job["cached"]:  # the next epoch: every rank reads the labels from the cache, takes its frames
        labels, hit = stereo_labels(pipeline, bag, topics)
        if not hit:
            raise RuntimeError(f"{bag}: the teacher cache did not hit in the cached DDP epoch")
        frames = zip(labels.stamps_ns.tolist(), labels.samples(), labels.confident_fraction.tolist())
    else:
        frames = (
            (stamp, *label_frame(pipeline, left, right))
            for stamp, left, right in stereo_pairs(bag, topics.left_image, topics.right_image)
        )
    for index, (stamp, sample, fraction) in enumerate(frames):
        if index % world != rank:
            continue
        stamps.append(stamp)
        samples.append(sample)
        fractions.append(fraction)
        pending.append(sample)
        if len(pending) == local_batch and steps < max_steps:
            learner.step(pending)
            steps, pending = steps + 1, []
    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, ([], [], []) if job["cached"] else (stamps, samples, fractions))
    if rank == 0 and not job["cached"]:
        rows = sorted((s, x, f) for part in gathered for s, x, f in zip(*part, strict=True))
        order = [r[0] for r in rows]
        labels = stack_labels(order, [r[1] for r in rows], [r[2] for r in rows], pipeline.student_size)
        cached_labels(bag, teacher_key(pipeline, topics), labels.arrays, recompute=True)
    dist.barrier()
    wall, cpu = time.perf_counter() - begin, time.process_time() - cpu_begin
    results.put({"rank": rank, "frames": len(stamps), "steps": steps, "wall_s": wall, "cpu_s": cpu})
    dist.destroy_process_group()


def first_pass_ddp(
    bag: Path,
    batch: int,
    config: dict[str, Any],
    topics: dict[str, str],
    world: int = 2,
    cached: bool = False,
) -> dict:
    """Run the two-process first pass (``cached``: the next epoch, labels from the cache); returns frames
    (all ranks), steps, wall_s (slowest rank), cpu_s (sum), fps."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    job = {"bag": os.fspath(bag), "batch": batch, "config": config, "topics": topics, "cached": cached}
    job["port"] = _free_port()
    processes = [context.Process(target=_worker, args=(rank, world, job, results)) for rank in range(world)]
    for process in processes:
        process.start()
    rows = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        if process.exitcode != 0:
            raise RuntimeError(f"DDP first pass: a worker exited with status {process.exitcode}")
    wall = max(r["wall_s"] for r in rows)
    frames = sum(r["frames"] for r in rows)
    steps = rows[0]["steps"]
    return {
        "frames": frames,
        "steps": steps,
        "wall_s": wall,
        "cpu_s": sum(r["cpu_s"] for r in rows),
        "fps": frames / wall,
    }
