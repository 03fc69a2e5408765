"""``robossl pretrain`` / ``robossl probe`` end to end: checkpoints, exact resume, probe JSON, bag input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from robossl.cli.main import main
from robossl.online.checkpoint import load_checkpoint

COMMON = [
    "--batch-size",
    "16",
    "--threads",
    "1",
    "--set",
    "projection_hidden_dim=16",
    "--set",
    "projection_dim=8",
]


@pytest.fixture
def windows_npz(tmp_path: Path) -> Path:
    """Three classes of sinusoid windows (1, 3, 6 Hz) with random phase and noise; 3 groups."""
    rng = np.random.default_rng(0)
    n, t = 180, np.arange(32) / 32
    labels = np.arange(n) % 3
    frequency = np.array([1.0, 3.0, 6.0])[labels]
    phase = rng.uniform(0, 6, (n, 1, 4))
    windows = np.sin(2 * np.pi * frequency[:, None, None] * t[None, :, None] + phase)
    windows += 0.1 * rng.normal(size=windows.shape)
    path = tmp_path / "windows.npz"
    np.savez(path, windows=windows.astype(np.float32), labels=labels, groups=(np.arange(n) // 7) % 3)
    return path


def _pretrain(data: Path, out: Path, steps: int, *extra: str) -> int:
    return main(
        [
            "pretrain",
            "--method",
            "simclr",
            "--data",
            str(data),
            "--steps",
            str(steps),
            "--out",
            str(out),
            *COMMON,
            *extra,
        ]
    )


def test_resume_continues_exactly_like_an_uninterrupted_run(windows_npz: Path, tmp_path: Path) -> None:
    assert _pretrain(windows_npz, tmp_path / "full", 6) == 0
    assert _pretrain(windows_npz, tmp_path / "split", 6, "--checkpoint-every", "2", "--stop-at", "4") == 0
    assert load_checkpoint(tmp_path / "split" / "checkpoint.pt")["learner"]["step"] == 4
    assert _pretrain(windows_npz, tmp_path / "split", 6, "--resume") == 0
    full = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    split = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    assert split["learner"]["step"] == 6
    np.testing.assert_allclose(split["losses"], full["losses"], rtol=1e-5)
    for key, value in full["learner"]["method"].items():
        assert torch.allclose(value.float(), split["learner"]["method"][key].float(), atol=1e-6), key
    assert (tmp_path / "full" / "loss.png").stat().st_size > 1000


def test_probe_writes_json_with_scores_above_chance(
    windows_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _pretrain(windows_npz, tmp_path / "run", 5) == 0
    out_json = tmp_path / "probe.json"
    code = main(
        [
            "probe",
            "--checkpoint",
            str(tmp_path / "run" / "checkpoint.pt"),
            "--data",
            str(windows_npz),
            "--json",
            str(out_json),
            "--threads",
            "1",
            "--k",
            "5",
        ]
    )
    assert code == 0
    result = json.loads(out_json.read_text())
    assert result["method"] == "simclr"
    for probe in ("linear", "knn"):
        assert 0.0 <= result[probe]["accuracy"] <= 1.0
        # Frequencies of 1/3/6 Hz are easy to tell apart: a working pipeline is far above chance (1/3).
        assert result[probe]["macro_f1"] > 0.6, result
    groups = np.load(windows_npz)["groups"]
    assert result["linear"]["num_test"] == int((groups == 2).sum())  # the last of 3 groups is held out
    assert "macro-F1" in capsys.readouterr().out


def test_bad_arguments_give_actionable_errors(
    windows_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _pretrain(windows_npz, tmp_path / "x", 1, "--set", "temprature=0.1") == 2
    assert "valid keys" in capsys.readouterr().err
    assert _pretrain(windows_npz, tmp_path / "x", 1, "--set", "oops") == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(["pretrain", "--method", "tera", "--data", str(windows_npz), "--gather-distributed"]) == 2
    bad = tmp_path / "bad.npz"
    np.savez(bad, data=np.zeros((3, 4)))
    assert main(["pretrain", "--method", "simclr", "--data", str(bad)]) == 2
    assert "needs 'windows'" in capsys.readouterr().err


def test_pretrain_from_a_real_ros1_bag_imu_topic(  # type: ignore[no-untyped-def]
    real_data, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bag = real_data("rosbag/imu_tools") / "ardrone_imu.bag"
    assert _pretrain(bag, tmp_path / "bag", 2) == 2
    assert "--topic" in capsys.readouterr().err
    assert _pretrain(bag, tmp_path / "bag", 2, "--topic", "/nope") == 2
    assert "/ardrone/imu" in capsys.readouterr().err  # the error lists the bag's topics
    assert _pretrain(bag, tmp_path / "bag", 2, "--topic", "/ardrone/imu") == 0
    saved = load_checkpoint(tmp_path / "bag" / "checkpoint.pt")
    assert saved["input_spec"]["shape"] == [64, 6]
    assert len(saved["losses"]) == 2 and all(np.isfinite(saved["losses"]))
