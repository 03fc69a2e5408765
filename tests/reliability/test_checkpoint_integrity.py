"""Checkpoint integrity (issue 23, item 2): corrupted files are refused by name, never loaded silently;
``kill -9`` during a write never loses the previous good checkpoint; killed writers' temp files are
removed on the next save or start; start-up falls back to the newest good checkpoint."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import random
import signal
import struct
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch

from robossl.online.checkpoint import (
    CheckpointCorruptError,
    load_checkpoint,
    load_latest_good,
    save_checkpoint,
)
from robossl.online.checkpoint_faults import same_state, tally_corrupt_loads

REPO = Path(__file__).resolve().parents[2]


def _state(step: int, size: int = 2000) -> dict[str, Any]:
    """A checkpoint-like state whose every value follows from ``step``."""
    gen = torch.Generator().manual_seed(step)
    weight = torch.randn(size, generator=gen)
    return {
        "model": {"weight": weight, "bias": torch.arange(8, dtype=torch.float64) * step},
        "optimizer": {"state": {0: {"exp_avg": weight * 0.5}}, "param_groups": [{"lr": 1e-3}]},
        "step": step,
        "name": f"run-{step}",
    }


def _flip_bit(path: Path, bit: int) -> None:
    data = bytearray(path.read_bytes())
    data[bit // 8] ^= 1 << (bit % 8)
    path.write_bytes(bytes(data))


def _outcome(path: Path, intact: dict[str, Any]) -> str:
    """'rejected' (the named error, naming the file and the way out), 'rejected unnamed', 'identical' or
    'changed' (a silent corrupt load)."""
    try:
        state = load_checkpoint(path)
    except CheckpointCorruptError as exc:
        named = str(path) in str(exc) and "load_latest_good" in str(exc)
        return "rejected" if named else "rejected unnamed"
    except Exception:  # noqa: BLE001 - any other type is the defect this suite counts
        return "rejected unnamed"
    return "identical" if same_state(state, intact) else "changed"


def test_rejects_every_sampled_single_bit_flip_by_name(tmp_path: Path) -> None:
    good = save_checkpoint(tmp_path / "good.pt", _state(1))
    data = good.read_bytes()
    intact = load_checkpoint(good)
    rng = random.Random(23)
    bad = tmp_path / "flipped.pt"
    outcomes = []
    for bit in sorted(rng.sample(range(len(data) * 8), 200)):
        bad.write_bytes(data)
        _flip_bit(bad, bit)
        outcomes.append(_outcome(bad, intact))
    # The digest covers every payload byte and the header fields check themselves: nothing gets through.
    assert Counter(outcomes) == {"rejected": 200}


def test_rejects_every_multi_byte_corruption(tmp_path: Path) -> None:
    good = save_checkpoint(tmp_path / "good.pt", _state(2))
    data = good.read_bytes()
    intact = load_checkpoint(good)
    rng = random.Random(7)
    bad = tmp_path / "overwritten.pt"
    outcomes = []
    for _ in range(200):
        length = rng.randint(2, 64)
        start = rng.randrange(len(data) - length)
        noise = rng.randbytes(length)
        if noise == data[start : start + length]:
            continue
        bad.write_bytes(data[:start] + noise + data[start + length :])
        outcomes.append(_outcome(bad, intact))
    assert len(outcomes) >= 195 and Counter(outcomes) == {"rejected": len(outcomes)}


def test_rejects_truncated_and_extended_files(tmp_path: Path) -> None:
    good = save_checkpoint(tmp_path / "good.pt", _state(3))
    data = good.read_bytes()
    intact = load_checkpoint(good)
    bad = tmp_path / "short.pt"
    for length in (0, 1, 15, 55, 56, 57, len(data) // 2, len(data) - 1):
        bad.write_bytes(data[:length])
        assert _outcome(bad, intact) == "rejected", length
    bad.write_bytes(data + b"\0")
    with pytest.raises(CheckpointCorruptError, match="truncated or appended"):
        load_checkpoint(bad)


def _framed(payload_obj: Any) -> bytes:
    """A v2 file built by hand from the documented layout: magic, u64 length, SHA-256, torch.save payload."""
    import io

    buffer = io.BytesIO()
    torch.save(payload_obj, buffer)
    payload = buffer.getvalue()
    return (
        struct.pack("<16sQ32s", b"ROBOSSL-CKPT-V2\n", len(payload), hashlib.sha256(payload).digest())
        + payload
    )


def test_non_dict_state_gives_named_error_not_assertion(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy_list.pt"
    torch.save({"format": "robossl-checkpoint-v1", "state": [1, 2, 3]}, legacy)
    with pytest.raises(CheckpointCorruptError, match="state is a list, not a dict") as info:
        load_checkpoint(legacy)
    assert info.value.path == legacy
    framed = tmp_path / "framed_list.pt"
    framed.write_bytes(_framed({"format": "robossl-checkpoint-v2", "state": [torch.zeros(2)]}))
    with pytest.raises(CheckpointCorruptError, match="state is a list, not a dict"):
        load_checkpoint(framed)
    framed.write_bytes(_framed([1, 2]))
    with pytest.raises(CheckpointCorruptError, match="no format tag"):
        load_checkpoint(framed)
    framed.write_bytes(_framed({"format": "robossl-checkpoint-v2", "state": {"w": torch.ones(3)}}))
    assert torch.equal(load_checkpoint(framed)["w"], torch.ones(3))  # the hand-built layout is the real one


def test_legacy_checkpoint_loads_with_warning_or_is_refused_on_request(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    legacy = tmp_path / "old.pt"
    torch.save({"format": "robossl-checkpoint-v1", "state": _state(4)}, legacy)
    with caplog.at_level(logging.WARNING, logger="robossl.online.checkpoint"):
        state = load_checkpoint(legacy)
    assert same_state(state, _state(4))
    assert any(
        "no integrity digest" in r.getMessage() and str(legacy) in r.getMessage() for r in caplog.records
    )
    with pytest.raises(CheckpointCorruptError, match="allow_legacy=False"):
        load_checkpoint(legacy, allow_legacy=False)


def test_keeps_the_last_k_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    for step in range(1, 6):
        save_checkpoint(path, _state(step, size=10), keep=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.1.pt", "model.2.pt", "model.pt"]
    assert [load_checkpoint(tmp_path / n)["step"] for n in ("model.pt", "model.1.pt", "model.2.pt")] == [
        5,
        4,
        3,
    ]
    single = tmp_path / "single" / "m.pt"
    for step in range(1, 4):
        save_checkpoint(single, _state(step, size=10), keep=1)
    assert [p.name for p in single.parent.iterdir()] == ["m.pt"]
    with pytest.raises(ValueError, match="keep >= 1"):
        save_checkpoint(single, _state(1), keep=0)


def test_rotation_copies_where_hard_links_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``os.link`` is made to fail as on FAT/exFAT SD cards (no such file system can be mounted here)."""

    def no_links(src: Any, dst: Any) -> None:
        raise PermissionError(1, "Operation not permitted", str(dst))

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "model.pt"
    for step in range(1, 5):
        save_checkpoint(path, _state(step, size=10), keep=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.1.pt", "model.2.pt", "model.pt"]
    assert [load_checkpoint(tmp_path / n)["step"] for n in ("model.pt", "model.1.pt", "model.2.pt")] == [
        4,
        3,
        2,
    ]


def test_falls_back_to_newest_good_checkpoint_when_latest_is_corrupt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "model.pt"
    for step in (1, 2, 3):
        save_checkpoint(path, _state(step), keep=3)
    assert load_latest_good(path)[0]["step"] == 3
    _flip_bit(path, 8 * 1000 + 3)
    with pytest.raises(CheckpointCorruptError):
        load_checkpoint(path)
    with caplog.at_level(logging.WARNING, logger="robossl.online.checkpoint"):
        state, used = load_latest_good(path)
    assert used == tmp_path / "model.1.pt" and same_state(state, _state(2))
    assert any("fell back" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)
    (tmp_path / "model.1.pt").write_bytes((tmp_path / "model.1.pt").read_bytes()[:-10])
    state, used = load_latest_good(path)
    assert used == tmp_path / "model.2.pt" and state["step"] == 1
    _flip_bit(tmp_path / "model.2.pt", 8 * 60)
    with pytest.raises(CheckpointCorruptError, match="all 2 older copies are corrupt") as info:
        load_latest_good(path)
    assert "model.1.pt" in str(info.value) and "model.2.pt" in str(info.value)
    # Deleting the newest file resets the model: older copies are not resurrected.
    path.unlink()
    with pytest.raises(FileNotFoundError):
        load_latest_good(path)


def test_background_trainer_load_can_fall_back(tmp_path: Path) -> None:
    from robossl.online import BackgroundTrainer, ReplayBuffer
    from tests.online.test_trainer import LinearLearner, filled_replay

    trainer = BackgroundTrainer(LinearLearner(), filled_replay())
    path = tmp_path / "trainer.pt"
    trainer.train_steps(2)
    trainer.save(str(path))
    trainer.train_steps(3)
    trainer.save(str(path))
    _flip_bit(path, 8 * 200)
    restored = BackgroundTrainer(LinearLearner(), ReplayBuffer(capacity=200))
    with pytest.raises(CheckpointCorruptError):
        restored.load(str(path))
    assert restored.load(str(path), fall_back=True) == tmp_path / "trainer.1.pt"
    assert restored.steps == 2


def test_stereo_mono_pipeline_load_can_fall_back(tmp_path: Path) -> None:
    from tests.pipelines.stereo_mono.scenes import two_plane_pair
    from tests.pipelines.stereo_mono.test_pipeline import make_pipeline

    pipeline = make_pipeline()
    for seed in range(4):
        pipeline.process(*two_plane_pair(seed=seed)[:2], stamp=float(seed))
    path = tmp_path / "stereo_mono.pt"
    pipeline.train_steps(2)
    pipeline.save(path)
    pipeline.train_steps(3)
    pipeline.save(path)
    _flip_bit(path, 8 * 100 + 1)
    restored = make_pipeline()
    assert restored.load(path, fall_back=True) == tmp_path / "stereo_mono.1.pt"
    assert restored.trainer.steps == 2


def test_removes_only_orphan_temp_files_nobody_holds(tmp_path: Path) -> None:
    """A live writer is represented by an flock held on its temp file, exactly what save_checkpoint does
    while writing (a real write is too short to catch from inside one process; the kill -9 test below
    uses real writers)."""
    path = tmp_path / "model.pt"
    orphans = [tmp_path / ".model.pt.ab12cd34.tmp", tmp_path / ".model.pt.x_9yz0qq.tmp"]
    others = [
        tmp_path / ".other.pt.ab12cd34.tmp",  # another checkpoint's
        tmp_path / "model.pt.tmp",
        tmp_path / ".model.pt.ab12cd345.tmp",  # not the 8-character pattern
        tmp_path / ".model.pt.ab12cd34.tmp.keep",
        tmp_path / "notes.tmp",
    ]
    live = tmp_path / ".model.pt.11112222.tmp"
    for file in [*orphans, *others, live]:
        file.write_bytes(b"x" * 100)
    holder = os.open(live, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        save_checkpoint(path, _state(1, size=10))
        left = {p.name for p in tmp_path.iterdir()}
    finally:
        os.close(holder)
    assert left == {"model.pt", live.name, *(p.name for p in others)}
    load_latest_good(path)  # start-up cleans too, now that the writer is gone
    assert {p.name for p in tmp_path.iterdir()} == {"model.pt", *(p.name for p in others)}


@pytest.mark.ros
def test_terrain_node_starts_from_newest_good_checkpoint_when_latest_is_corrupt(tmp_path: Path) -> None:
    from robossl.pipelines.terrain.pipeline import TerrainPipeline, TerrainPipelineConfig
    from tests.ros_nodes.ros_harness import node_log, start_node, stop_node

    # The state the node itself saves, with its default parameters (16 kHz, 4 clusters, 64 clips).
    state = TerrainPipeline(
        TerrainPipelineConfig(sample_rate=16000, num_clusters=4, min_clips=64)
    ).state_dict()
    path = tmp_path / "terrain.pt"
    save_checkpoint(path, {"pipeline": state})
    save_checkpoint(path, {"pipeline": state})
    _flip_bit(path, 8 * (path.stat().st_size // 2))
    proc = start_node("terrain_node", tmp_path, {"model_path": str(path), "save_on_shutdown": False})
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if "loaded terrain model from" in node_log(tmp_path, "terrain_node"):
                break
            time.sleep(0.2)
    finally:
        rc = stop_node(proc)
    log = node_log(tmp_path, "terrain_node")
    assert rc == 0, log
    assert f"loaded terrain model from {tmp_path / 'terrain.1.pt'}" in log, log
    assert "fell back" in log and f"{path} is corrupt" in log, log


_WRITER = textwrap.dedent(
    """
    import sys, torch
    from robossl.online.checkpoint import save_checkpoint
    path, step = sys.argv[1], int(sys.argv[2])
    while True:
        weight = torch.randn(3_000_000, generator=torch.Generator().manual_seed(step))
        save_checkpoint(path, {"step": step, "weight": weight}, keep=3)
        print(step, flush=True)
        step += 1
    """
)


def _weight(step: int) -> torch.Tensor:
    return torch.randn(3_000_000, generator=torch.Generator().manual_seed(step))


def test_kill_9_mid_write_keeps_previous_checkpoint_and_orphans_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    step, orphan_names, rng = 0, [], random.Random(9)
    for kill in range(6):
        child = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), str(step)], cwd=REPO, env=env, stdout=subprocess.PIPE
        )
        assert child.stdout is not None
        saved = [int(child.stdout.readline())]  # one full save of this writer first
        assert saved[0] == step
        if kill % 2 == 0:  # kill while a temp file is being written
            deadline = time.monotonic() + 30
            while not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):
                assert time.monotonic() < deadline, "writer never started a second save"
        else:  # kill at an arbitrary moment (serialising, writing, rotating or renaming)
            time.sleep(rng.uniform(0.0, 0.4))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL
        saved += [int(line) for line in out.split()]
        # The newest file is complete and holds the last reported save or the one after it.
        newest = load_checkpoint(path)
        assert newest["step"] in (saved[-1], saved[-1] + 1)
        assert torch.equal(newest["weight"], _weight(newest["step"]))
        older = [load_checkpoint(p)["step"] for p in sorted(tmp_path.glob("model.[0-9].pt"))]
        assert older == sorted(older, reverse=True) and all(s < newest["step"] for s in older)
        orphans = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        # The previous writer's orphans were removed by this writer's first save.
        assert not set(orphans) & set(orphan_names)
        orphan_names += orphans
        step = newest["step"] + 1
    assert len(orphan_names) >= 1, "no kill landed during a write; the cleanup went untested"
    state, used = load_latest_good(path)  # start-up removes the last writer's orphans
    assert used == path and state["step"] == step - 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_fault_tally_counts_silent_loads_of_unprotected_files_and_none_of_ours(tmp_path: Path) -> None:
    ours = save_checkpoint(tmp_path / "ours.pt", _state(5))
    legacy = tmp_path / "legacy.pt"
    torch.save({"format": "robossl-checkpoint-v1", "state": _state(5)}, legacy)
    logging.getLogger("robossl.online.checkpoint").setLevel(logging.ERROR)  # 300 legacy warnings
    try:
        unprotected = tally_corrupt_loads(legacy, trials=100, kinds=("bit_flip",), seed=1)["bit_flip"]
    finally:
        logging.getLogger("robossl.online.checkpoint").setLevel(logging.NOTSET)
    assert unprotected.loaded_changed > 0  # the tally can see a silent corrupt load
    protected = tally_corrupt_loads(ours, trials=100, seed=1)
    for tally in protected.values():
        assert (tally.trials, tally.rejected, tally.loaded_changed, tally.other_errors) == (100, 100, 0, {})
