"""Online ColloSSL learner fed by synchronised device streams: windows, bad input, training, checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from robossl.online.checkpoint import load_checkpoint, save_checkpoint
from robossl.online.learner import Learner
from robossl.pipelines.collossl.online import ColloSSLOnlineLearner, OnlineLearnerConfig
from tests.pipelines.collossl.synthetic import DEVICE_GAINS, make_recording

torch.set_num_threads(1)
DEVICES = tuple(DEVICE_GAINS)


def _config(**overrides) -> OnlineLearnerConfig:
    base = dict(
        device_names=DEVICES, anchor_device="wrist", channels=4, num_classes=3, min_windows=8, batch_size=16
    )
    return OnlineLearnerConfig(**{**base, **overrides})


def _feed(
    learner: ColloSSLOnlineLearner, seconds: float = 30.0, chunk: int = 16, skip=(), labels=True
) -> None:
    rec = make_recording("s1", seconds=seconds, seed=7)
    stamps = rec.times() + 100.0
    for start in range(0, rec.num_samples, chunk):
        part = slice(start, start + chunk)
        for name in DEVICES:
            if name not in skip:
                learner.add_samples(name, stamps[part], rec.devices[name][part])
        if labels:
            learner.add_labels(stamps[part], rec.labels[part])


def test_is_a_learner_and_forms_aligned_windows_from_interleaved_chunks() -> None:
    learner = ColloSSLOnlineLearner(_config())
    assert isinstance(learner, Learner)
    _feed(learner, seconds=20.0)
    # 20 s at 32 Hz, 1 s windows every 0.5 s -> 39 windows (the last partial span waits for more data)
    assert learner.stats["windows"] == 38 or learner.stats["windows"] == 39
    assert learner.stats["labelled_windows"] == learner.stats["windows"]
    sample = learner.replay.sample(1)[0]
    assert sample["windows"].shape == (3, 32, 4)
    # the same time span on every device: the ankle sees ~4x the wrist's motion
    ratio = np.abs(sample["windows"][2]).mean() / np.abs(sample["windows"][0]).mean()
    assert 2.5 < ratio < 5.5


def test_missing_device_blocks_windows_and_train_step_reports_it() -> None:
    learner = ColloSSLOnlineLearner(_config())
    _feed(learner, seconds=5.0, skip=("ankle",))
    assert learner.stats["windows"] == 0
    assert learner.train_step() == {"trained": 0.0, "buffer": 0.0}
    assert "ankle" in learner.waiting_reason()


def test_streams_of_unequal_length_wait_for_the_slowest_device() -> None:
    learner = ColloSSLOnlineLearner(_config(num_classes=0))
    rec = make_recording("s1", seconds=10.0, seed=1)
    t = rec.times()
    half = rec.num_samples // 2
    learner.add_samples("wrist", t, rec.devices["wrist"])
    learner.add_samples("forearm", t, rec.devices["forearm"])
    learner.add_samples("ankle", t[:half], rec.devices["ankle"][:half])
    first = learner.stats["windows"]
    assert 7 <= first <= 9 and "ankle" in learner.waiting_reason()
    learner.add_samples("ankle", t[half:], rec.devices["ankle"][half:])
    assert learner.stats["windows"] >= 18


def test_nan_rows_are_dropped_and_long_holes_skip_windows() -> None:
    learner = ColloSSLOnlineLearner(_config(num_classes=0))
    rec = make_recording("s1", seconds=10.0, seed=2)
    t = rec.times()
    forearm = rec.devices["forearm"].copy()
    forearm[100] = np.nan  # one row: bridged
    forearm[200:240] = np.nan  # 1.25 s hole: windows over it cannot be formed
    for name in DEVICES:
        learner.add_samples(name, t, forearm if name == "forearm" else rec.devices[name])
    assert learner.stats["nan"] == 41
    assert learner.stats["gap_windows"] >= 3
    assert learner.stats["windows"] + learner.stats["gap_windows"] >= 18


def test_unsorted_timestamps_raise_and_late_packets_are_dropped_and_counted() -> None:
    learner = ColloSSLOnlineLearner(_config(num_classes=0))
    samples = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="must be sorted"):
        learner.add_samples("wrist", np.array([0.0, 0.2, 0.1]), samples)
    learner.add_samples("wrist", np.array([1.0, 1.1, 1.2]), samples)
    learner.add_samples("wrist", np.array([1.15, 1.2, 1.3]), samples)
    assert learner.stats["late"] == 2
    assert len(learner.windows.streams["wrist"][0]) == 4


def test_bad_device_shape_config_and_prediction_input_raise() -> None:
    learner = ColloSSLOnlineLearner(_config())
    with pytest.raises(ValueError, match="unknown device 'hip'"):
        learner.add_samples("hip", np.zeros(2), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        learner.add_samples("wrist", np.zeros(2), np.zeros((2, 6)))
    with pytest.raises(ValueError, match="labels must be in"):
        learner.add_labels(np.zeros(1), np.array([3]))
    with pytest.raises(ValueError, match="anchor_device"):
        _config(anchor_device="hip")
    with pytest.raises(ValueError, match="NaN"):
        learner.predict(np.full((32, 4), np.nan))


def test_training_learns_labels_and_checkpoint_round_trip_is_exact(tmp_path: Path) -> None:
    learner = ColloSSLOnlineLearner(_config(learning_rate=3e-3))
    _feed(learner, seconds=36.0)
    metrics = [learner.train_step() for _ in range(40)]
    assert all(m["trained"] == 1.0 and np.isfinite(m["loss"]) for m in metrics)
    assert np.mean([m["supervised_loss"] for m in metrics[-5:]]) < 0.5 * metrics[0]["supervised_loss"]
    rec = make_recording("s2", seconds=24.0, seed=9)
    correct = [
        learner.predict(rec.devices["wrist"][s : s + 32])[0] == np.bincount(rec.labels[s : s + 32]).argmax()
        for s in range(0, rec.num_samples - 32, 16)
    ]
    assert np.mean(correct) > 0.8

    save_checkpoint(tmp_path / "collossl.pt", learner.state_dict())
    restored = ColloSSLOnlineLearner(_config(learning_rate=3e-3))
    restored.load_state_dict(load_checkpoint(tmp_path / "collossl.pt"))
    window = rec.devices["wrist"][:32]
    assert restored.predict(window)[0] == learner.predict(window)[0]
    np.testing.assert_allclose(restored.predict(window)[1], learner.predict(window)[1], rtol=1e-6)
    assert restored.stats == learner.stats and restored.steps == learner.steps
    after_a, after_b = learner.train_step(), restored.train_step()
    assert after_a["loss"] == pytest.approx(after_b["loss"], rel=1e-6)
    with pytest.raises(ValueError, match="differs"):
        ColloSSLOnlineLearner(_config(num_classes=0)).load_state_dict(learner.state_dict())


def test_memory_stays_bounded() -> None:
    learner = ColloSSLOnlineLearner(_config(num_classes=0, buffer_windows=10, stream_horizon_s=3.0))
    _feed(learner, seconds=30.0, labels=False)
    assert len(learner.replay) == 10 and learner.stats["windows"] > 50
    for stamps, _ in learner.windows.streams.values():
        assert stamps[-1] - stamps[0] <= 3.0 + 1e-9


def test_public_normalise_matches_predict_input() -> None:
    learner = ColloSSLOnlineLearner(_config(num_classes=0))
    _feed(learner, seconds=6.0, labels=False)
    window = make_recording("s3", seconds=2.0, seed=4).devices["wrist"][:32]
    x = learner.normalise("wrist", window)
    assert x.shape == (32, 4) and x.dtype == np.float32
    with torch.no_grad():
        embedding, logits = learner.inference_model()(torch.from_numpy(x)[None])
    assert logits is None
    np.testing.assert_allclose(embedding[0].numpy(), learner.predict(window)[1], rtol=1e-5)
    with pytest.raises(ValueError, match="unknown device"):
        learner.normalise("hip", window)


def test_a_window_drawn_twice_is_used_once_in_a_step() -> None:
    """The replay samples with replacement; a repeated window must not be its own negative."""
    first, second = ColloSSLOnlineLearner(_config()), ColloSSLOnlineLearner(_config())
    _feed(first, seconds=8.0)
    _feed(second, seconds=8.0)
    batch = first.replay.sample(6)
    unique = list({id(s): s for s in batch}.values())
    distinct = [s for s in first.replay._samples if all(s is not u for u in unique)][:2]
    unique += distinct
    repeated = unique + unique[:3]  # three windows drawn twice
    loss_repeated = first.step(repeated)["loss"]
    loss_unique = second.step(unique)["loss"]
    assert loss_repeated == pytest.approx(loss_unique, rel=1e-6)
    assert first.step([unique[0], unique[0], unique[1]])["trained"] == 1.0
    with pytest.raises(ValueError, match="at least 2"):
        first.step([unique[0], unique[0]])


def test_forget_inputs_keeps_what_was_learnt_and_starts_a_new_stream() -> None:
    """A model pretrained offline on logs starts on a live stream: empty replay, new window grid."""
    learner = ColloSSLOnlineLearner(_config())
    _feed(learner, seconds=20.0)
    for _ in range(3):
        learner.train_step()
    window = make_recording("s3", seconds=2.0, seed=4).devices["wrist"][:32]
    before = learner.predict(window)
    learner.forget_inputs()
    assert len(learner.replay) == 0 and learner.replay.seen == 0
    assert learner.stats == {"late": 0, "nan": 0, "windows": 0, "gap_windows": 0, "labelled_windows": 0}
    assert learner.steps == 3
    after = learner.predict(window)  # weights and normalisation kept
    assert after[0] == before[0]
    np.testing.assert_allclose(after[1], before[1], rtol=1e-6)
    # the new stream is 1000 s later and unlabelled: windows form on its own grid, without old labels
    rec = make_recording("s4", seconds=10.0, seed=5)
    stamps = rec.times() + 5000.0
    for start in range(0, rec.num_samples, 16):
        for name in DEVICES:
            learner.add_samples(name, stamps[start : start + 16], rec.devices[name][start : start + 16])
    assert learner.stats["windows"] in (18, 19) and learner.stats["labelled_windows"] == 0
    assert learner.train_step()["trained"] == 1.0
