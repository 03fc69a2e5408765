"""Kind "backbone": every robossl.backbones encoder round-trips checkpoint -> ONNX with parity <= 1e-4."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robossl.backbones import ImageCNN, ImuConvEncoder, MLPEncoder, SpectrogramEncoder
from robossl.export.kinds import available_kinds, detect_kind, load_deployable
from robossl.export.kinds.backbones import backbone_checkpoint
from robossl.export.onnx_export import export_onnx
from robossl.export.runtime import OnnxModel
from robossl.online.checkpoint import save_checkpoint

torch.set_num_threads(1)

CASES = {
    "image": (lambda: ImageCNN(1, (8, 16, 32)), (1, 48, 64)),
    "imu": (lambda: ImuConvEncoder(5, (16, 32, 48), (12, 8, 4)), (32, 5)),
    "spectrogram": (lambda: SpectrogramEncoder(2, (8, 16)), (2, 24, 20)),
    "mlp": (lambda: MLPEncoder(10, (32, 16)), (10,)),
}


def _randomise_norm_stats(module: torch.nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)


@pytest.fixture(scope="module", params=sorted(CASES))
def exported(request, tmp_path_factory):
    torch.manual_seed(0)
    make, shape = CASES[request.param]
    encoder = make()
    _randomise_norm_stats(encoder)
    folder = tmp_path_factory.mktemp(request.param)
    ckpt = save_checkpoint(folder / "enc.pt", backbone_checkpoint(encoder, shape))
    deployable = load_deployable(ckpt)
    report = export_onnx(
        deployable.module, deployable.example_inputs, folder / "enc.onnx", deployable.metadata
    )
    return encoder.eval(), report, ckpt


def _max_diff(encoder, path, x: np.ndarray) -> float:
    with torch.no_grad():
        want = encoder(torch.from_numpy(x)).numpy()
    return float(np.abs(OnnxModel(path)(x) - want).max())


def test_random_input_parity(exported) -> None:
    encoder, report, _ = exported
    shape = report.metadata.inputs[0].shape[1:]
    x = np.random.default_rng(1).standard_normal((4, *shape)).astype(np.float32)
    assert _max_diff(encoder, report.path, x) <= 1e-4


def test_provenance_recorded(exported) -> None:
    _, report, ckpt = exported
    from robossl.export.metadata import file_sha256

    meta = OnnxModel(report.path).metadata
    assert meta.model_kind == "backbone"
    assert meta.checkpoint_sha256 == file_sha256(ckpt)
    assert meta.trained_at and meta.robossl_version
    assert meta.extra["checkpoint_name"] == "enc.pt"


def test_real_imu_windows_parity(real_data, tmp_path) -> None:
    """ActRecTut walk recording, 1 s windows of the right-ankle IMU (5 channels), raw units."""
    from robossl.data.datasets.actrectut import load_actrectut

    real_data("har/actrectut")
    rec = load_actrectut(subject=1, task="walk")
    signal = rec.devices["right_ankle"].astype(np.float32)
    windows = np.stack([signal[i : i + 32] for i in range(0, 32 * 40, 32)])
    torch.manual_seed(0)
    encoder = ImuConvEncoder(5, (16, 32, 48), (12, 8, 4)).eval()
    ckpt = save_checkpoint(tmp_path / "imu.pt", backbone_checkpoint(encoder, (32, 5)))
    d = load_deployable(ckpt)
    report = export_onnx(d.module, torch.from_numpy(windows[:2]), tmp_path / "imu.onnx", d.metadata)
    assert _max_diff(encoder, report.path, windows) <= 1e-4


def test_real_euroc_image_parity(real_data, tmp_path) -> None:
    """EuRoC left camera frames, downscaled to 64x48, grey in [0, 1]."""
    import cv2

    from robossl.data.datasets.euroc import EurocSequence

    seq = EurocSequence(real_data("stereo/euroc_v1_01_easy_micro"))
    frames = [cv2.resize(seq[i].left, (64, 48), interpolation=cv2.INTER_AREA) for i in range(0, 40, 8)]
    x = (np.stack(frames)[:, None] / 255.0).astype(np.float32)
    torch.manual_seed(0)
    encoder = ImageCNN(1, (8, 16, 32))
    _randomise_norm_stats(encoder)
    ckpt = save_checkpoint(tmp_path / "img.pt", backbone_checkpoint(encoder.eval(), (1, 48, 64)))
    d = load_deployable(ckpt)
    report = export_onnx(
        d.module, torch.from_numpy(x[:2]), tmp_path / "img.onnx", d.metadata, exporter="legacy"
    )
    assert _max_diff(encoder, report.path, x) <= 1e-4


def test_detect_kind_errors() -> None:
    assert "backbone" in available_kinds()
    with pytest.raises(ValueError, match="no model kind recognises this checkpoint"):
        detect_kind({"weights": {}})
    assert detect_kind({"backbone": {"class": "MLPEncoder"}}) == "backbone"


def test_wrong_weights_give_clear_error(tmp_path) -> None:
    state = backbone_checkpoint(MLPEncoder(10, (32, 16)), (10,))
    state["backbone"]["init"]["hidden_dims"] = [8]
    ckpt = save_checkpoint(tmp_path / "bad.pt", state)
    with pytest.raises(ValueError, match="does not hold a 'backbone' model"):
        load_deployable(ckpt)
