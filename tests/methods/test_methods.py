"""Composed methods: registry, round trip of ALL learner state, EMA rules, training progress."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from robossl.methods import InputSpec, Learner, LearnerConfig, available_methods, build_method
from robossl.methods.ema import cosine_momentum, ema_update, make_teacher
from robossl.online.checkpoint import load_checkpoint, save_checkpoint

IMU = InputSpec("imu", (24, 6), rotation_groups=((0, 1, 2), (3, 4, 5)), devices=2)
FEATURES = InputSpec("features", (12,))
SPECTROGRAM = InputSpec("spectrogram", (24, 16))  # for methods without an IMU variant (frames x bins)
IMAGE = InputSpec("image", (3, 16, 16))  # for image-only methods
SMALL = {
    "simclr": {"projection_hidden_dim": 32, "projection_dim": 16},
    "barlow_twins": {"projection_hidden_dim": 32, "projection_dim": 16},
    "vicreg": {"projection_hidden_dim": 32, "projection_dim": 16},
    "byol": {"projection_hidden_dim": 32, "projection_dim": 16, "prediction_hidden_dim": 32},
    "simsiam": {"projection_hidden_dim": 32, "projection_dim": 16, "prediction_hidden_dim": 8},
    "directpred": {"projection_hidden_dim": 32, "projection_dim": 16},
    "dino": {"hidden_dim": 32, "bottleneck_dim": 16, "num_prototypes": 24},
    "instance_triplet": {"projection_hidden_dim": 32, "projection_dim": 16},
    "tera": {"dim": 16, "depth": 1, "heads": 2},
    "tjepa": {"dim": 16, "depth": 1, "heads": 2, "predictor_dim": 8, "predictor_depth": 1},
    "collossl": {},
    "groco": {"projection_hidden_dim": 32, "projection_dim": 16, "num_negatives": 5},
    "sie": {"projection_hidden_dim": 32, "projection_dim": 16, "predictor_hidden_dim": 8},
    "bss": {"projection_hidden_dim": 32, "projection_dim": 16},
    "mugs": {
        "hidden_dim": 32,
        "embedding_dim": 16,
        "prediction_hidden_dim": 32,
        "bottleneck_dim": 16,
        "num_prototypes": 24,
        "queue_size": 32,
        "memory_size": 16,
    },
    # the cluster stage from step 2 on, so the resumed half runs it
    "scatsimclr": {"projection_hidden_dim": 32, "projection_dim": 16, "orientations": 4},
    "masked_image": {"patch_size": 4},
    "moco": {"projection_hidden_dim": 32, "projection_dim": 16, "queue_size": 24},
    # prototypes from step 2 on and hallucination from step 2, so the resumed half uses both
    "halp": {
        "projection_hidden_dim": 32,
        "projection_dim": 16,
        "queue_size": 24,
        "prototype_window": 12,
        "num_prototypes": 3,
        "num_candidates": 2,
        "prototype_every": 2,
        "num_positives": 5,
    },
    "cluster_dino": {
        "hidden_dim": 32,
        "bottleneck_dim": 16,
        "num_prototypes": 24,
        "num_clusters": 3,
        "cluster_start_step": 2,
        "history_size": 16,
    },
}


def spec_for(name: str) -> InputSpec:
    modalities = available_methods()[name].modalities
    if modalities == ("features",):
        return FEATURES
    if "imu" in modalities:
        return IMU
    return SPECTROGRAM if "spectrogram" in modalities else IMAGE


def make_learner(name: str, total_steps: int = 10) -> Learner:
    torch.manual_seed(0)
    method = build_method(name, spec_for(name), **SMALL.get(name, {}))
    return Learner(method, LearnerConfig(learning_rate=1e-3, total_steps=total_steps, seed=3))


def batches(name: str, count: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(11)
    return [torch.randn(12, *spec_for(name).shape, generator=g) for _ in range(count)]


def test_every_method_in_the_issue_is_registered() -> None:
    expected = {"simclr", "barlow_twins", "vicreg", "byol", "simsiam", "directpred", "dino", "tera", "tjepa"}
    assert expected <= set(available_methods())
    assert set(SMALL) == set(available_methods()), "add new methods to SMALL so they get round-trip tested"


@pytest.mark.parametrize("name", sorted(SMALL))
def test_resumed_training_equals_uninterrupted_training(name: str, tmp_path: Path) -> None:
    data = batches(name, 5)
    uninterrupted = make_learner(name)
    for batch in data:
        uninterrupted.step(batch)

    first = make_learner(name)
    for batch in data[:3]:
        first.step(batch)
    path = save_checkpoint(tmp_path / "ckpt.pt", {"learner": first.state_dict()})
    resumed = make_learner(name)  # fresh weights, optimizer, generator
    resumed.load_state_dict(load_checkpoint(path)["learner"])
    assert resumed.step_count == 3
    for batch in data[3:]:
        resumed.step(batch)

    expected = uninterrupted.state_dict()
    got = resumed.state_dict()
    assert expected["method"].keys() == got["method"].keys()
    for key, value in expected["method"].items():
        assert torch.allclose(value.float(), got["method"][key].float(), atol=1e-6), f"{name}: {key} differs"
    assert torch.equal(expected["generator"], got["generator"])
    exp_opt, got_opt = expected["optimizer"]["state"], got["optimizer"]["state"]
    for index in exp_opt:
        assert torch.allclose(exp_opt[index]["exp_avg"], got_opt[index]["exp_avg"], atol=1e-6)


def test_round_trip_covers_teacher_centre_and_correlation() -> None:
    keys = set(make_learner("dino").state_dict()["method"])
    assert "loss.center" in keys and any(k.startswith("teacher.") for k in keys)
    keys = set(make_learner("directpred").state_dict()["method"])
    assert {"predictor.correlation", "predictor.weight", "predictor.num_updates"} <= keys
    assert any(k.startswith("teacher.") for k in make_learner("byol").state_dict()["method"])
    assert any(k.startswith("teacher.") for k in make_learner("tjepa").state_dict()["method"])


def test_state_actually_changes_during_training() -> None:
    learner = make_learner("dino")
    centre_before = learner.method.loss.center.clone()  # type: ignore[union-attr]
    learner.step(batches("dino", 1)[0])
    assert not torch.equal(centre_before, learner.method.loss.center)  # type: ignore[union-attr]
    learner = make_learner("directpred")
    learner.step(batches("directpred", 1)[0])
    assert learner.method.predictor.correlation.abs().sum() > 0  # type: ignore[union-attr]


def test_teacher_moves_only_by_ema() -> None:
    learner = make_learner("byol", total_steps=0 or None)  # type: ignore[arg-type]
    method = learner.method
    teacher_before = [p.clone() for p in method.teacher.parameters()]  # type: ignore[union-attr]
    student_before = [p.clone() for p in torch.nn.Sequential(method.backbone, method.projector).parameters()]  # type: ignore[union-attr]
    learner.step(batches("byol", 1)[0])
    momentum = 0.99
    student_after = list(torch.nn.Sequential(method.backbone, method.projector).parameters())  # type: ignore[union-attr]
    for t_before, t_after, s_after in zip(teacher_before, method.teacher.parameters(), student_after):  # type: ignore[union-attr]
        assert torch.allclose(t_after, momentum * t_before + (1 - momentum) * s_after.detach(), atol=1e-6)
    assert any(not torch.equal(a, b) for a, b in zip(student_before, student_after))
    assert all(not p.requires_grad for p in method.teacher.parameters())  # type: ignore[union-attr]


def test_ema_helpers() -> None:
    teacher, student = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    expected = 0.9 * teacher.weight.detach() + 0.1 * student.weight.detach()
    ema_update(teacher, student, 0.9)
    assert torch.allclose(teacher.weight, expected)
    assert cosine_momentum(0, 100, 0.99) == pytest.approx(0.99)
    assert cosine_momentum(100, 100, 0.99) == pytest.approx(1.0)
    assert cosine_momentum(50, None, 0.99) == 0.99
    with pytest.raises(ValueError, match="momentum"):
        ema_update(teacher, student, 1.5)
    with pytest.raises(ValueError, match="make_teacher"):
        ema_update(teacher, torch.nn.Linear(2, 2, bias=False), 0.9)


def test_teacher_has_no_dropout_and_the_same_weights() -> None:
    student = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 2))
    teacher = make_teacher(student)
    assert not any(isinstance(m, torch.nn.Dropout) for m in teacher.modules())
    assert teacher.state_dict().keys() == student.state_dict().keys()
    teacher.train()
    x = torch.randn(16, 4)
    assert torch.equal(teacher(x), teacher(x))  # deterministic targets even in training mode
    assert isinstance(student[1], torch.nn.Dropout)  # the student keeps its dropout


def test_ema_copies_batch_norm_buffers() -> None:
    teacher, student = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    student.train()
    student(torch.randn(8, 3) * 5 + 2)
    ema_update(teacher, student, 0.5)
    assert torch.equal(teacher.running_mean, student.running_mean)
    assert torch.equal(teacher.running_var, student.running_var)
    assert int(teacher.num_batches_tracked) == 1


def test_simsiam_has_no_teacher_and_stops_gradient() -> None:
    method = build_method("simsiam", IMU, **SMALL["simsiam"])
    assert method.teacher is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["simclr", "barlow_twins", "vicreg", "tera"])
def test_loss_falls_on_real_structure(name: str) -> None:
    # Windows of sinusoids with sample-specific frequency: real structure the views must agree on.
    torch.manual_seed(0)
    time = torch.linspace(0, 1, 24).view(1, 24, 1)
    frequency = torch.rand(64, 1, 6) * 6 + 1
    data = torch.sin(2 * torch.pi * frequency * time)
    method = build_method(name, IMU, **SMALL[name])
    learner = Learner(method, LearnerConfig(learning_rate=3e-3, seed=0))
    losses = [learner.step(data)["loss"] for _ in range(25)]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5


def test_configuration_errors_are_actionable() -> None:
    with pytest.raises(ValueError, match="valid keys"):
        build_method("simclr", IMU, temprature=0.1)
    with pytest.raises(ValueError, match="available"):
        build_method("simclrr", IMU)
    with pytest.raises(ValueError, match="modalities"):
        build_method("tjepa", IMU)
    with pytest.raises(ValueError, match="modality"):
        InputSpec("lidar", (3,))
    with pytest.raises(ValueError, match="3-D shape"):
        InputSpec("image", (32, 32))
    learner = make_learner("simclr")
    with pytest.raises(ValueError, match="NaN"):
        learner.step(torch.full((4, 24, 6), float("nan")))
    with pytest.raises(ValueError, match="lacks"):
        learner.load_state_dict({"method": {}})


def test_collossl_splits_devices_and_embeds_all_of_them() -> None:
    method = build_method("collossl", IMU)  # two devices of 3 channels
    assert method.num_devices == 2  # type: ignore[attr-defined]
    x = torch.randn(5, 24, 6)
    split = method._split(x)  # type: ignore[attr-defined]
    assert torch.equal(split[1, :, :, :], x[..., 3:])
    method.eval()
    assert method.embed(x).shape == (5, 2 * 96)
    with pytest.raises(ValueError, match="devices"):
        build_method("collossl", InputSpec("imu", (24, 6)))
    with pytest.raises(ValueError, match="split"):
        InputSpec("imu", (24, 7), devices=2)


def test_input_spec_round_trips_through_dict() -> None:
    assert InputSpec.from_dict(IMU.to_dict()) == IMU


def test_image_and_spectrogram_modalities_train() -> None:
    torch.manual_seed(0)
    image = build_method(
        "simclr", InputSpec("image", (3, 32, 32)), projection_hidden_dim=32, projection_dim=16
    )
    metrics = Learner(image).step(torch.rand(4, 3, 40, 40))
    assert metrics["loss"] > 0
    spec = InputSpec("spectrogram", (40, 32))
    for name in ("barlow_twins", "tera"):
        learner = Learner(build_method(name, spec, **SMALL[name]))
        assert learner.step(torch.randn(4, 40, 32))["loss"] > 0
        assert learner.embed(torch.randn(3, 40, 32)).ndim == 2


def test_dino_schedule_step_follows_a_loaded_state() -> None:
    trained, fresh = make_learner("dino"), make_learner("dino")
    for batch in batches("dino", 2):
        trained.step(batch)
    fresh.step(batches("dino", 1)[0])  # caches its own step count (1)
    fresh.method.load_state_dict(trained.method.state_dict())
    fresh.step(batches("dino", 1)[0])
    assert int(fresh.method.step) == 3
    assert fresh.method._host_step == 3  # the schedule used step 2 (the loaded count), not 1
