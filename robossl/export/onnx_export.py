"""Export any deployable ``nn.Module`` to one self-contained ``.onnx`` file with metadata.

The module runs in eval mode (batch norm uses running statistics, dropout is off). Tuple or dict outputs
become named ONNX outputs in :class:`ExportMetadata` order. The batch axis is dynamic by default, so the same
file serves batch-1 inference on a robot and batched offline evaluation. After writing, the file is loaded
in ONNX Runtime and compared with the module on the example inputs; a mismatch above ``tolerance`` raises.

The default exporter is torch's dynamo exporter (``torch.export`` + onnxscript); the legacy TorchScript
exporter is the fallback for modules that ``torch.export`` cannot trace.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from robossl.export.metadata import ExportMetadata, TensorSpec, now_iso

DEFAULT_OPSET = 20
_EXPORTERS = ("auto", "dynamo", "legacy")


@dataclass
class ExportReport:
    """What :func:`export_onnx` did."""

    path: Path  # the written .onnx file
    exporter: str  # "dynamo" or "legacy"
    max_abs_diff: float  # ONNX Runtime vs torch on the example inputs (nan when not verified)
    metadata: ExportMetadata  # as stored in the file


class _NamedOutputs(nn.Module):
    """Turns a module's tensor / tuple / dict output into a flat tuple in the metadata's output order."""

    def __init__(self, module: nn.Module, output_names: Sequence[str]) -> None:
        super().__init__()
        self.module = module
        self.output_names = list(output_names)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return flatten_outputs(self.module(*inputs), self.output_names)


def flatten_outputs(result: Any, output_names: Sequence[str]) -> tuple[torch.Tensor, ...]:
    """Order a module's output (tensor, tuple/list or dict) as a tuple matching ``output_names``.

    Raises:
        ValueError: when the count or the dict keys do not match ``output_names``.
    """
    if isinstance(result, torch.Tensor):
        result = (result,)
    if isinstance(result, dict):
        missing = [n for n in output_names if n not in result]
        if missing:
            raise ValueError(
                f"module output dict has keys {sorted(result)}, metadata names {list(output_names)}; "
                f"missing {missing}: make ExportMetadata.outputs use the dict keys"
            )
        return tuple(result[n] for n in output_names)
    if isinstance(result, (tuple, list)):
        if len(result) != len(output_names):
            raise ValueError(
                f"module returns {len(result)} outputs but metadata names {len(output_names)} "
                f"({list(output_names)}); list one TensorSpec per output"
            )
        return tuple(result)
    raise ValueError(f"module must return a tensor, tuple or dict of tensors, got {type(result).__name__}")


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporters' chatter (missing torchvision ops, deprecation notes) but not errors."""
    loggers = [
        logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")
    ]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _batch_at_least_two(inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    # torch.export specialises size-1 axes, so a batch-1 example would freeze the batch at 1.
    return tuple(x.repeat(2, *([1] * (x.ndim - 1))) if x.shape[0] == 1 else x for x in inputs)


def _export_dynamo(
    wrapped: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    path: Path,
    meta: ExportMetadata,
    dynamic: bool,
    opset: int,
) -> None:
    dynamic_shapes = None
    if dynamic:
        batch = torch.export.Dim("batch", min=1, max=65536)
        # The wrapper takes *inputs, so the spec is one tuple (for the varargs) of per-input dicts.
        dynamic_shapes = (tuple({0: batch} for _ in inputs),)
    torch.onnx.export(
        wrapped,
        inputs,
        str(path),
        dynamo=True,
        external_data=False,
        opset_version=opset,
        input_names=[s.name for s in meta.inputs],
        output_names=[s.name for s in meta.outputs],
        dynamic_shapes=dynamic_shapes,
        verbose=False,
    )


def _export_legacy(
    wrapped: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    path: Path,
    meta: ExportMetadata,
    dynamic: bool,
    opset: int,
) -> None:
    names = [s.name for s in meta.inputs] + [s.name for s in meta.outputs]
    torch.onnx.export(
        wrapped,
        inputs,
        str(path),
        dynamo=False,
        opset_version=min(opset, 18),
        input_names=[s.name for s in meta.inputs],
        output_names=[s.name for s in meta.outputs],
        dynamic_axes={n: {0: "batch"} for n in names} if dynamic else None,
        do_constant_folding=True,
    )


def _check_inputs(module: nn.Module, example_inputs: Any, meta: ExportMetadata) -> tuple[torch.Tensor, ...]:
    if not isinstance(module, nn.Module):
        raise TypeError(f"export_onnx needs an nn.Module, got {type(module).__name__}")
    inputs = (example_inputs,) if isinstance(example_inputs, torch.Tensor) else tuple(example_inputs)
    if len(inputs) != len(meta.inputs):
        raise ValueError(
            f"{len(inputs)} example inputs but metadata lists {len(meta.inputs)} inputs "
            f"({[s.name for s in meta.inputs]}); give one example tensor per input"
        )
    for x, spec in zip(inputs, meta.inputs):
        if not isinstance(x, torch.Tensor) or x.ndim == 0:
            raise ValueError(f"example input {spec.name!r} must be a batched tensor (B, ...), got {type(x)}")
        if not torch.isfinite(x).all():
            raise ValueError(f"example input {spec.name!r} contains NaN or Inf; export with finite data")
    names = [s.name for s in meta.inputs] + [s.name for s in meta.outputs]
    if len(set(names)) != len(names):
        raise ValueError(f"input and output names must be unique, got {names}")
    return inputs


def _complete_metadata(
    meta: ExportMetadata, inputs: tuple[torch.Tensor, ...], outputs: tuple[torch.Tensor, ...], dynamic: bool
) -> ExportMetadata:
    def shape(t: torch.Tensor) -> tuple[int | None, ...]:
        dims: list[int | None] = list(t.shape)
        if dynamic:
            dims[0] = None
        return tuple(dims)

    def dtype(t: torch.Tensor) -> str:
        return str(t.dtype).removeprefix("torch.")

    new_inputs = [TensorSpec(s.name, shape(x), dtype(x), s.description) for s, x in zip(meta.inputs, inputs)]
    new_outputs = [
        TensorSpec(s.name, shape(y), dtype(y), s.description) for s, y in zip(meta.outputs, outputs)
    ]
    return ExportMetadata(
        **{
            **meta.__dict__,
            "inputs": new_inputs,
            "outputs": new_outputs,
            "exported_at": meta.exported_at or now_iso(),
        }
    )


def write_metadata(path: str | os.PathLike[str], meta: ExportMetadata) -> None:
    """Store ``meta`` in the ``metadata_props`` of the ONNX file at ``path`` (single file, in place)."""
    import onnx

    model = onnx.load(str(path))
    props = meta.to_props()
    kept = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "robossl"
    model.doc_string = meta.description
    _save_single_file(model, Path(path))


def _save_single_file(model: Any, path: Path) -> None:
    import onnx

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        onnx.save_model(model, tmp, save_as_external_data=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_onnx(
    module: nn.Module,
    example_inputs: torch.Tensor | Sequence[torch.Tensor],
    path: str | os.PathLike[str],
    metadata: ExportMetadata,
    *,
    dynamic_batch: bool = True,
    opset: int = DEFAULT_OPSET,
    exporter: str = "auto",
    tolerance: float | None = 1e-4,
) -> ExportReport:
    """Export ``module`` to a single ``.onnx`` file at ``path`` with ``metadata`` inside.

    Args:
        module: the model; put in eval mode for the export and restored afterwards.
        example_inputs: one batched tensor per ``metadata.inputs`` entry, ``(B, ...)``; values should be
            realistic (normalised like real data) since they are also the parity check's inputs.
        path: output file; parents are created, an existing file is replaced atomically.
        metadata: names of inputs / outputs, normalisation, classes and provenance. Shapes and dtypes are
            filled in from the example and the module's output.
        dynamic_batch: make axis 0 of every input and output dynamic.
        opset: ONNX opset (the legacy exporter uses at most 18).
        exporter: "dynamo", "legacy" or "auto" (dynamo, then legacy if dynamo fails).
        tolerance: largest allowed max-abs difference between ONNX Runtime and torch on the example inputs;
            ``None`` skips the check.

    Returns:
        An :class:`ExportReport`.

    Raises:
        ValueError: inconsistent inputs / metadata, an unknown exporter, or a parity failure.
        RuntimeError: when no exporter could export the module.
    """
    if exporter not in _EXPORTERS:
        raise ValueError(f"exporter must be one of {_EXPORTERS}, got {exporter!r}")
    inputs = _check_inputs(module, example_inputs, metadata)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    was_training = module.training
    module.eval()
    try:
        wrapped = _NamedOutputs(module, [s.name for s in metadata.outputs]).eval()
        trace_inputs = _batch_at_least_two(inputs) if dynamic_batch else inputs
        with torch.no_grad():
            reference = wrapped(*inputs)
        meta = _complete_metadata(metadata, inputs, reference, dynamic_batch)
        used, errors = "", []
        order = ["dynamo", "legacy"] if exporter == "auto" else [exporter]
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export.") as scratch:
            raw_path = Path(scratch) / "model.onnx"
            for name in order:
                try:
                    with _quiet_exporter(), torch.no_grad():
                        if name == "dynamo":
                            _export_dynamo(wrapped, trace_inputs, raw_path, meta, dynamic_batch, opset)
                        else:
                            _export_legacy(wrapped, trace_inputs, raw_path, meta, dynamic_batch, opset)
                    used = name
                    break
                except Exception as exc:  # exporter failures come in many types; try the next exporter
                    errors.append(f"{name}: {type(exc).__name__}: {str(exc)[-1500:]}")
            if not used:
                raise RuntimeError("could not export the module to ONNX:\n" + "\n".join(errors))
            _inline_into_single_file(raw_path, target)
        meta.extra = {**meta.extra, "exporter": used}
        write_metadata(target, meta)
    finally:
        module.train(was_training)
    diff = float("nan")
    if tolerance is not None:
        diff = max_abs_difference(target, inputs, reference)
        if not diff <= tolerance:
            raise ValueError(
                f"exported model differs from torch by {diff:.3g} (> tolerance {tolerance:g}) on the example "
                f"inputs; try exporter='legacy', or report the operator that differs"
            )
    return ExportReport(path=target, exporter=used, max_abs_diff=diff, metadata=meta)


def _inline_into_single_file(raw_path: Path, target: Path) -> None:
    import onnx

    # load_external_data pulls any .onnx.data tensors into the proto so the saved file stands alone.
    model = onnx.load(str(raw_path), load_external_data=True)
    onnx.checker.check_model(model)
    _save_single_file(model, target)


def max_abs_difference(
    path: str | os.PathLike[str], inputs: Sequence[torch.Tensor], reference: Sequence[torch.Tensor]
) -> float:
    """Largest absolute difference between ONNX Runtime (fp32, 1 thread) and torch float outputs."""
    from robossl.export.runtime import OnnxModel

    model = OnnxModel(path, threads=1)
    feeds = {name: x.detach().cpu().numpy() for name, x in zip(model.input_names, inputs)}
    outputs = model.run(feeds)
    worst = 0.0
    for name, ref in zip(model.output_names, reference):
        got = outputs[name]
        want = ref.detach().cpu().numpy()
        if got.shape != want.shape:
            raise ValueError(
                f"output {name!r} has shape {got.shape} in ONNX Runtime but {want.shape} in torch"
            )
        if want.size and want.dtype.kind == "f":  # integer outputs (argmax labels) may differ on exact ties
            worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))))
    return worst
