"""Kind "stereo_mono.depth": pipeline checkpoint -> ONNX depth model, parity <= 1e-4 (random + EuRoC)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robossl.export.kinds import detect_kind, load_deployable
from robossl.export.onnx_export import export_onnx
from robossl.export.runtime import OnnxModel
from robossl.online.checkpoint import save_checkpoint

torch.set_num_threads(1)


def _trained_looking_learner(width: float, size: tuple[int, int]):
    """A student whose head and batch-norm statistics are non-trivial (the untrained head is constant)."""
    from robossl.pipelines.stereo_mono import MonoDepthLearner, StudentConfig

    torch.manual_seed(0)
    learner = MonoDepthLearner(StudentConfig(input_height=size[0], input_width=size[1], width=width))
    torch.nn.init.normal_(learner.model.head.weight, std=0.2)
    for m in learner.model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return learner


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("depth")
    learner = _trained_looking_learner(0.5, (64, 96))
    state = {
        "learner": learner.state_dict(),
        "steps": 3,
        "student": {"input_height": 64, "input_width": 96, "max_depth_m": 12.0},
    }
    ckpt = save_checkpoint(folder / "depth.pt", state)
    deployable = load_deployable(ckpt)
    report = export_onnx(
        deployable.module, deployable.example_inputs, folder / "depth.onnx", deployable.metadata
    )
    return learner.model.eval(), report


def _diff(model, path, x: np.ndarray) -> float:
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    got = OnnxModel(path)(x)
    assert got.shape == want.shape
    return float(np.abs(got - want).max())


def test_kind_detected_and_config_restored(exported) -> None:
    _, report = exported
    meta = OnnxModel(report.path).metadata
    assert meta.model_kind == "stereo_mono.depth"
    assert meta.inputs[0].shape == (None, 1, 64, 96) and meta.outputs[0].shape == (None, 1, 64, 96)
    assert meta.extra["width"] == "0.5" and meta.extra["max_depth_m"] == "12"
    assert meta.normalisation["image"].scale == pytest.approx(1 / 255)


def test_random_input_parity(exported) -> None:
    model, report = exported
    x = np.random.default_rng(0).random((3, 1, 64, 96), dtype=np.float32)
    assert _diff(model, report.path, x) <= 1e-4


def test_real_euroc_frames_parity(exported, real_data) -> None:
    """Rectification is irrelevant to parity; raw EuRoC left frames resized to the student input."""
    import cv2

    from robossl.data.datasets.euroc import EurocSequence

    model, report = exported
    seq = EurocSequence(real_data("stereo/euroc_v1_01_easy_micro"))
    frames = np.stack(
        [cv2.resize(seq[i].left, (96, 64), interpolation=cv2.INTER_AREA) for i in range(0, 90, 15)]
    )
    runtime = OnnxModel(report.path)
    x = runtime.prepare(frames[:, None])
    assert _diff(model, report.path, x) <= 1e-4


def test_input_shape_override_and_bare_learner_state(tmp_path) -> None:
    learner = _trained_looking_learner(0.25, (64, 64))
    ckpt = save_checkpoint(tmp_path / "bare.pt", learner.state_dict())
    assert detect_kind(learner.state_dict()) == "stereo_mono.depth"
    deployable = load_deployable(ckpt, input_shape=(1, 32, 64))
    assert tuple(deployable.example_inputs[0].shape) == (2, 1, 32, 64)
    with pytest.raises(ValueError, match="must be 1,H,W"):
        load_deployable(ckpt, input_shape=(3, 32, 64))
