"""The Ray path on a simulated 2-node cluster (ray.cluster_utils.Cluster, both nodes on 127.0.0.1) inside the
network sandbox, against the in-process path.

What is compared:
- labels: every (log, frame) row Ray Data emits equals the in-process row bit for bit (image, depth,
  confidence), and Ray's labelling wrote the cache files the in-process path then hits;
- training with 1 Ray Train worker: the per-step losses and the final weights equal the in-process run's
  exactly (same seed, same batches, one torch thread each);
- training with 2 workers (gloo DDP, half the batch each, gradients averaged): not the same computation
  (the loss's scale term and the augmentation draw are per worker), so the per-step losses are compared
  with the in-process run's within a tolerance, and both must fall.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from robossl.netsafe import is_private_netns
from robossl.pipelines.stereo_mono.config import StereoMonoConfig
from robossl.scale.logs import discover_logs
from robossl.scale.stereo_retrain import RetrainSettings, retrain
from tests.data.stereo_log import write_stereo_log

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

CONFIG = {
    "student": {"input_height": 64, "input_width": 96, "width": 0.5},
    "learner": {"flip_probability": 0.0},
    "min_confident_fraction": 0.5,
}


@pytest.fixture(scope="module")
def cluster():
    """Two simulated nodes of one CPU each, on loopback; only inside the private network namespace."""
    if not is_private_netns():
        pytest.fail(
            "Ray tests open sockets: run them inside the sandbox: robossl-sandbox python -m pytest ..."
        )
    from ray.cluster_utils import Cluster

    from robossl.scale.ray_retrain import LOCAL_ENVIRONMENT

    with pytest.MonkeyPatch.context() as patch:
        for name, value in LOCAL_ENVIRONMENT.items():
            patch.setenv(name, value)
        simulated = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False},
        )
        simulated.add_node(num_cpus=1, node_ip_address="127.0.0.1")
        simulated.wait_for_nodes()
        ray.init(address=simulated.address, log_to_driver=False)
        try:
            yield simulated
        finally:
            ray.shutdown()
            simulated.shutdown()


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> tuple[list[Path], object]:
    folder = tmp_path_factory.mktemp("flights")
    for seed in range(2):
        topics = write_stereo_log(folder / f"flight_{seed}", frames=8, seed=seed)
    return discover_logs([folder]), topics


def test_two_nodes_label_like_the_in_process_path(cluster, logs, tmp_path: Path) -> None:
    from robossl.scale.ray_retrain import label_dataset
    from robossl.scale.stereo_retrain import label_one_log, labels_to_rows, sort_rows

    paths, topics = logs
    config = StereoMonoConfig.from_dict(CONFIG)
    assert len(ray.nodes()) == 2 and all(n["NodeManagerAddress"] == "127.0.0.1" for n in ray.nodes())
    settings = RetrainSettings(steps=1, batch_size=4, cache_dir=str(tmp_path / "cache"))
    rows = label_dataset(paths, topics, config, settings).take_all()
    assert len(rows) > 0
    by_key = {(int(r["log_index"]), int(r["frame"])): r for r in rows}
    reference = []
    for index, path in enumerate(paths):
        labels, hit = label_one_log(config, path, topics)
        assert hit  # Ray's tasks wrote the cache beside each log
        reference.append(labels_to_rows(labels, index, config.min_confident_fraction))
    table = sort_rows(reference)
    assert sorted(by_key) == list(zip(table["log_index"].tolist(), table["frame"].tolist()))
    for i, key in enumerate(zip(table["log_index"].tolist(), table["frame"].tolist())):
        for name in ("image", "depth", "confidence"):
            np.testing.assert_array_equal(np.asarray(by_key[key][name]), table[name][i])


def test_one_ray_worker_trains_exactly_like_the_in_process_path(cluster, logs, tmp_path: Path) -> None:
    from robossl.scale.ray_retrain import retrain_on_ray

    paths, topics = logs
    config = StereoMonoConfig.from_dict(CONFIG)
    settings = RetrainSettings(steps=4, batch_size=4, seed=3)
    torch.set_num_threads(1)
    local = retrain(paths, topics, config, settings)
    remote = retrain_on_ray(paths, topics, config, settings, num_workers=1, storage_path=tmp_path / "runs")
    assert remote.samples == local.samples and remote.cache_hits == [True, True]
    assert remote.losses == local.losses
    for name, tensor in local.learner.model.state_dict().items():
        assert torch.equal(remote.learner.model.state_dict()[name], tensor), name


def test_two_ray_workers_with_ddp_train_close_to_the_in_process_path(cluster, logs, tmp_path: Path) -> None:
    from robossl.scale.ray_retrain import retrain_on_ray

    paths, topics = logs
    config = StereoMonoConfig.from_dict(CONFIG)
    settings = RetrainSettings(steps=12, batch_size=8, seed=3)
    torch.set_num_threads(1)
    local = retrain(paths, topics, config, settings)
    remote = retrain_on_ray(paths, topics, config, settings, num_workers=2, storage_path=tmp_path / "runs")
    assert remote.samples == local.samples and len(remote.losses) == 12
    assert remote.losses[0] == pytest.approx(local.losses[0], rel=0.3)  # same initial weights
    assert np.mean(remote.losses[-4:]) < np.mean(remote.losses[:4])  # DDP trains
    assert np.mean(remote.losses[-4:]) == pytest.approx(np.mean(local.losses[-4:]), rel=0.3)


def test_the_retrain_verb_runs_on_ray(cluster, logs, tmp_path: Path, capsys) -> None:
    from robossl.cli.main import main

    paths, _ = logs
    config = tmp_path / "small.yaml"
    config.write_text(
        "student: {input_height: 64, input_width: 96, width: 0.5}\nmin_confident_fraction: 0.5\n"
    )
    out = tmp_path / "student.pt"
    argv = ["retrain", str(paths[0].parent), "--config", str(config), "--out", str(out), "--steps", "2"]
    assert main([*argv, "--batch-size", "4", "--ray", "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    assert "2 log(s): " in printed and "16 labelled frame(s)" in printed and "2 steps" in printed
    assert out.is_file() and all(Path(f"{p}.teacher_cache").is_dir() for p in paths)
