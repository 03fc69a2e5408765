"""ONNX Runtime inference for exported models: what robot nodes call when given a ``.onnx`` file.

>>> model = OnnxModel("depth.onnx", threads=1)          # doctest: +SKIP
>>> depth = model(image_batch)                          # (B, 1, H, W) float32 -> ndarray   # doctest: +SKIP
>>> model.metadata.class_names                          # doctest: +SKIP

Inputs are validated before they reach ONNX Runtime, so a node gets a ``ValueError`` that names the input,
the expected shape / dtype and how to fix it, instead of an ONNX Runtime traceback. Only the CPU execution
provider is used; ``threads`` bounds ONNX Runtime's intra-op pool so inference shares the CPU predictably
with the learner.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robossl.export.metadata import ExportMetadata, Normalisation

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}


@dataclass(frozen=True)
class InputSignature:
    """What ONNX Runtime will accept for one input."""

    name: str  # tensor name
    shape: tuple[int | None, ...]  # None = dynamic axis
    dtype: str  # numpy dtype name


class OnnxModel:
    """An exported model on ONNX Runtime's CPU provider.

    Args:
        path: the ``.onnx`` file (robossl export, or any ONNX model: then ``metadata`` is ``None``).
        threads: intra-op threads (>= 1). Inter-op parallelism is off; the graph runs sequentially.
        check_finite: reject inputs containing NaN or Inf (one ``np.isfinite`` pass over the input).

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: when ``threads`` < 1 or the file is not a loadable ONNX model.
    """

    def __init__(self, path: str | os.PathLike[str], threads: int = 1, *, check_finite: bool = True) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(
                f"ONNX model {self.path} does not exist; export one with `robossl export`"
            )
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own exception types for corrupt / unsupported files
            raise ValueError(
                f"{self.path} is not a loadable ONNX model ({type(exc).__name__}: {str(exc)[:300]}); "
                "re-export it with `robossl export`"
            ) from exc
        self.threads = threads
        self.check_finite = check_finite
        self.inputs = [
            InputSignature(
                i.name, tuple(d if isinstance(d, int) else None for d in i.shape), _dtype_name(i.type)
            )
            for i in self._session.get_inputs()
        ]
        self.output_names = [o.name for o in self._session.get_outputs()]
        props = dict(self._session.get_modelmeta().custom_metadata_map)
        self.metadata: ExportMetadata | None = ExportMetadata.from_props(props)

    @property
    def input_names(self) -> list[str]:
        return [s.name for s in self.inputs]

    def __call__(self, x: np.ndarray) -> np.ndarray | dict[str, np.ndarray]:
        """Run a single-input model on a batch ``x`` (shape per ``self.inputs[0]``).

        Returns:
            The output array for single-output models, else a dict output name -> array.

        Raises:
            ValueError: for multi-input models (use :meth:`run`) and for invalid input.
        """
        if len(self.inputs) != 1:
            raise ValueError(
                f"{self.path.name} has {len(self.inputs)} inputs {self.input_names}; call model.run({{name: array}})"
            )
        outputs = self.run({self.inputs[0].name: x})
        return outputs[self.output_names[0]] if len(outputs) == 1 else outputs

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on named inputs; returns every output by name."""
        unknown = sorted(set(feeds) - set(self.input_names))
        missing = [n for n in self.input_names if n not in feeds]
        if unknown or missing:
            raise ValueError(f"model inputs are {self.input_names}; missing {missing}, unknown {unknown}")
        checked = {s.name: self._validate(s, feeds[s.name]) for s in self.inputs}
        results = self._session.run(self.output_names, checked)
        return {name: np.asarray(value) for name, value in zip(self.output_names, results)}

    def prepare(self, raw: np.ndarray, input_name: str | None = None) -> np.ndarray:
        """Apply the stored :class:`Normalisation` to raw data (e.g. uint8 frames) -> float32 model input.

        ``raw`` must already be batched and laid out like the input (e.g. ``(B, C, H, W)``). Identity when
        the model carries no normalisation for that input.
        """
        name = input_name or self.inputs[0].name
        norm = self.metadata.normalisation.get(name) if self.metadata else None
        return apply_normalisation(raw, norm)

    def _validate(self, spec: InputSignature, x: Any) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise ValueError(
                f"input {spec.name!r} must be a numpy array, got {type(x).__name__}; "
                "convert torch tensors with .detach().cpu().numpy()"
            )
        if x.dtype != np.dtype(spec.dtype):
            raise ValueError(
                f"input {spec.name!r} has dtype {x.dtype}, the model expects {spec.dtype}; "
                f"convert with x.astype(np.{spec.dtype}) (after normalising: see model.prepare)"
            )
        expected = _shape_text(spec.shape)
        if x.ndim != len(spec.shape):
            raise ValueError(
                f"input {spec.name!r} has shape {tuple(x.shape)} ({x.ndim}-D), the model expects {expected}; "
                + ("add the batch axis with x[None]" if x.ndim == len(spec.shape) - 1 else "reshape it")
            )
        wrong = [
            i for i, (got, want) in enumerate(zip(x.shape, spec.shape)) if want is not None and got != want
        ]
        if wrong:
            raise ValueError(
                f"input {spec.name!r} has shape {tuple(x.shape)}, the model expects {expected} "
                f"(axis {wrong[0]} differs); resize / reorder the data or re-export for this shape"
            )
        if any(d == 0 for d in x.shape):
            raise ValueError(f"input {spec.name!r} is empty (shape {tuple(x.shape)})")
        if self.check_finite and x.dtype.kind == "f":
            bad = int(x.size - np.count_nonzero(np.isfinite(x)))
            if bad:
                raise ValueError(
                    f"input {spec.name!r} contains {bad} NaN/Inf value(s) of {x.size}; drop or repair the frame"
                )
        return np.ascontiguousarray(x)


def apply_normalisation(raw: np.ndarray, norm: Normalisation | None) -> np.ndarray:
    """``((raw * scale) - mean) / std`` as float32, broadcasting mean / std along ``channel_axis``."""
    x = np.asarray(raw, dtype=np.float32)
    if norm is None:
        return x
    x = x * np.float32(norm.scale)
    shape = [1] * x.ndim
    axis = norm.channel_axis % max(x.ndim, 1)
    for values in (norm.mean, norm.std):
        if len(values) > 1 and (x.ndim == 0 or x.shape[axis] != len(values)):
            raise ValueError(
                f"normalisation has {len(values)} per-channel values but input axis {axis} has size "
                f"{x.shape[axis] if x.ndim else 0} (shape {x.shape}); lay the input out as the model expects"
            )
    mean = np.asarray(norm.mean, dtype=np.float32)
    std = np.asarray(norm.std, dtype=np.float32)
    if mean.size > 1:
        shape[axis] = mean.size
        mean = mean.reshape(shape)
    if std.size > 1:
        shape = [1] * x.ndim
        shape[axis] = std.size
        std = std.reshape(shape)
    return ((x - mean) / std).astype(np.float32, copy=False)


def _dtype_name(ort_type: str) -> str:
    if ort_type not in _ORT_TYPES:
        raise ValueError(f"unsupported ONNX input type {ort_type}")
    return _ORT_TYPES[ort_type]


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return (
        "("
        + ", ".join(
            "B" if i == 0 and d is None else ("?" if d is None else str(d)) for i, d in enumerate(shape)
        )
        + ")"
    )
