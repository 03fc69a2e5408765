"""Kinds of the acoustic -> visual terrain pipeline.

Both read the terrain pipeline's checkpoint (``TerrainPipeline.state_dict()``: ``embedder`` and ``segmenter``
learner states; choose one with ``--model-kind``) as well as the learners' own state dicts.

- "terrain.segmentation": the weakly supervised segmentation network
  (:class:`robossl.pipelines.terrain.segmentation.TerrainSegNet`); class count and width are read off the
  weights, the image size comes from ``input_shape`` / the pipeline's buffered ``images`` / ``--input-shape
  3,H,W`` (default 3,96,128). Like ``SegmentationLearner.predict``, the graph area-resizes the image by
  ``input_scale`` (stored ``input_scale``, else SegmentationConfig's default) and resizes the logits back. The ONNX model takes ``image`` (B, 3, H, W) RGB in [0, 1] (raw uint8 * 1/255)
  and returns ``logits`` (B, K, H, W) and ``labels`` (B, H, W) int64 (argmax: the terrain id per pixel).
- "terrain.embedding": the interaction-signal embedder
  (:class:`robossl.pipelines.terrain.embedding.TerrainEmbedder`: standardise -> SpectrogramEncoder ->
  ProjectionHead -> L2 normalise). Reads ``TripletEmbeddingLearner.state_dict()`` (``{"model": ...}``) or
  any checkpoint holding the embedder's state dict under ``embedder`` / ``model`` / ``learner.model``.
  Widths, head sizes and the standardisation buffers are read off the weights; the frame count comes from
  ``input_shape`` ([C, F, T]) / ``frames`` in the checkpoint, else ``--input-shape C,F,T``, else 64.
  Optional ``spectrogram`` (a SpectrogramConfig as dict) is copied into the metadata so the robot computes
  the same features. The ONNX model takes ``spectrogram`` (B, C, F, T) log spectrograms (the
  standardisation is inside the graph) and returns ``embedding`` (B, D) unit vectors.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from robossl.export.kinds.registry import Deployable, ModelKind, find_state_dict, register_kind
from robossl.export.metadata import ExportMetadata, Normalisation, TensorSpec

_EMBEDDER_KEYS = ("embedder.model", "embedder", "model", "learner.model")
_SEGMENTER_KEYS = ("segmenter.model", "segmenter", "model", "learner.model")


def _is_embedder(weights: dict[str, torch.Tensor]) -> bool:
    return "mean" in weights and "std" in weights and any(k.startswith("encoder.features.") for k in weights)


def _matches_embedding(state: dict[str, Any]) -> bool:
    try:
        return _is_embedder(find_state_dict(state, *_EMBEDDER_KEYS))
    except KeyError:
        return False


def _embedder_config(weights: dict[str, torch.Tensor]) -> Any:
    from robossl.pipelines.terrain.embedding import EmbeddingConfig

    convs = sorted(
        (int(k.split(".")[2]), v)
        for k, v in weights.items()
        if k.startswith("encoder.features.") and k.endswith(".weight") and v.ndim == 4
    )
    linears = sorted(
        (int(k.split(".")[2]), v)
        for k, v in weights.items()
        if k.startswith("head.layers.") and k.endswith(".weight") and v.ndim == 2
    )
    if not convs or len(linears) < 2:
        raise KeyError("embedder weights need encoder.features convolutions and a two-layer head.layers")
    return EmbeddingConfig(
        in_channels=int(convs[0][1].shape[1]),
        widths=tuple(int(w.shape[0]) for _, w in convs),
        hidden_dim=int(linears[0][1].shape[0]),
        embedding_dim=int(linears[-1][1].shape[0]),
    )


def _input_shape(
    state: dict[str, Any], weights: dict[str, torch.Tensor], override: tuple[int, ...] | None
) -> tuple[int, ...]:
    channels = int(weights["mean"].shape[1])
    if override is not None:
        shape = tuple(override)
    elif "input_shape" in state:
        shape = tuple(int(v) for v in state["input_shape"])
    elif isinstance(state.get("clip_spectrograms"), torch.Tensor) and state["clip_spectrograms"].ndim == 4:
        shape = tuple(int(v) for v in state["clip_spectrograms"].shape[1:])  # the pipeline's buffered clips
    else:
        # Standardisation buffers are (1, C, F, 1) once fitted: they give the frequency bins.
        bins = int(weights["mean"].shape[2]) if weights["mean"].shape[2] > 1 else 64
        shape = (channels, bins, int(state.get("frames", 64)))
    if len(shape) != 3 or shape[0] != channels:
        raise ValueError(
            f"terrain embedding input shape must be {channels},F,T, got {','.join(map(str, shape))}"
        )
    return shape


def _build_embedding(state: dict[str, Any], input_shape: tuple[int, ...] | None) -> Deployable:
    from robossl.pipelines.terrain.embedding import TerrainEmbedder

    weights = find_state_dict(state, *_EMBEDDER_KEYS)
    config = _embedder_config(weights)
    model = TerrainEmbedder(config)
    # The standardisation buffers change shape when fitted ((1, C, 1, 1) -> (1, C, F, 1)).
    model.mean = torch.zeros_like(weights["mean"])
    model.std = torch.ones_like(weights["std"])
    model.load_state_dict(weights)
    model.eval()
    shape = _input_shape(state, weights, input_shape)
    example = model.mean + model.std * torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
    extra = {"embedding_dim": str(config.embedding_dim)}
    if isinstance(state.get("spectrogram"), dict):
        extra.update({f"spectrogram.{k}": str(v) for k, v in state["spectrogram"].items()})
    meta = ExportMetadata(
        model_kind="terrain.embedding",
        inputs=[TensorSpec("spectrogram", description="(B, C, F, T) log spectrogram (standardised inside)")],
        outputs=[TensorSpec("embedding", description=f"(B, {config.embedding_dim}) unit-length embedding")],
        class_names=[str(c) for c in state.get("cluster_names", [])],
        description="terrain interaction-signal embedding (triplet loss)",
        extra=extra,
    )
    return Deployable(model, (example.float(),), meta)


register_kind(
    ModelKind(
        "terrain.embedding",
        "terrain interaction-signal (audio / vibration) embedding: spectrogram -> unit vector",
        _matches_embedding,
        _build_embedding,
    )
)


class SegmentationDeployable(nn.Module):
    """What ``SegmentationLearner.predict`` computes, with the label image as a second output.

    Images are area-resized by ``input_scale`` before the network (as in training) and the logits are
    resized back (bilinear) to the input size.
    """

    def __init__(self, network: nn.Module, input_scale: float, image_size: tuple[int, int]) -> None:
        super().__init__()
        self.network = network
        height, width = image_size
        self.image_size = (height, width)
        self.network_size = (max(8, round(height * input_scale)), max(8, round(width * input_scale)))

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = image
        if self.network_size != self.image_size:
            x = F.interpolate(image, size=self.network_size, mode="area")
        logits = self.network(x)
        if self.network_size != self.image_size:
            logits = F.interpolate(logits, size=self.image_size, mode="bilinear", align_corners=False)
        return {"logits": logits, "labels": logits.argmax(dim=1)}


def _input_scale(state: dict[str, Any]) -> float:
    """Stored ``input_scale`` (checkpoint or its ``segmenter`` entry), else SegmentationConfig's default."""
    from robossl.pipelines.terrain.segmentation import SegmentationConfig

    nested = state.get("segmenter")
    holders: list[dict[str, Any]] = [state, nested] if isinstance(nested, dict) else [state]
    for holder in holders:
        for key in ("segmentation_input_scale", "input_scale"):
            if key in holder:
                return float(holder[key])
    return float(getattr(SegmentationConfig(), "input_scale", 1.0))


