"""Checkpoints are atomic, round-trip nested state, and refuse corrupt or pickled-code files."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from robossl.online.checkpoint import load_checkpoint, save_checkpoint


def test_round_trips_model_optimizer_and_counters(tmp_path: Path) -> None:
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    save_checkpoint(
        tmp_path / "c.pt", {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": 7}
    )
    state = load_checkpoint(tmp_path / "c.pt")
    assert state["step"] == 7
    assert torch.equal(state["model"]["weight"], model.state_dict()["weight"])
    assert torch.equal(state["optimizer"]["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_failed_write_keeps_previous_checkpoint(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "c.pt", {"step": 1})
    with pytest.raises(Exception):  # noqa: B017 - any pickling error will do
        save_checkpoint(tmp_path / "c.pt", {"step": 2, "bad": lambda: None})
    assert load_checkpoint(tmp_path / "c.pt")["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_truncated_file_gives_clear_error(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "c.pt", {"w": torch.randn(100)})
    data = (tmp_path / "c.pt").read_bytes()
    (tmp_path / "c.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        load_checkpoint(tmp_path / "c.pt")


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_refuses_arbitrary_pickles(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": "robossl-checkpoint-v1", "state": {"x": _Evil()}}, path)
    with pytest.raises(ValueError, match="unsafe"):
        load_checkpoint(path)
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError):
        load_checkpoint(path)
