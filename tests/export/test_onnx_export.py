"""export_onnx: single-file output, dynamic batch, named outputs, metadata, parity with torch."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from robossl.export.metadata import ExportMetadata, Normalisation, TensorSpec
from robossl.export.onnx_export import export_onnx, flatten_outputs
from robossl.export.runtime import OnnxModel

torch.set_num_threads(1)


class TwoHeads(nn.Module):
    """Conv trunk with two inputs and a dict output (embedding + logits), batch norm and dropout."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(2, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.5)
        )
        self.side = nn.Linear(5, 8)
        self.classifier = nn.Linear(8, 3)

    def forward(self, image: torch.Tensor, extra: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.trunk(image).mean(dim=(2, 3)) + self.side(extra)
        return {"logits": self.classifier(z), "embedding": z}


def _meta() -> ExportMetadata:
    return ExportMetadata(
        model_kind="test.two_heads",
        inputs=[TensorSpec("image"), TensorSpec("extra")],
        outputs=[TensorSpec("embedding"), TensorSpec("logits")],
        normalisation={"image": Normalisation(scale=1 / 255)},
        class_names=["a", "b", "c"],
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = TwoHeads()
    # Non-trivial batch-norm statistics so eval mode matters.
    model.trunk[1].running_mean.uniform_(-1, 1)
    model.trunk[1].running_var.uniform_(0.5, 2)
    model.train()
    path = tmp_path_factory.mktemp("onnx") / "two_heads.onnx"
    report = export_onnx(model, (torch.rand(1, 2, 6, 7), torch.randn(1, 5)), path, _meta())
    return model, report


def test_writes_one_self_contained_file(exported) -> None:
    _, report = exported
    files = sorted(p.name for p in report.path.parent.iterdir())
    assert files == ["two_heads.onnx"]
    model = onnx.load(str(report.path), load_external_data=False)
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    assert report.exporter == "dynamo"


def test_restores_training_mode(exported) -> None:
    model, _ = exported
    assert model.training


@pytest.mark.parametrize("batch", [1, 3, 17])
def test_parity_with_torch_at_any_batch_size(exported, batch: int) -> None:
    model, report = exported
    rng = np.random.default_rng(batch)
    image = rng.random((batch, 2, 6, 7), dtype=np.float32)
    extra = rng.standard_normal((batch, 5)).astype(np.float32)
    runtime = OnnxModel(report.path)
    got = runtime.run({"image": image, "extra": extra})
    model.eval()
    with torch.no_grad():
        want = model(torch.from_numpy(image), torch.from_numpy(extra))
    model.train()
    for name in ("embedding", "logits"):
        assert got[name].shape == tuple(want[name].shape)
        assert np.max(np.abs(got[name] - want[name].numpy())) <= 1e-4
    assert report.max_abs_diff <= 1e-4


def test_metadata_is_completed_and_stored(exported) -> None:
    _, report = exported
    meta = OnnxModel(report.path).metadata
    assert meta is not None and meta == report.metadata
    assert [s.shape for s in meta.inputs] == [(None, 2, 6, 7), (None, 5)]
    assert [s.shape for s in meta.outputs] == [(None, 8), (None, 3)]
    assert meta.class_names == ["a", "b", "c"]
    assert meta.normalisation["image"].scale == pytest.approx(1 / 255)
    assert meta.exported_at.startswith("20") and meta.extra["exporter"] == "dynamo"


def test_static_batch_legacy_exporter(tmp_path) -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh())
    meta = ExportMetadata("test.mlp", [TensorSpec("x")], [TensorSpec("y")])
    x = torch.randn(3, 4)
    report = export_onnx(model, x, tmp_path / "mlp.onnx", meta, dynamic_batch=False, exporter="legacy")
    runtime = OnnxModel(report.path)
    assert runtime.inputs[0].shape == (3, 4)
    np.testing.assert_allclose(runtime(x.numpy()), model(x).detach().numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="axis 0 differs"):
        runtime(np.zeros((2, 4), np.float32))
    assert report.metadata.extra["exporter"] == "legacy"


def test_rejects_inconsistent_inputs(tmp_path) -> None:
    meta = ExportMetadata("test", [TensorSpec("x")], [TensorSpec("y")])
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="2 example inputs but metadata lists 1"):
        export_onnx(model, (torch.zeros(1, 2), torch.zeros(1, 2)), tmp_path / "m.onnx", meta)
    with pytest.raises(ValueError, match="NaN or Inf"):
        export_onnx(model, torch.full((1, 2), float("nan")), tmp_path / "m.onnx", meta)
    with pytest.raises(ValueError, match="exporter must be one of"):
        export_onnx(model, torch.zeros(1, 2), tmp_path / "m.onnx", meta, exporter="tvm")
    assert not (tmp_path / "m.onnx").exists()


def test_flatten_outputs_names_missing_keys() -> None:
    with pytest.raises(ValueError, match=r"missing \['depth'\]"):
        flatten_outputs({"logits": torch.zeros(1)}, ["depth"])
    with pytest.raises(ValueError, match="returns 2 outputs but metadata names 1"):
        flatten_outputs((torch.zeros(1), torch.zeros(1)), ["y"])


class DataDependent(nn.Module):
    """Python control flow on tensor values: torch.export refuses it, the TorchScript tracer follows one branch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if float(x.sum()) > 0:
            return x * 2.0
        return x - 1.0


def test_auto_falls_back_to_legacy_exporter(tmp_path) -> None:
    meta = ExportMetadata("test.branch", [TensorSpec("x")], [TensorSpec("y")])
    x = torch.ones(2, 3)
    report = export_onnx(DataDependent(), x, tmp_path / "branch.onnx", meta)
    assert report.exporter == "legacy" and report.metadata.extra["exporter"] == "legacy"
    np.testing.assert_allclose(OnnxModel(report.path)(x.numpy()), 2.0 * x.numpy())
    with pytest.raises(RuntimeError, match="could not export the module to ONNX:\ndynamo: "):
        export_onnx(DataDependent(), x, tmp_path / "branch2.onnx", meta, exporter="dynamo")
