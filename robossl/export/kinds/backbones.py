"""Kind "backbone": any of the method set's encoders (``robossl.backbones``) as a feature extractor.

Checkpoint layout (write it with :func:`backbone_checkpoint` + ``save_checkpoint``)::

    {"model_kind": "backbone",
     "backbone": {"class": "ImageCNN", "init": {...constructor kwargs...}, "input_shape": [3, 96, 96]},
     "model": encoder.state_dict()}
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from robossl.export.kinds.registry import Deployable, ModelKind, find_state_dict, register_kind
from robossl.export.metadata import ExportMetadata, TensorSpec

_LAYOUTS = {
    "ImageCNN": "(B, C, H, W) image in [0, 1]",
    "SpectrogramEncoder": "(B, C, F, T) log spectrogram",
    "ImuConvEncoder": "(B, T, C) IMU window, time first",
    "MLPEncoder": "(B, F) feature vector",
}


def _classes() -> dict[str, type[nn.Module]]:
    from robossl.backbones import ImageCNN, ImuConvEncoder, MLPEncoder, SpectrogramEncoder

    return {
        "ImageCNN": ImageCNN,
        "SpectrogramEncoder": SpectrogramEncoder,
        "ImuConvEncoder": ImuConvEncoder,
        "MLPEncoder": MLPEncoder,
    }


def _init_kwargs(encoder: nn.Module) -> dict[str, Any]:
    """Constructor arguments that rebuild ``encoder``'s architecture, read off its layers."""
    name = type(encoder).__name__
    if name in ("ImageCNN", "SpectrogramEncoder"):
        convs = [m for m in encoder.modules() if isinstance(m, nn.Conv2d)]
        return {"in_channels": convs[0].in_channels, "widths": [c.out_channels for c in convs]}
    if name == "ImuConvEncoder":
        convs1d = [m for m in encoder.modules() if isinstance(m, nn.Conv1d)]
        padded = any(isinstance(m, nn.ConstantPad1d) for m in encoder.modules())
        return {
            "in_channels": convs1d[0].in_channels,
            "channels": [c.out_channels for c in convs1d],
            "kernel_sizes": [int(c.kernel_size[0]) for c in convs1d],
            "padding": "same" if padded else "valid",
        }
    if name == "MLPEncoder":
        linears = [m for m in encoder.modules() if isinstance(m, nn.Linear)]
        return {"in_features": linears[0].in_features, "hidden_dims": [lin.out_features for lin in linears]}
    raise ValueError(f"{name} is not a robossl backbone; known: {sorted(_LAYOUTS)}")


def backbone_checkpoint(encoder: nn.Module, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """Checkpoint state for ``encoder`` (a ``robossl.backbones`` class) with its input shape (no batch).

    Example:
        >>> save_checkpoint("enc.pt", backbone_checkpoint(ImageCNN(), (3, 96, 96)))  # doctest: +SKIP
    """
    return {
        "model_kind": "backbone",
        "backbone": {
            "class": type(encoder).__name__,
            "init": _init_kwargs(encoder),
            "input_shape": [int(d) for d in input_shape],
        },
        "model": encoder.state_dict(),
    }


def _matches(state: dict[str, Any]) -> bool:
    spec = state.get("backbone")
    return isinstance(spec, dict) and spec.get("class") in _LAYOUTS


def _build(state: dict[str, Any], input_shape: tuple[int, ...] | None) -> Deployable:
    spec = state["backbone"]
    classes = _classes()
    if spec["class"] not in classes:
        raise ValueError(f"unknown backbone class {spec['class']!r}; known: {sorted(classes)}")
    init = {k: tuple(v) if isinstance(v, list) else v for k, v in dict(spec.get("init", {})).items()}
    encoder = classes[spec["class"]](**init)
    encoder.load_state_dict(find_state_dict(state, "model", "encoder", "backbone_state"))
    encoder.eval()
    shape = tuple(input_shape or spec["input_shape"])
    example = torch.rand(2, *shape)
    meta = ExportMetadata(
        model_kind="backbone",
        inputs=[TensorSpec("input", description=_LAYOUTS[spec["class"]])],
        outputs=[TensorSpec("embedding", description=f"(B, {encoder.out_dim}) features")],
        description=f"robossl {spec['class']} encoder",
        extra={"backbone": spec["class"]},
    )
    return Deployable(encoder, (example,), meta)


register_kind(ModelKind("backbone", "a robossl.backbones encoder as a feature extractor", _matches, _build))
