"""Parameter and MAC counting against hand-computed values."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robossl.export.complexity import count_macs_onnx, count_parameters
from robossl.export.metadata import ExportMetadata, TensorSpec
from robossl.export.onnx_export import export_onnx


class Mixed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)  # out (8, 8, 10)
        self.depthwise = nn.Conv2d(8, 8, 5, padding=2, groups=8)  # out (8, 8, 10)
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)  # in (8, 8, 10) -> (4, 16, 20)
        self.fc = nn.Linear(4, 6)
        self.weight = nn.Parameter(torch.randn(6, 7))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.up(self.depthwise(self.conv(x))).mean(dim=(2, 3))
        return self.fc(y) @ self.weight


@pytest.mark.parametrize("exporter", ["dynamo", "legacy"])
def test_macs_match_hand_count(tmp_path, exporter: str) -> None:
    meta = ExportMetadata("test", [TensorSpec("x")], [TensorSpec("y")])
    path = tmp_path / "m.onnx"
    export_onnx(Mixed(), torch.rand(2, 3, 16, 20), path, meta, exporter=exporter)
    conv = 8 * 8 * 10 * (3 * 3 * 3)
    depthwise = 8 * 8 * 10 * (1 * 5 * 5)
    up = (8 * 8 * 10) * (4 * 2 * 2)
    fc = 6 * 4
    matmul = 7 * 6
    counted = count_macs_onnx(path, batch=1)
    assert counted.total == conv + depthwise + up + fc + matmul
    assert counted.uncounted_nodes == []
    assert count_macs_onnx(path, batch=4).total == 4 * counted.total


def test_parameter_count_counts_shared_tensors_once() -> None:
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.ReLU(), shared, nn.Linear(3, 2, bias=False))
    assert count_parameters(model) == 12 + 6
    model[3].weight.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == 12
