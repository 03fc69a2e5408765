"""Method set II (issue 18): each new method pretrains (the loss falls on a small synthetic batch), is listed by
``robossl pretrain --list`` and named in ``robossl pretrain --help``."""

from __future__ import annotations

import pytest
import torch

from robossl.cli.main import main
from robossl.methods import InputSpec, Learner, LearnerConfig, available_methods, build_method

IMU = InputSpec("imu", (32, 6), rotation_groups=((0, 1, 2), (3, 4, 5)))
IMAGE = InputSpec("image", (3, 16, 16))
MUGS_SMALL = {
    "hidden_dim": 64,
    "embedding_dim": 32,
    "prediction_hidden_dim": 64,
    "bottleneck_dim": 16,
    "num_prototypes": 64,
    "queue_size": 128,
    "memory_size": 64,
}
CLUSTER_DINO_SMALL = {
    "hidden_dim": 64,
    "bottleneck_dim": 16,
    "num_prototypes": 64,
    "num_clusters": 4,
    "cluster_start_step": 0,
    "history_size": 64,
}
HALP_SMALL = {
    "projection_hidden_dim": 64,
    "projection_dim": 32,
    "queue_size": 32,
    "prototype_window": 32,
    "num_prototypes": 4,
    "num_candidates": 3,
    "prototype_every": 2,
}
# (method, input, small config): edge-sized widths so a few CPU steps take seconds
NEW_METHODS = [
    ("groco", IMU, {"projection_hidden_dim": 64, "projection_dim": 32, "num_negatives": 5}),
    ("sie", IMU, {"projection_hidden_dim": 64, "projection_dim": 32, "predictor_hidden_dim": 16}),
    ("sie", IMAGE, {"projection_hidden_dim": 64, "projection_dim": 32, "predictor_hidden_dim": 16}),
    ("bss", IMU, {"projection_hidden_dim": 64, "projection_dim": 32}),
    ("bss", IMAGE, {"projection_hidden_dim": 64, "projection_dim": 32}),
    ("mugs", IMU, MUGS_SMALL),
    ("mugs", IMAGE, MUGS_SMALL),
    ("cluster_dino", IMU, CLUSTER_DINO_SMALL),
    ("scatsimclr", IMAGE, {"projection_hidden_dim": 64, "projection_dim": 32}),
    ("masked_image", IMAGE, {"patch_size": 4}),
    # a queue of one batch, so it holds real keys from the second step on
    ("moco", IMU, {"projection_hidden_dim": 64, "projection_dim": 32, "queue_size": 32}),
    ("halp", IMU, HALP_SMALL),
]


def synthetic_windows(spec: InputSpec, count: int = 32) -> torch.Tensor:
    """Smooth random signals: sinusoids of 4 frequencies with random phase and amplitude, plus noise."""
    g = torch.Generator().manual_seed(5)
    if spec.modality == "image":
        base = torch.rand(count, 3, 4, 4, generator=g)
        return torch.nn.functional.interpolate(
            base, size=spec.shape[1:], mode="bilinear", align_corners=False
        )
    length, channels = spec.shape
    time = torch.arange(length).float() / length
    frequency = torch.randint(1, 5, (count, 1, 1), generator=g).float()
    phase = torch.rand(count, 1, channels, generator=g) * 6.28
    amplitude = 0.5 + torch.rand(count, 1, channels, generator=g)
    signal = amplitude * torch.sin(6.28 * frequency * time.view(1, -1, 1) + phase)
    return signal + 0.05 * torch.randn(count, length, channels, generator=g)


@pytest.mark.parametrize(
    ("name", "spec", "config"), NEW_METHODS, ids=[f"{m[0]}-{m[1].modality}" for m in NEW_METHODS]
)
def test_a_few_pretraining_steps_lower_the_loss(name: str, spec: InputSpec, config: dict) -> None:
    torch.manual_seed(0)
    learner = Learner(build_method(name, spec, **config), LearnerConfig(learning_rate=1e-3, seed=1))
    batch = synthetic_windows(spec)
    losses = [learner.step(batch)["loss"] for _ in range(40)]
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first, f"{name}: loss did not fall ({first:.4f} -> {last:.4f})"


def test_every_method_is_named_in_pretrain_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["pretrain", "--help"])
    text = capsys.readouterr().out
    missing = [name for name in available_methods() if name not in text]
    assert not missing, f"add {missing} to the method list in robossl/cli/pretrain.py's docstring"


def test_new_methods_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pretrain", "--list"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert {name for name, _, _ in NEW_METHODS} <= listed
