"""int8 quantisation (ONNX Runtime dynamic and static): metadata kept, outputs close, bad calibration caught."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from robossl.export.metadata import ExportMetadata, TensorSpec
from robossl.export.onnx_export import export_onnx
from robossl.export.quantize import (
    ArrayCalibrationReader,
    StaticQuantConfig,
    quantize_dynamic_int8,
    quantize_static_int8,
)
from robossl.export.runtime import OnnxModel


@pytest.fixture(scope="module")
def fp32(tmp_path_factory):
    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4),
    )  # fmt: skip
    meta = ExportMetadata("test.cnn", [TensorSpec("image")], [TensorSpec("logits")], class_names=list("abcd"))
    path = tmp_path_factory.mktemp("q") / "cnn.onnx"
    export_onnx(module, torch.rand(2, 1, 16, 16), path, meta, exporter="legacy")
    return path


def _data(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 1, 1, 16, 16), dtype=np.float32)


def _relative_error(path_a, path_b, data) -> float:
    a, b = OnnxModel(path_a), OnnxModel(path_b)
    ya = np.concatenate([a(x) for x in data])
    yb = np.concatenate([b(x) for x in data])
    return float(np.abs(ya - yb).max() / np.abs(ya).max())


def _op_types(path) -> set[str]:
    return {n.op_type for n in onnx.load(str(path)).graph.node}


def test_static_int8_is_close_to_fp32_and_keeps_metadata(fp32, tmp_path) -> None:
    out = quantize_static_int8(fp32, tmp_path / "s8.onnx", list(_data(32, 1)))
    assert {"QuantizeLinear", "DequantizeLinear"} <= _op_types(out)
    assert _relative_error(fp32, out, _data(16, 2)) < 0.05
    meta = OnnxModel(out).metadata
    assert meta is not None and meta.class_names == list("abcd")
    assert meta.extra["quantization"].startswith("int8-static QDQ (minmax, 32 calibration batches)")


def test_dynamic_int8_is_close_to_fp32(fp32, tmp_path) -> None:
    out = quantize_dynamic_int8(fp32, tmp_path / "d8.onnx")
    assert _op_types(out) & {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul"}
    assert _relative_error(fp32, out, _data(16, 3)) < 0.05
    assert OnnxModel(out).metadata.extra["quantization"].startswith("int8-dynamic")


def test_calibration_errors(fp32, tmp_path) -> None:
    with pytest.raises(ValueError, match="needs calibration data"):
        quantize_static_int8(fp32, tmp_path / "e.onnx", [])
    bad = _data(3, 4)
    bad[1, 0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"\(sample 1\) contains NaN/Inf"):
        quantize_static_int8(fp32, tmp_path / "e.onnx", list(bad))
    with pytest.raises(ValueError, match="give normalised float32"):
        quantize_static_int8(fp32, tmp_path / "e.onnx", [np.zeros((1, 1, 16, 16))])
    with pytest.raises(ValueError, match="calibrate_method must be one of"):
        quantize_static_int8(
            fp32, tmp_path / "e.onnx", list(_data(2, 5)), StaticQuantConfig(calibrate_method="x")
        )


def test_reader_stops_at_max_samples_and_checks_names() -> None:
    reader = ArrayCalibrationReader(iter(_data(10, 6)), ["image"], max_samples=4)
    assert len(reader.read_all()) == 4 and reader.count == 4
    wrong = ArrayCalibrationReader([{"img": _data(1, 7)[0]}], ["image"])
    with pytest.raises(ValueError, match=r"inputs \['img'\], the model takes \['image'\]"):
        wrong.get_next()


def test_static_op_types_keep_heads_in_float(fp32, tmp_path) -> None:
    out = quantize_static_int8(
        fp32, tmp_path / "conv8.onnx", list(_data(8, 8)), StaticQuantConfig(op_types=("Conv",))
    )
    graph = onnx.load(str(out)).graph
    float_weights = {i.name for i in graph.initializer if i.data_type == onnx.TensorProto.FLOAT}
    heads = [n for n in graph.node if n.op_type in ("Gemm", "MatMul")]
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert heads and all(n.input[1] in float_weights for n in heads)
    assert convs and not any(
        n.input[1] in float_weights for n in convs
    )  # conv weights come from DequantizeLinear
    assert _relative_error(fp32, out, _data(8, 9)) < 0.05
