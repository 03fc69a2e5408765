"""Two real processes (gloo on CPU): cross-process gathering equals the single-process loss on the global
batch, gradients match, and ``robossl pretrain`` runs under ``torchrun --nproc_per_node=2``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from robossl.losses.barlow_twins import barlow_twins_loss
from robossl.losses.nt_xent import nt_xent_loss
from robossl.losses.vicreg import vicreg_loss
from robossl.online.checkpoint import load_checkpoint

LOSSES = {"nt_xent": nt_xent_loss, "barlow_twins": barlow_twins_loss, "vicreg": vicreg_loss}


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    g = torch.Generator().manual_seed(0)
    z_a_all, z_b_all = (
        torch.randn(8, 5, generator=g, dtype=torch.float64),
        torch.randn(8, 5, generator=g, dtype=torch.float64),
    )
    for name, fn in LOSSES.items():
        z_a = z_a_all[rank * 4 : (rank + 1) * 4].clone().requires_grad_(True)
        z_b = z_b_all[rank * 4 : (rank + 1) * 4].clone().requires_grad_(True)
        loss = fn(z_a, z_b, gather_distributed=True)
        loss.backward()
        assert z_a.grad is not None
        # Average over processes, as DistributedDataParallel does with parameter gradients.
        grad = z_a.grad / 2
        loss_mean = loss.detach().clone()
        dist.all_reduce(loss_mean)
        np.save(Path(out_dir) / f"{name}_grad_{rank}.npy", grad.numpy())
        np.save(Path(out_dir) / f"{name}_loss_{rank}.npy", (loss_mean / 2).numpy())
    dist.destroy_process_group()


def _barlow_per_process_standardisation(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
    """Reference: each process standardises its half; cross-correlations are summed over processes."""

    def standardise(z: torch.Tensor) -> torch.Tensor:
        return (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + 1e-5)

    c = sum(standardise(a).T @ standardise(b) for a, b in zip(z_a.chunk(2), z_b.chunk(2))) / z_a.shape[0]
    diagonal = torch.diagonal(c)
    return (1 - diagonal).pow(2).sum() + 5e-3 * (c.pow(2).sum() - diagonal.pow(2).sum())


REFERENCES = {
    "nt_xent": nt_xent_loss,
    "barlow_twins": _barlow_per_process_standardisation,
    "vicreg": vicreg_loss,
}


def test_gathered_losses_and_gradients_equal_the_global_batch(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    g = torch.Generator().manual_seed(0)
    z_a_all = torch.randn(8, 5, generator=g, dtype=torch.float64).requires_grad_(True)
    z_b_all = torch.randn(8, 5, generator=g, dtype=torch.float64)
    for name, reference_fn in REFERENCES.items():
        z_a_all.grad = None
        reference = reference_fn(z_a_all, z_b_all)
        reference.backward()
        assert z_a_all.grad is not None
        got_loss = float(np.load(tmp_path / f"{name}_loss_0.npy"))
        assert got_loss == pytest.approx(float(reference.detach()), rel=1e-9), name
        grads = np.concatenate([np.load(tmp_path / f"{name}_grad_{r}.npy") for r in range(2)])
        np.testing.assert_allclose(grads, z_a_all.grad.numpy(), rtol=1e-7, atol=1e-10, err_msg=name)
    # Without gathering the per-process NT-Xent differs (fewer negatives): the flag really changes things.
    local = nt_xent_loss(z_a_all[:4].detach(), z_b_all[:4])
    assert float(local) != pytest.approx(float(np.load(tmp_path / "nt_xent_loss_0.npy")), rel=1e-3)


@pytest.mark.slow
def test_pretrain_runs_under_torchrun(tmp_path: Path) -> None:
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "w.npz", windows=rng.normal(size=(64, 16, 6)).astype(np.float32))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [
        torchrun,
        "--nproc_per_node=2",
        "--standalone",
        "-m",
        "robossl.cli.main",
        "pretrain",
        "--method",
        "simclr",
        "--data",
        str(tmp_path / "w.npz"),
        "--steps",
        "3",
        "--batch-size",
        "8",
        "--out",
        str(tmp_path / "run"),
        "--gather-distributed",
        "--threads",
        "1",
        "--set",
        "projection_hidden_dim=16",
        "--set",
        "projection_dim=8",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert saved["world_size"] == 2
    assert saved["learner"]["step"] == 3
    assert saved["method_config"]["gather_distributed"] is True
    assert len(saved["losses"]) == 3 and all(np.isfinite(saved["losses"]))
