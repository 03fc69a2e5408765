"""Kind "pretrain.encoder": the online encoder of a ``robossl pretrain`` checkpoint, for features on the robot.

``robossl pretrain`` saves the method name, its config, the input description, the standardisation
statistics and the learner state; this kind rebuilds the method from the registry, loads the weights and
exports ``method.embed`` (the backbone the probes use). The standardisation is recorded as the input's
normalisation metadata, so the robot feeds ``(raw - mean) / std`` exactly as in training.
"""

from __future__ import annotations

from typing import Any

import torch

from robossl.export.kinds.registry import Deployable, ModelKind, register_kind
from robossl.export.metadata import ExportMetadata, Normalisation, TensorSpec

_KEYS = ("method", "method_config", "input_spec", "standardizer", "learner")

_LAYOUTS = {
    "image": "(B, C, H, W) image in [0, 1]",
    "imu": "(B, T, C) IMU window, time first, standardised per channel",
    "spectrogram": "(B, C, F, T) log spectrogram, standardised per channel",
    "features": "(B, F) feature vector, standardised per feature",
}


class _Embedder(torch.nn.Module):
    """``forward(x) = method.embed(x)``: the exported graph holds only the encoder's weights."""

    def __init__(self, method: torch.nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.method.embed(x)  # type: ignore[operator]


def _matches(state: dict[str, Any]) -> bool:
    return all(key in state for key in _KEYS) and isinstance(state.get("method"), str)


def _build(state: dict[str, Any], input_shape: tuple[int, ...] | None) -> Deployable:
    from robossl.methods import InputSpec, available_methods, build_method

    name = state["method"]
    if name not in available_methods():
        raise ValueError(
            f"checkpoint is a {name!r} run but this robossl has no such method; known: "
            f"{sorted(available_methods())}"
        )
    spec = InputSpec.from_dict(state["input_spec"])
    method = build_method(name, spec, **state["method_config"])
    method.load_state_dict(state["learner"]["method"])
    method.eval()
    shape = tuple(input_shape or spec.shape)
    if shape != tuple(spec.shape):
        raise ValueError(
            f"the encoder was pretrained on samples of shape {tuple(spec.shape)}; --input-shape {shape} "
            "differs (retrain on windows of that shape instead)"
        )
    module = _Embedder(method).eval()
    with torch.no_grad():
        width = int(module(torch.zeros(1, *shape)).shape[-1])
    standardizer = state["standardizer"]
    channel_axis = 1 if spec.modality == "image" else len(shape)  # the batched input's channel axis
    meta = ExportMetadata(
        model_kind="pretrain.encoder",
        inputs=[TensorSpec("input", description=_LAYOUTS.get(spec.modality, "(B, ...) sample"))],
        outputs=[TensorSpec("embedding", description=f"(B, {width}) features")],
        normalisation={
            "input": Normalisation(
                mean=tuple(standardizer["mean"]),
                std=tuple(standardizer["std"]),
                channel_axis=channel_axis,
                description="standardisation fitted on the pretraining data",
            )
        },
        description=f"robossl {name} encoder pretrained on {state.get('source', 'logged data')}",
        extra={
            "method": name,
            "modality": spec.modality,
            "pretrain_steps": str(len(state.get("losses", []))),
        },
    )
    return Deployable(module, (torch.rand(2, *shape),), meta)


register_kind(
    ModelKind(
        "pretrain.encoder",
        "encoder of a `robossl pretrain` checkpoint (any registered method) as a feature extractor",
        _matches,
        _build,
    )
)
