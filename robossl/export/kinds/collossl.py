"""Kind "collossl.har": the ColloSSL activity classifier (IMU encoder + MLP head) with its embedding.

Reads any checkpoint holding an :class:`robossl.pipelines.collossl.evaluation.ActivityClassifier` state dict
(``encoder.features.*`` + ``head.*``) under ``classifier``, ``model`` or ``state_dict``. The architecture
(channels, kernel sizes, padding, hidden width, class count) is read off the weights. Optional entries
used when present: ``class_names`` (list of str), ``window_length`` (samples; default 32 = 1 s at 32 Hz,
or ``--input-shape L,C``), ``device`` (the anchor device name) and ``normalizer`` (a
``DeviceNormalizer.state_dict()``: per-device channel ``mean`` / ``std``) which becomes the model's input
normalisation.

The ONNX model takes ``window`` (B, L, C) normalised IMU samples and returns ``logits`` (B, K) and
``embedding`` (B, F) (the encoder features, for on-robot SSL monitoring or a new head).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from robossl.export.kinds.registry import Deployable, ModelKind, find_state_dict, register_kind, strip_prefix
from robossl.export.metadata import ExportMetadata, Normalisation, TensorSpec

_WEIGHT_KEYS = ("classifier", "model", "state_dict", "learner.model")


class HarDeployable(nn.Module):
    """ActivityClassifier with both outputs: ``(B, L, C)`` -> (logits ``(B, K)``, embedding ``(B, F)``)."""

    def __init__(self, classifier: Any) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, window: torch.Tensor) -> dict[str, torch.Tensor]:
        embedding = self.classifier.encoder(window)
        return {"logits": self.classifier.head(embedding), "embedding": embedding}


def _matches(state: dict[str, Any]) -> bool:
    try:
        weights = find_state_dict(state, *_WEIGHT_KEYS)
    except KeyError:
        return False
    return any(k.startswith("encoder.features.") for k in weights) and "head.0.weight" in weights


def _encoder_from_weights(weights: dict[str, torch.Tensor]) -> Any:
    """An ImuConvEncoder shaped like the ``features.*`` weights (keys relative to the encoder)."""
    from robossl.backbones.imu import ImuConvEncoder

    convs = sorted(
        (int(k.split(".")[1]), v)
        for k, v in weights.items()
        if k.startswith("features.") and k.endswith(".weight") and v.ndim == 3
    )
    if not convs:
        raise KeyError("no 1-D convolution weights under encoder.features")
    # "same" padding puts a ConstantPad1d before each convolution, so the first conv sits at index 1.
    padding = "same" if convs[0][0] == 1 else "valid"
    return ImuConvEncoder(
        in_channels=int(convs[0][1].shape[1]),
        channels=tuple(int(w.shape[0]) for _, w in convs),  # type: ignore[arg-type]
        kernel_sizes=tuple(int(w.shape[2]) for _, w in convs),  # type: ignore[arg-type]
        padding=padding,
    )


def _normalisation(state: dict[str, Any], device: str, channels: int) -> Normalisation | None:
    """Per-channel statistics of ``device`` from a ``DeviceNormalizer.state_dict()`` ({"mean": {dev: [..]}, ...})."""
    stats = state.get("normalizer")
    if not isinstance(stats, dict) or not isinstance(stats.get("mean"), dict):
        return None
    means, stds = stats["mean"], stats.get("std", {})
    if device not in means:
        if len(means) != 1:
            return None
        device = next(iter(means))
    mean, std = list(means[device]), list(stds.get(device, []))
    if len(mean) != channels or len(std) != channels:
        return None
    return Normalisation(
        mean=tuple(mean),
        std=tuple(std),
        channel_axis=2,
        description=f"per-channel standardisation of device {device} (raw sensor units in)",
    )


def _window_length(input_shape: tuple[int, ...] | None, channels: int, default: int) -> int:
    if input_shape is None:
        return default
    if len(input_shape) != 2 or input_shape[1] != channels:
        raise ValueError(f"HAR input shape must be L,{channels}, got {','.join(map(str, input_shape))}")
    return int(input_shape[0])


def _build(state: dict[str, Any], input_shape: tuple[int, ...] | None) -> Deployable:
    from robossl.pipelines.collossl.evaluation import ActivityClassifier

    weights = find_state_dict(state, *_WEIGHT_KEYS)
    encoder = _encoder_from_weights(strip_prefix(weights, "encoder."))
    classifier = ActivityClassifier(
        encoder,
        num_classes=int(weights["head.3.weight"].shape[0]),
        hidden_dim=int(weights["head.0.weight"].shape[0]),
    )
    classifier.load_state_dict(weights)
    classifier.eval()
    if input_shape is not None:
        if len(input_shape) != 2 or input_shape[1] != encoder.in_channels:
            raise ValueError(
                f"HAR input shape must be L,{encoder.in_channels}, got {','.join(map(str, input_shape))}"
            )
        length = input_shape[0]
    else:
        length = int(state.get("window_length", 32))
    class_names = [str(c) for c in state.get("class_names", [])]
    device = str(state.get("device", ""))
    norm = _normalisation(state, device, encoder.in_channels)
    example = torch.randn(2, length, encoder.in_channels, generator=torch.Generator().manual_seed(0))
    meta = ExportMetadata(
        model_kind="collossl.har",
        inputs=[TensorSpec("window", description="(B, L, C) IMU window, time first, normalised")],
        outputs=[
            TensorSpec("logits", description="(B, K) activity class scores (argmax = class id)"),
            TensorSpec("embedding", description="(B, F) encoder features"),
        ],
        normalisation={"window": norm} if norm else {},
        class_names=class_names,
        description="ColloSSL HAR encoder + classifier",
        extra={"device": device} if device else {},
    )
    return Deployable(HarDeployable(classifier).eval(), (example,), meta)


register_kind(
    ModelKind(
        "collossl.har", "ColloSSL HAR classifier: IMU window -> activity logits + embedding", _matches, _build
    )
)


class OnlineHarDeployable(nn.Module):
    """The online learner's inference model: encoder (+ linear classifier) -> logits and embedding."""

    def __init__(self, encoder: Any, classifier: nn.Module | None) -> None:
        super().__init__()
        self.encoder = encoder
        self.classifier = classifier

    def forward(self, window: torch.Tensor) -> dict[str, torch.Tensor]:
        embedding = self.encoder(window)
        if self.classifier is None:
            return {"embedding": embedding}
        return {"logits": self.classifier(embedding), "embedding": embedding}


