"""Retrain the stereo -> mono student from stereo logs, with cached teacher labels, in one process or on Ray.

Examples:
    robossl retrain flights/ --out student.pt --steps 2000
    robossl retrain run_01 run_02.mcap --left /cam0/image_raw --right /cam1/image_raw \\
        --left-info /cam0/camera_info --right-info /cam1/camera_info --config stereo_mono.yaml
    robossl retrain flights/ --recompute-teacher            # ignore and overwrite the cached labels
    robossl retrain flights/ --ray --workers 2              # local Ray on 127.0.0.1: Ray Data + DDP
    robossl retrain /nfs/flights/ --ray --ray-address 10.0.0.5:6379 --workers 8 --ray-storage /nfs/runs

LOG is a bag (.mcap / .db3 / .bag), a rosbag2 folder, or a folder of those. The first pass over a log runs
rectification + SGBM and stores the labels beside the log (``<log>.teacher_cache/``; in ``--cache-dir``
when the log's folder is read-only); later runs with the same teacher settings read them back. The teacher
settings (``sgbm``, ``rectified_width``, ``student``, ``confidence_threshold``) and everything else come
from ``--config``, a YAML mapping of StereoMonoConfig fields (or one with a ``stereo_mono`` key). The
checkpoint written to ``--out`` is the one ``stereo_mono_node`` loads as ``model_path``.

Bad input (no such log, no stereo pairs or CameraInfo on the topics, Ray not installed) ends with
``robossl retrain: <what and what to do>`` and exit status 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from robossl.cli import run_data_verb
from robossl.errors import DataSourceError

HELP = "retrain the stereo -> mono student from stereo logs (cached SGBM labels; optional Ray)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "logs", nargs="+", metavar="LOG", help="bag file, rosbag2 folder, or a folder of them"
    )
    parser.add_argument(
        "--out", default="stereo_mono.pt", help="checkpoint to write (stereo_mono_node model_path)"
    )
    parser.add_argument("--config", help="YAML of StereoMonoConfig fields (teacher, student, learner)")
    parser.add_argument("--left", default="/left/image_raw", help="left image topic")
    parser.add_argument("--right", default="/right/image_raw", help="right image topic")
    parser.add_argument("--left-info", default="/left/camera_info", help="left CameraInfo topic")
    parser.add_argument("--right-info", default="/right/camera_info", help="right CameraInfo topic")
    parser.add_argument("--steps", type=int, default=500, help="optimizer steps")
    parser.add_argument("--batch-size", type=int, default=16, help="samples per step (all workers together)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the batches")
    parser.add_argument(
        "--recompute-teacher", action="store_true", help="recompute and overwrite cached labels"
    )
    parser.add_argument(
        "--cache-dir", help="label cache for logs in read-only folders (default ~/.cache/robossl)"
    )
    parser.add_argument("--threads", type=int, help="torch / BLAS threads of this process")
    parser.add_argument(
        "--ray", action="store_true", help="label with Ray Data and train with Ray Train (DDP)"
    )
    parser.add_argument("--workers", type=int, default=2, help="Ray Train workers (with --ray)")
    parser.add_argument(
        "--ray-address", help="head of a running Ray cluster (host:port); default: a local Ray on 127.0.0.1"
    )
    parser.add_argument("--ray-storage", help="Ray Train run folder (shared by all nodes of a real cluster)")


def load_config(path: str | None):  # -> StereoMonoConfig
    """StereoMonoConfig from a YAML file (its fields, or under a ``stereo_mono`` key); defaults without one."""
    import yaml

    from robossl.pipelines.stereo_mono.config import StereoMonoConfig

    if path is None:
        return StereoMonoConfig()
    file = Path(path)
    if not file.is_file():
        raise DataSourceError(f"--config {file}: no such file")
    try:
        values = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DataSourceError(f"--config {file}: not valid YAML ({exc})") from exc
    if isinstance(values, dict) and isinstance(values.get("stereo_mono"), dict):
        values = values["stereo_mono"]
    try:
        return StereoMonoConfig.from_dict(values)
    except (ValueError, TypeError) as exc:
        raise DataSourceError(f"--config {file}: {exc}") from exc


def run(args: argparse.Namespace) -> int:
    return run_data_verb("retrain", args.threads, lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from robossl.data.bags import BagError

    try:
        return _retrain(args)
    except BagError as exc:  # an unreadable bag or a missing topic: the message names the file
        raise DataSourceError(str(exc)) from exc


def _retrain(args: argparse.Namespace) -> int:
    from robossl.pipelines.stereo_mono.log_training import StereoLogTopics
    from robossl.scale.logs import discover_logs
    from robossl.scale.stereo_retrain import RetrainSettings, retrain, save_student

    try:
        settings = RetrainSettings(
            steps=args.steps,
            batch_size=args.batch_size,
            seed=args.seed,
            recompute_teacher=args.recompute_teacher,
            cache_dir=args.cache_dir,
        )
    except ValueError as exc:
        raise DataSourceError(
            str(exc).replace("steps", "--steps").replace("batch_size", "--batch-size")
        ) from exc
    if args.workers < 1:
        raise DataSourceError(f"--workers must be >= 1, got {args.workers}")
    config = load_config(args.config)
    topics = StereoLogTopics(args.left, args.right, args.left_info, args.right_info)
    logs = discover_logs(args.logs)
    if args.ray:
        from robossl.scale.ray_retrain import ray_session, retrain_on_ray

        with ray_session(args.ray_address):
            result = retrain_on_ray(logs, topics, config, settings, args.workers, args.ray_storage)
    else:
        result = retrain(logs, topics, config, settings, progress=print)
    cached = sum(result.cache_hits)
    print(
        f"{len(logs)} log(s): {cached} with cached teacher labels, {len(logs) - cached} labelled now; "
        f"{result.samples} labelled frame(s)"
    )
    path = save_student(args.out, result.learner, config, logs[0], topics)
    print(
        f"{settings.steps} steps, loss {result.losses[0]:.4f} -> {result.losses[-1]:.4f}; checkpoint {path}"
    )
    return 0
