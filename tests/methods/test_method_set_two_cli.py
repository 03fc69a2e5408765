"""``robossl pretrain --method <new method>`` end to end on small .npz files: IMU windows and RGB frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from robossl.cli.main import main
from robossl.online.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("npz")
    imu = np.sin(np.linspace(0, 6, 32))[None, :, None] * rng.uniform(0.5, 1.5, (48, 1, 6))
    np.savez(folder / "imu.npz", windows=(imu + 0.05 * rng.normal(size=imu.shape)).astype(np.float32))
    frames = rng.uniform(size=(48, 3, 16, 16)).astype(np.float32)
    np.savez(folder / "frames.npz", windows=frames)
    return {"imu": folder / "imu.npz", "image": folder / "frames.npz"}


CASES = [
    ("groco", "imu", ["num_negatives=5", "projection_hidden_dim=32", "projection_dim=16"]),
    ("bss", "imu", ["projection_hidden_dim=32", "projection_dim=16"]),
    (
        "mugs",
        "imu",
        ["hidden_dim=32", "embedding_dim=16", "num_prototypes=32", "queue_size=64", "memory_size=32"],
    ),
    ("cluster_dino", "imu", ["hidden_dim=32", "num_prototypes=32", "num_clusters=4", "cluster_start_step=1"]),
    (
        "halp",
        "imu",
        ["queue_size=32", "prototype_window=16", "num_prototypes=4", "num_candidates=2", "prototype_every=1"],
    ),
    ("sie", "image", ["projection_hidden_dim=32", "projection_dim=16"]),
    ("scatsimclr", "image", ["projection_hidden_dim=32", "projection_dim=16", "orientations=4"]),
    ("masked_image", "image", ["patch_size=4"]),
]


@pytest.mark.parametrize(("method", "source", "settings"), CASES, ids=[c[0] for c in CASES])
def test_pretrain_writes_a_checkpoint(
    method: str, source: str, settings: list[str], sources: dict[str, Path], tmp_path: Path
) -> None:
    torch.set_num_threads(1)
    extra = [item for setting in settings for item in ("--set", setting)]
    code = main(
        ["pretrain", "--method", method, "--data", str(sources[source]), "--steps", "3", "--batch-size", "16",
         "--out", str(tmp_path), "--threads", "1", *extra]
    )  # fmt: skip
    assert code == 0
    saved = load_checkpoint(tmp_path / "checkpoint.pt")
    assert saved["method"] == method
    assert len(saved["losses"]) == 3 and all(np.isfinite(saved["losses"]))


def test_sie_on_imu_without_rotation_groups_says_what_to_do(
    sources: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["pretrain", "--method", "sie", "--data", str(sources["imu"]), "--steps", "1", "--out", str(tmp_path)]
    )
    assert code == 2
    assert "rotation_groups" in capsys.readouterr().err