def _matches_segmentation(state: dict[str, Any]) -> bool:
    try:
        weights = find_state_dict(state, *_SEGMENTER_KEYS)
    except KeyError:
        return False
    return "enc1.0.weight" in weights and "dec1.0.weight" in weights and "classifier.weight" in weights


def _image_shape(state: dict[str, Any], override: tuple[int, ...] | None) -> tuple[int, int, int]:
    if override is not None:
        shape = tuple(override)
    elif "input_shape" in state:
        shape = tuple(int(v) for v in state["input_shape"])
    elif isinstance(state.get("images"), torch.Tensor) and state["images"].ndim == 4:
        height, width = (int(v) for v in state["images"].shape[1:3])  # buffered (N, H, W, 3) camera images
        shape = (3, height, width)
    else:
        shape = (3, 96, 128)
    if len(shape) != 3 or shape[0] != 3:
        raise ValueError(
            f"terrain segmentation input shape must be 3,H,W (RGB), got {','.join(map(str, shape))}"
        )
    return (3, int(shape[1]), int(shape[2]))


def _build_segmentation(state: dict[str, Any], input_shape: tuple[int, ...] | None) -> Deployable:
    from robossl.pipelines.terrain.segmentation import TerrainSegNet

    weights = find_state_dict(state, *_SEGMENTER_KEYS)
    num_classes, width = int(weights["classifier.weight"].shape[0]), int(weights["enc1.0.weight"].shape[0])
    network = TerrainSegNet(num_classes, width)
    network.load_state_dict(weights)
    network.eval()
    shape = _image_shape(state, input_shape)
    scale = _input_scale(state)
    if not 0 < scale <= 1:
        raise ValueError(f"segmentation input_scale must be in (0, 1], got {scale}")
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(2, 3, max(1, shape[1] // 8), max(1, shape[2] // 8), generator=generator)
    example = F.interpolate(coarse, size=shape[1:], mode="bilinear", align_corners=False)
    names = [str(c) for c in state.get("class_names", [])] or [f"terrain_{k}" for k in range(num_classes)]
    meta = ExportMetadata(
        model_kind="terrain.segmentation",
        inputs=[TensorSpec("image", description="(B, 3, H, W) RGB camera image in [0, 1]")],
        outputs=[
            TensorSpec("logits", description="(B, K, H, W) per-pixel terrain class scores"),
            TensorSpec("labels", description="(B, H, W) int64 terrain id per pixel (argmax of logits)"),
        ],
        normalisation={
            "image": Normalisation(scale=1 / 255.0, description="uint8 RGB -> [0, 1], (B, 3, H, W)")
        },
        class_names=names,
        description="weakly supervised terrain segmentation (labels from acoustic terrain clusters)",
        extra={"width": str(width), "input_scale": f"{scale:g}"},
    )
    module = SegmentationDeployable(network, scale, (shape[1], shape[2])).eval()
    return Deployable(module, (example,), meta)


register_kind(
    ModelKind(
        "terrain.segmentation",
        "terrain segmentation network: RGB image -> per-pixel terrain logits + label image",
        _matches_segmentation,
        _build_segmentation,
    )
)
