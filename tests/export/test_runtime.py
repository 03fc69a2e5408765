"""OnnxModel: CPU inference with validated inputs and clear errors (real ONNX Runtime sessions)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from torch import nn

from robossl.export.metadata import ExportMetadata, Normalisation, TensorSpec
from robossl.export.onnx_export import export_onnx
from robossl.export.runtime import OnnxModel


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    meta = ExportMetadata(
        "test.grey",
        [TensorSpec("image", description="(B, 1, 8, 10) grey in [0, 1]")],
        [TensorSpec("features")],
        normalisation={"image": Normalisation(scale=1 / 255, mean=(0.5,), std=(0.25,))},
    )
    path = tmp_path_factory.mktemp("rt") / "grey.onnx"
    export_onnx(module, torch.rand(2, 1, 8, 10), path, meta, exporter="legacy")
    return path


def test_call_returns_array_for_single_output(model_path) -> None:
    model = OnnxModel(model_path, threads=2)
    out = model(np.zeros((3, 1, 8, 10), np.float32))
    assert isinstance(out, np.ndarray) and out.shape == (3, 4)
    assert model.threads == 2 and model.input_names == ["image"] and model.output_names == ["features"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            np.zeros((1, 1, 8, 10), np.float64),
            r"dtype float64, the model expects float32; convert with x.astype",
        ),
        (np.zeros((1, 1, 8, 10), np.uint8), "dtype uint8"),
        (
            np.zeros((1, 8, 10), np.float32),
            r"\(1, 8, 10\) \(3-D\), the model expects \(B, 1, 8, 10\); add the batch",
        ),
        (np.zeros((1, 1, 10, 8), np.float32), "axis 2 differs"),
        (np.zeros((1, 3, 8, 10), np.float32), "axis 1 differs"),
        (np.zeros((0, 1, 8, 10), np.float32), "is empty"),
        ([[0.0]], "must be a numpy array"),
    ],
)
def test_rejects_bad_input_with_actionable_message(model_path, bad, message) -> None:
    with pytest.raises(ValueError, match=message):
        OnnxModel(model_path)(bad)


def test_rejects_nan_and_inf_and_counts_them(model_path) -> None:
    x = np.zeros((2, 1, 8, 10), np.float32)
    x[0, 0, 0, :3] = np.nan
    x[1, 0, 5, 5] = np.inf
    with pytest.raises(ValueError, match=r"contains 4 NaN/Inf value\(s\) of 160"):
        OnnxModel(model_path)(x)
    assert OnnxModel(model_path, check_finite=False)(x).shape == (2, 4)


def test_run_names_missing_and_unknown_inputs(model_path) -> None:
    with pytest.raises(ValueError, match=r"missing \['image'\], unknown \['img'\]"):
        OnnxModel(model_path).run({"img": np.zeros((1, 1, 8, 10), np.float32)})


def test_prepare_applies_stored_normalisation(model_path) -> None:
    raw = np.full((1, 1, 8, 10), 255, np.uint8)
    prepared = OnnxModel(model_path).prepare(raw)
    assert prepared.dtype == np.float32
    np.testing.assert_allclose(prepared, (1.0 - 0.5) / 0.25)


def test_constructor_errors(model_path, tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="robossl export"):
        OnnxModel(tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match="threads must be an integer >= 1"):
        OnnxModel(model_path, threads=0)
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(model_path.read_bytes()[:200])
    with pytest.raises(ValueError, match="not a loadable ONNX model"):
        OnnxModel(corrupt)


def test_foreign_model_without_metadata(tmp_path) -> None:
    """A hand-built ONNX graph (not exported by robossl) still runs and validates; metadata is None."""
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
    )
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    model = OnnxModel(path)
    assert model.metadata is None
    np.testing.assert_array_equal(model(np.array([[-1, 0, 2]], np.float32)), [[0, 0, 2]])
    np.testing.assert_array_equal(model.prepare(np.array([[1, 2, 3]], np.uint8)), [[1, 2, 3]])
    with pytest.raises(ValueError, match="axis 1 differs"):
        model(np.zeros((1, 4), np.float32))
