"""Model size: parameter count and multiply-accumulate operations (MACs) per inference.

MACs are counted on the exported ONNX graph (so they count exactly what runs on the robot, including
functional ops a module-hook counter would miss): Conv, ConvTranspose, Gemm and MatMul, at batch 1.
Element-wise ops, pooling and normalisation are not counted (the usual convention; they are a few percent
of a CNN's work).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from torch import nn


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (every element of every parameter tensor, each shared tensor once)."""
    seen: set[int] = set()
    total = 0
    for p in module.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total


@dataclass
class MacCount:
    """MACs of one inference at the given batch size."""

    total: int  # multiply-accumulates over the counted ops
    by_op: dict[str, int]  # per ONNX op type
    uncounted_nodes: list[str]  # counted-type nodes whose shapes could not be inferred


def count_macs_onnx(path: str | os.PathLike[str], batch: int = 1) -> MacCount:
    """Count the MACs of the ONNX model at ``path`` with every dynamic axis set to ``batch``.

    Raises:
        ValueError: when ``batch`` < 1.
    """
    import onnx

    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    model = onnx.load(str(path))
    graph = model.graph
    for value in list(graph.input) + list(graph.output):
        for dim in value.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.dim_value = batch
    del graph.value_info[:]
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    shapes: dict[str, list[int]] = {}
    for init in inferred.graph.initializer:
        shapes[init.name] = list(init.dims)
    for value in list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = [d.dim_value for d in dims]
    by_op: dict[str, int] = {}
    uncounted: list[str] = []
    for node in inferred.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
            continue
        macs = _node_macs(node, shapes)
        if macs is None:
            uncounted.append(node.name or node.op_type)
            continue
        by_op[node.op_type] = by_op.get(node.op_type, 0) + macs
    return MacCount(total=sum(by_op.values()), by_op=by_op, uncounted_nodes=uncounted)


def _node_macs(node: object, shapes: dict[str, list[int]]) -> int | None:
    inputs = list(node.input)  # type: ignore[attr-defined]
    outputs = list(node.output)  # type: ignore[attr-defined]
    op = node.op_type  # type: ignore[attr-defined]
    a = shapes.get(inputs[0])
    b = shapes.get(inputs[1]) if len(inputs) > 1 else None
    out = shapes.get(outputs[0])
    if op == "Conv":
        if out is None or b is None:
            return None
        return math.prod(out) * math.prod(b[1:])
    if op == "ConvTranspose":
        if a is None or b is None:
            return None
        return math.prod(a) * math.prod(b[1:])
    if out is None or a is None:
        return None
    if op == "Gemm":
        trans_a = any(att.name == "transA" and att.i for att in node.attribute)  # type: ignore[attr-defined]
        inner = a[0] if trans_a else a[-1]
        return math.prod(out) * inner
    return math.prod(out) * a[-1]  # MatMul
