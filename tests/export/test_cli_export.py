"""`robossl export` end to end: checkpoint -> .onnx (+ int8) through the real CLI entry point."""

from __future__ import annotations

import numpy as np
import torch

from robossl.backbones import ImuConvEncoder
from robossl.cli.main import main
from robossl.export.kinds.backbones import backbone_checkpoint
from robossl.export.runtime import OnnxModel
from robossl.online.checkpoint import save_checkpoint


def test_export_with_static_int8(tmp_path, capsys) -> None:
    torch.manual_seed(0)
    encoder = ImuConvEncoder(6, (8, 16, 24), (8, 6, 4)).eval()
    ckpt = save_checkpoint(tmp_path / "imu.pt", backbone_checkpoint(encoder, (32, 6)))
    calibration = np.random.default_rng(0).standard_normal((12, 32, 6)).astype(np.float32)
    np.save(tmp_path / "cal.npy", calibration)
    out = tmp_path / "models" / "imu.onnx"
    args = ["export", "--checkpoint", str(ckpt), "--out", str(out), "--exporter", "legacy"]
    code = main([*args, "--quantize", "static", "--calibration", str(tmp_path / "cal.npy")])
    printed = capsys.readouterr().out
    assert code == 0
    assert "input        input (B, 32, 6) float32" in printed
    assert "MACs (B=1)" in printed and "parity       max |onnx - torch|" in printed
    x = calibration[:4]
    with torch.no_grad():
        want = encoder(torch.from_numpy(x)).numpy()
    assert np.abs(OnnxModel(out)(x) - want).max() <= 1e-4
    int8 = OnnxModel(out.with_suffix(".int8.onnx"))
    assert np.abs(int8(x) - want).max() < 0.1 * np.abs(want).max()


def test_errors_exit_nonzero_with_message(tmp_path, capsys) -> None:
    assert main(["export", "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path / "m.onnx")]) == 1
    assert "does not exist" in capsys.readouterr().err
    ckpt = save_checkpoint(tmp_path / "x.pt", {"weights": {"a": torch.zeros(1)}})
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "m.onnx")]) == 1
    assert "pass --model-kind" in capsys.readouterr().err
    assert main(["export", "--list-kinds"]) == 0
    assert "backbone" in capsys.readouterr().out
