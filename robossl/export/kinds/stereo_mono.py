"""Kind "stereo_mono.depth": the monocular depth student of the stereo -> mono pipeline.

Reads checkpoints of :meth:`robossl.pipelines.stereo_mono.StereoMonoPipeline.save` (``{"learner": {"model":
...}, "student": {"input_height", "input_width", ...}, ...}``), of the background trainer (no ``student``
entry: the default input size, or ``--input-shape 1,H,W``) and bare learner states (``{"model": ...}``).
The width multiplier is read off the weights. Any further :class:`StudentConfig` fields stored under
``student`` (e.g. ``min_depth_m`` / ``max_depth_m``, which clamp the output) are honoured.

The ONNX model takes ``image`` (B, 1, H, W) grey in [0, 1] (raw uint8 * 1/255; the network centres it itself)
and returns ``depth`` (B, 1, H, W) in metres.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from robossl.export.kinds.registry import Deployable, ModelKind, find_state_dict, register_kind
from robossl.export.metadata import ExportMetadata, Normalisation, TensorSpec

_WEIGHT_KEYS = ("learner.model", "model", "student_model")


def _matches(state: dict[str, Any]) -> bool:
    try:
        weights = find_state_dict(state, *_WEIGHT_KEYS)
    except KeyError:
        return False
    return "stem.0.weight" in weights and "head.weight" in weights and "dec1.0.weight" in weights


def _student_config(
    state: dict[str, Any], weights: dict[str, torch.Tensor], shape: tuple[int, ...] | None
) -> Any:
    from robossl.pipelines.stereo_mono.student import StudentConfig

    known = {f.name for f in dataclasses.fields(StudentConfig)}
    stored = {k: v for k, v in dict(state.get("student", {})).items() if k in known}
    if shape is not None:
        if len(shape) != 3 or shape[0] != 1:
            raise ValueError(f"mono depth input shape must be 1,H,W (grey), got {','.join(map(str, shape))}")
        stored["input_height"], stored["input_width"] = shape[1], shape[2]
    # The width multiplier is not stored; the widest stage (512 * width, rounded to 8) determines it.
    stored["width"] = weights["enc5.0.3.weight"].shape[0] / 512.0
    return StudentConfig(**stored)


def _build(state: dict[str, Any], input_shape: tuple[int, ...] | None) -> Deployable:
    from robossl.pipelines.stereo_mono.student import MonoDepthNet

    weights = find_state_dict(state, *_WEIGHT_KEYS)
    config = _student_config(state, weights, input_shape)
    model = MonoDepthNet(config)
    model.load_state_dict(weights)
    model.eval()
    generator = torch.Generator().manual_seed(0)
    # A smooth random image (low-frequency texture, like a real frame) is a better parity probe than noise.
    coarse = torch.rand(2, 1, config.input_height // 16, config.input_width // 16, generator=generator)
    example = torch.nn.functional.interpolate(
        coarse, size=(config.input_height, config.input_width), mode="bilinear"
    )
    meta = ExportMetadata(
        model_kind="stereo_mono.depth",
        inputs=[TensorSpec("image", description="(B, 1, H, W) rectified grey left image in [0, 1]")],
        outputs=[TensorSpec("depth", description="(B, 1, H, W) depth in metres along the optical axis")],
        normalisation={"image": Normalisation(scale=1 / 255.0, description="uint8 grey -> [0, 1]")},
        description="stereo -> mono persistent SSL depth student (FastDepth-like)",
        extra={
            "width": f"{config.width:g}",
            "min_depth_m": f"{config.min_depth_m:g}",
            "max_depth_m": f"{config.max_depth_m:g}",
        },
    )
    return Deployable(model, (example,), meta)


register_kind(
    ModelKind(
        "stereo_mono.depth",
        "monocular depth student (stereo -> mono pipeline): grey image -> depth in metres",
        _matches,
        _build,
    )
)