def _matches_online(state: dict[str, Any]) -> bool:
    config, weights = state.get("config"), state.get("model")
    return (
        isinstance(config, dict)
        and "anchor_device" in config
        and isinstance(weights, dict)
        and any(str(k).startswith("model.encoder.features.") for k in weights)
    )


def _online_normalisation(state: dict[str, Any], device: str, channels: int) -> Normalisation | None:
    """Running statistics ``[count, mean, m2]`` of the anchor device -> mean / std (population)."""
    stats = state.get("running_stats", {}).get(device)
    if not stats or float(stats[0]) <= 0:
        return None
    count, mean, m2 = float(stats[0]), torch.as_tensor(stats[1]).double(), torch.as_tensor(stats[2]).double()
    std = torch.sqrt(m2 / max(count, 1.0)).clamp_min(1e-6)
    if mean.numel() != channels:
        return None
    return Normalisation(
        mean=tuple(mean.tolist()),
        std=tuple(std.tolist()),
        channel_axis=2,
        description=f"online running standardisation of device {device} ({int(count)} samples)",
    )


def _build_online(state: dict[str, Any], input_shape: tuple[int, ...] | None) -> Deployable:
    config = state["config"]
    weights = strip_prefix(state["model"], "model.")
    encoder = _encoder_from_weights(strip_prefix(weights, "encoder."))
    classifier = None
    if "classifier.weight" in weights:
        out_features, in_features = weights["classifier.weight"].shape
        classifier = nn.Linear(int(in_features), int(out_features))
    module = OnlineHarDeployable(encoder, classifier)
    module.load_state_dict(weights)
    module.eval()
    rate, window_s = float(config.get("sample_rate_hz", 32.0)), float(config.get("window_s", 1.0))
    length = _window_length(input_shape, encoder.in_channels, max(1, int(round(window_s * rate))))
    device = str(config["anchor_device"])
    norm = _online_normalisation(state, device, encoder.in_channels)
    outputs = [TensorSpec("embedding", description="(B, F) encoder features")]
    if classifier is not None:
        outputs.insert(
            0, TensorSpec("logits", description="(B, K) activity class scores (argmax = class id)")
        )
    example = torch.randn(2, length, encoder.in_channels, generator=torch.Generator().manual_seed(0))
    meta = ExportMetadata(
        model_kind="collossl.online",
        inputs=[
            TensorSpec("window", description="(B, L, C) anchor-device IMU window, time first, normalised")
        ],
        outputs=outputs,
        normalisation={"window": norm} if norm else {},
        class_names=[str(c) for c in state.get("class_names", config.get("class_names", []))],
        description="online ColloSSL learner: HAR encoder (+ classifier)",
        extra={"device": device, "sample_rate_hz": f"{rate:g}"},
    )
    return Deployable(module, (example,), meta)


register_kind(
    ModelKind(
        "collossl.online",
        "online ColloSSL learner checkpoint: anchor IMU window -> logits + embedding",
        _matches_online,
        _build_online,
    )
)
