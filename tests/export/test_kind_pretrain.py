"""Kind "pretrain.encoder": a `robossl pretrain` checkpoint exports to ONNX with its standardisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robossl.cli.main import main as robossl_main
from robossl.data.pretrain_sources import Standardizer
from robossl.export.kinds import detect_kind, load_deployable
from robossl.export.onnx_export import export_onnx
from robossl.export.runtime import OnnxModel
from robossl.methods import InputSpec, build_method
from robossl.online.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pretrain")
    rng = np.random.default_rng(0)
    # raw IMU-like windows far from zero mean / unit variance, so a missing standardisation shows
    windows = (rng.standard_normal((96, 32, 6)) * [1, 2, 3, 0.5, 0.5, 0.5] + [9.8, 0, 0, 0.1, 0, 0]).astype(
        np.float32
    )
    np.savez(folder / "windows.npz", windows=windows)
    code = robossl_main(
        [
            "pretrain", "--method", "simclr", "--data", str(folder / "windows.npz"), "--steps", "3",
            "--batch-size", "32", "--threads", "1", "--out", str(folder / "run"),
        ]
    )  # fmt: skip
    assert code == 0
    return folder / "run" / "checkpoint.pt", windows


def test_detected_and_exported_with_parity_and_standardisation(pretrained, tmp_path) -> None:
    checkpoint, windows = pretrained
    saved = load_checkpoint(checkpoint)
    assert detect_kind(saved) == "pretrain.encoder"
    deployable = load_deployable(checkpoint)
    report = export_onnx(
        deployable.module, deployable.example_inputs, tmp_path / "enc.onnx", deployable.metadata
    )
    model = OnnxModel(report.path)
    assert model.metadata is not None and model.metadata.model_kind == "pretrain.encoder"
    standardizer = Standardizer.from_dict(saved["standardizer"])
    norm = model.metadata.normalisation["input"]
    np.testing.assert_allclose(norm.mean, standardizer.mean, rtol=1e-6)
    np.testing.assert_allclose(norm.std, standardizer.std, rtol=1e-6)
    # the robot's path: raw window -> metadata normalisation -> ONNX encoder
    got = model(model.prepare(windows[:8]))
    method = build_method("simclr", InputSpec.from_dict(saved["input_spec"]), **saved["method_config"])
    method.load_state_dict(saved["learner"]["method"])
    method.eval()
    with torch.no_grad():
        want = method.embed(torch.from_numpy(standardizer(windows[:8]))).numpy()
    assert float(np.abs(got - want).max()) <= 1e-4
    assert float(np.abs(want).max()) > 1e-3  # not a comparison of zeros


def test_other_input_shape_is_refused_with_a_reason(pretrained) -> None:
    checkpoint, _ = pretrained
    with pytest.raises(ValueError, match="pretrained on samples of shape"):
        load_deployable(checkpoint, input_shape=(64, 6))
