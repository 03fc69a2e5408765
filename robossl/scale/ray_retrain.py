"""Retrain the monocular student from many logs on Ray: Ray Data labels, Ray Train (DDP) trains.

Needs the optional extra ``robossl[ray]`` (``ray[data,train]``). The same work as
:func:`robossl.scale.stereo_retrain.retrain`, spread out:

1. Ray Data: one task per log (``flat_map`` over the list of logs) runs the teacher through the teacher
   cache (labels computed once and stored beside the log, or read back) and emits one row per usable
   frame: image, depth, confidence, log_index, frame.
2. Ray Train: ``TorchTrainer`` with ``num_workers`` CPU workers (gloo DDP); each worker gets its shard of
   the rows, orders them by (log, frame) and trains with the batches of
   :func:`robossl.scale.stereo_retrain.train_student` (``batch_size / num_workers`` per worker, gradients
   averaged by DDP). One worker takes exactly the in-process batches.

Network: without ``address``, :func:`ray_session` starts a local Ray bound to 127.0.0.1, without the
dashboard and without usage statistics, so no socket is opened outside loopback. With ``address`` (the head
of a cluster the user runs, e.g. ``"10.0.0.5:6379"``), Ray connects there and the cluster's own network
settings apply.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robossl.errors import InputError
from robossl.pipelines.stereo_mono.config import StereoMonoConfig
from robossl.pipelines.stereo_mono.log_training import StereoLogTopics
from robossl.scale.stereo_retrain import (
    RetrainResult,
    RetrainSettings,
    label_one_log,
    labels_to_rows,
    sort_rows,
    train_student,
)

PathLike = str | os.PathLike[str]
LOCAL_ENVIRONMENT = {
    "RAY_USAGE_STATS_ENABLED": "0",  # no usage report to the Ray project's server
    # a local instance takes 127.0.0.1 instead of probing a route to a public address for its own IP
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
}


class RayMissingError(InputError, ImportError):
    """The optional extra ``robossl[ray]`` is not installed."""


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
        import ray.train.torch  # noqa: F401
    except ImportError as exc:
        raise RayMissingError(
            f"Ray is not installed ({exc}); pip install 'robossl[ray]' (ray[data,train]) or drop --ray"
        ) from exc
    return ray


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[Any]:
    """Connect to Ray for the duration of the block (and shut down what was started).

    Args:
        address: a running cluster's head (``host:port``); None starts a local instance on 127.0.0.1.
        num_cpus: CPUs of the local instance (None: all).
    """
    if address is None:
        # before Ray is imported: ray_constants reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER at import time
        for name, value in LOCAL_ENVIRONMENT.items():
            os.environ.setdefault(name, value)
    ray = _import_ray()
    if ray.is_initialized():  # e.g. a test's simulated cluster: use it as it is
        yield ray
        return
    if address is None:
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
            configure_logging=False,
        )
    else:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@dataclass(frozen=True)
class _LabelTask:
    """The picklable job of one Ray Data labelling task."""

    config: dict[str, Any]
    topics: dict[str, str]
    recompute: bool
    cache_dir: str | None

    def __call__(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        config = StereoMonoConfig.from_dict(self.config)
        labels, hit = label_one_log(
            config, row["log"], StereoLogTopics(**self.topics), self.recompute, self.cache_dir
        )
        columns = labels_to_rows(labels, int(row["log_index"]), config.min_confident_fraction)
        count = len(columns["frame"])
        return [{name: columns[name][i] for name in columns} | {"cache_hit": hit} for i in range(count)]


def label_dataset(
    logs: Sequence[PathLike],
    topics: StereoLogTopics,
    config: StereoMonoConfig,
    settings: RetrainSettings,
) -> Any:
    """A Ray Dataset of the usable labelled frames of ``logs`` (one labelling task per log, lazily run)."""
    ray = _import_ray()
    items = [{"log": os.fspath(Path(log).absolute()), "log_index": i} for i, log in enumerate(logs)]
    task = _LabelTask(config.to_dict(), asdict(topics), settings.recompute_teacher, settings.cache_dir)
    # one block per log, so that the logs are labelled by parallel tasks (on any node of the cluster)
    return ray.data.from_items(items, override_num_blocks=len(items)).flat_map(task, num_cpus=1)


def _train_loop(loop_config: dict[str, Any]) -> None:
    """One Ray Train worker: gather the shard, train with DDP, report the losses (rank 0: the weights)."""
    import ray.train
    import torch
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(int(loop_config["threads"]))
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    parts = [
        {name: np.asarray(batch[name]) for name in ("image", "depth", "confidence", "log_index", "frame")}
        for batch in ray.train.get_dataset_shard("train").iter_batches(batch_size=256, batch_format="numpy")
    ]
    table = sort_rows(parts)
    config = StereoMonoConfig.from_dict(loop_config["config"])
    settings = RetrainSettings(**loop_config["settings"])
    wrap = (lambda model: DistributedDataParallel(model)) if world > 1 else None
    begin = time.perf_counter()
    learner, losses = train_student(table, config, settings, rank, world, wrap)
    seconds = time.perf_counter() - begin
    metrics = {"losses": losses, "rows": len(table["frame"]), "rank": rank, "train_seconds": seconds}
    if rank != 0:
        ray.train.report(metrics)
        return
    with tempfile.TemporaryDirectory() as folder:
        torch.save(learner.state_dict(), Path(folder) / "learner.pt")
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))


def retrain_on_ray(
    logs: Sequence[PathLike],
    topics: StereoLogTopics,
    config: StereoMonoConfig,
    settings: RetrainSettings,
    num_workers: int = 2,
    storage_path: PathLike | None = None,
    threads_per_worker: int = 1,
) -> RetrainResult:
    """Label ``logs`` with Ray Data and train with Ray Train on ``num_workers`` CPU workers.

    Call inside :func:`ray_session` (or with Ray already initialised). ``storage_path`` is where Ray Train
    keeps its run folder (must be shared by the nodes of a real cluster; default: a temporary folder).
    """
    import torch

    ray = _import_ray()
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from robossl.pipelines.stereo_mono.learner import MonoDepthLearner

    dataset = label_dataset(logs, topics, config, settings).materialize()
    hits_by_log = {}
    for row in dataset.select_columns(["log_index", "cache_hit"]).iter_rows():
        hits_by_log[int(row["log_index"])] = bool(row["cache_hit"])
    samples = dataset.count()
    # materialised before training: Ray Data then needs no CPU while the train workers hold every CPU
    rows = dataset.drop_columns(["cache_hit"]).materialize()
    with contextlib.ExitStack() as stack:
        if storage_path is None:
            storage_path = stack.enter_context(tempfile.TemporaryDirectory(prefix="robossl_ray_"))
        trainer = TorchTrainer(
            _train_loop,
            train_loop_config={
                "config": config.to_dict(),
                "settings": asdict(settings),
                "threads": threads_per_worker,
            },
            scaling_config=ScalingConfig(
                num_workers=num_workers, use_gpu=False, resources_per_worker={"CPU": threads_per_worker}
            ),
            torch_config=TorchConfig(backend="gloo"),
            run_config=RunConfig(storage_path=os.fspath(Path(storage_path).absolute()), name="retrain"),
            datasets={"train": rows},
        )
        result = trainer.fit()
        if result.checkpoint is None:
            raise RuntimeError(f"Ray Train finished without the rank-0 checkpoint: {result.error}")
        with result.checkpoint.as_directory() as folder:
            state = torch.load(Path(folder) / "learner.pt", weights_only=False)
    del ray
    learner = MonoDepthLearner(config.student, config.learner)
    learner.load_state_dict(state)
    hits = [hits_by_log.get(i, False) for i in range(len(logs))]
    metrics = result.metrics or {}
    result_value = RetrainResult(learner, list(metrics.get("losses", [])), samples, hits)
    result_value.train_seconds = float(metrics.get("train_seconds", 0.0))  # rank 0's training loop
    return result_value
