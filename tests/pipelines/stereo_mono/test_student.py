"""Student network, scale-aware loss and the online learner."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from robossl.online.checkpoint import load_checkpoint, save_checkpoint
from robossl.pipelines.stereo_mono.learner import MonoDepthLearner, MonoDepthLearnerConfig, make_sample
from robossl.pipelines.stereo_mono.loss import ScaleAwareDepthLoss, scale_aware_log_loss
from robossl.pipelines.stereo_mono.student import MonoDepthNet, StudentConfig, count_parameters


def reference_loss(pred, target, conf, scale_weight):
    """Independent loop implementation of the documented formula."""
    num_abs = num = den = 0.0
    for p, t, c in zip(pred.ravel().tolist(), target.ravel().tolist(), conf.ravel().tolist()):
        if c <= 0 or not math.isfinite(t) or t <= 0:
            continue
        e = math.log(p) - math.log(t)
        num_abs += c * abs(e)
        num += c * e
        den += c
    return num_abs / den + scale_weight * (num / den) ** 2


def test_loss_matches_reference_formula():
    gen = torch.Generator().manual_seed(0)
    pred = torch.rand(2, 1, 4, 5, generator=gen) * 3 + 0.2
    target = torch.rand(2, 1, 4, 5, generator=gen) * 3 + 0.2
    target[0, 0, 0, 0] = float("nan")  # ignored however confident
    conf = torch.rand(2, 1, 4, 5, generator=gen)
    conf[1, 0, 2] = 0.0
    value = scale_aware_log_loss(pred, target, conf, scale_weight=0.7)
    assert value.item() == pytest.approx(reference_loss(pred, target, conf, 0.7), rel=1e-5)


def test_loss_properties():
    target = torch.full((1, 1, 4, 4), 2.0)
    conf = torch.ones_like(target)
    assert scale_aware_log_loss(target.clone(), target, conf).item() == pytest.approx(0.0, abs=1e-7)
    # a global scale error costs more than in a scale-invariant loss: |log 2| + log(2)^2
    assert scale_aware_log_loss(target * 2, target, conf).item() == pytest.approx(
        math.log(2) + math.log(2) ** 2
    )
    pred = torch.full_like(target, 1.0, requires_grad=True)
    empty = scale_aware_log_loss(pred, target, torch.zeros_like(target))
    empty.backward()
    assert empty.item() == 0.0 and pred.grad is not None
    with pytest.raises(ValueError, match="scale_weight"):
        ScaleAwareDepthLoss(-1.0)
    with pytest.raises(ValueError, match="shapes differ"):
        scale_aware_log_loss(pred, target[:, :, :2], conf)


def test_student_size_and_output_range():
    model = MonoDepthNet(StudentConfig()).eval()
    assert 1_000_000 <= count_parameters(model) <= 3_000_000
    with torch.no_grad():
        depth = model(torch.rand(2, 1, 128, 160))
    assert depth.shape == (2, 1, 128, 160)
    assert torch.allclose(depth, torch.full_like(depth, 2.0), rtol=1e-4)  # untrained: init_depth_m
    with pytest.raises(ValueError, match="multiples of 32"):
        StudentConfig(input_height=120)


def test_head_at_half_resolution_equals_head_after_upsampling():
    """The 1x1 head runs before the last nearest upsampling; the output equals FastDepth's order exactly."""
    torch.manual_seed(0)
    model = MonoDepthNet(StudentConfig(width=0.25)).eval()
    torch.nn.init.normal_(model.head.weight, std=5.0)  # a trained-like head (the initial one is constant)
    image = torch.rand(2, 1, 64, 96)
    with torch.no_grad():
        x = (image - 0.5) * 4.0
        s1 = model.enc1(model.stem(x))
        s2 = model.enc2(s1)
        s3 = model.enc3(s2)
        s4 = model.enc4(s3)
        y = torch.nn.functional.interpolate(model.dec5(model.enc5(s4)), scale_factor=2.0) + s4
        y = torch.nn.functional.interpolate(model.dec4(y), scale_factor=2.0) + s3
        y = torch.nn.functional.interpolate(model.dec3(y), scale_factor=2.0) + s2
        y = torch.nn.functional.interpolate(model.dec2(y), scale_factor=2.0) + s1
        y = torch.nn.functional.interpolate(model.dec1(y), scale_factor=2.0)
        expected = torch.exp(torch.clamp(model.head(y), math.log(0.1), math.log(20.0)))
        got = model(image)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)
    assert got.std() > 0.05  # the comparison is not between two constant maps


def brightness_coded_batch(rng: np.random.Generator, n: int) -> list[dict[str, np.ndarray]]:
    """Frames whose depth follows their vertical brightness gradient (a learnable monocular cue)."""
    batch = []
    for _ in range(n):
        near = rng.uniform(0.5, 1.5)
        rows = np.linspace(near, near * 3, 32, dtype=np.float32)[:, None] * np.ones((1, 64), np.float32)
        image = np.clip(255 / rows * 0.5 + rng.normal(0, 3, rows.shape), 0, 255).astype(np.uint8)
        confidence = (rng.random(rows.shape) > 0.3).astype(np.float32)
        batch.append(make_sample(image, rows, confidence, (32, 64)))
    return batch


def test_learner_reduces_loss_and_round_trips(tmp_path):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    student = StudentConfig(input_height=32, input_width=64, width=0.25)
    learner = MonoDepthLearner(student, MonoDepthLearnerConfig(learning_rate=3e-3, seed=1))
    rng = np.random.default_rng(0)
    data = brightness_coded_batch(rng, 32)
    losses = [learner.step(data[i % 4 * 8 : i % 4 * 8 + 8])["loss"] for i in range(60)]
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    save_checkpoint(tmp_path / "learner.pt", learner.state_dict())
    restored = MonoDepthLearner(student, MonoDepthLearnerConfig(learning_rate=3e-3, seed=99))
    restored.load_state_dict(load_checkpoint(tmp_path / "learner.pt"))
    assert restored.steps == 60
    a, b = learner.step(data[:8]), restored.step(data[:8])
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)


def test_make_sample_zeroes_confidence_without_depth():
    depth = np.full((12, 16), 2.0, np.float32)
    depth[:, :8] = np.nan
    sample = make_sample(np.zeros((12, 16), np.uint8), depth, np.ones((12, 16), np.float32), (6, 8))
    assert sample["image"].shape == (6, 8)
    assert np.all(sample["confidence"][:, :4] == 0) and np.all(sample["confidence"][:, 4:] == 1)
    assert sample["depth"].dtype == np.float16
