"""What an exported model says about itself: inputs, outputs, normalisation, classes, provenance.

The metadata travels inside the ``.onnx`` file (ONNX ``metadata_props``), so a robot given only the file
knows what to feed it. It is stored as one JSON document under the key :data:`METADATA_KEY`, plus a few flat
keys (``robossl.model_kind``, ``robossl.checkpoint_sha256``, ...) that generic ONNX tools display.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import robossl

METADATA_KEY = "robossl.metadata"
_FLAT_KEYS = ("model_kind", "checkpoint_sha256", "trained_at", "exported_at", "robossl_version")


@dataclass
class TensorSpec:
    """One model input or output.

    ``shape`` uses ``None`` for a dynamic axis (the batch axis when exported with a dynamic batch).
    """

    name: str  # ONNX tensor name, also the key of dict inputs / outputs
    shape: tuple[int | None, ...] = ()  # None = dynamic axis; filled in by export_onnx for outputs
    dtype: str = "float32"  # numpy dtype name
    description: str = ""  # layout and units, e.g. "(B, 3, H, W) RGB in [0, 1]" or "depth in metres"


@dataclass
class Normalisation:
    """How raw sensor data becomes the model input: ``((raw * scale) - mean) / std``.

    ``mean`` and ``std`` are per channel along ``channel_axis`` (an axis of the batched input) or one
    value for all. The default is the identity.
    """

    scale: float = 1.0  # multiply raw data first (e.g. 1/255 for uint8 images)
    mean: tuple[float, ...] = (0.0,)  # subtracted after scaling, per channel or one value
    std: tuple[float, ...] = (1.0,)  # divided after subtracting, per channel or one value
    channel_axis: int = 1  # axis of the batched input that mean / std index
    description: str = ""  # free text, e.g. "grey image, uint8 -> [0, 1]"

    def __post_init__(self) -> None:
        self.mean = tuple(float(v) for v in self.mean)
        self.std = tuple(float(v) for v in self.std)
        if not self.mean or not self.std:
            raise ValueError("Normalisation needs at least one mean and one std value")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"Normalisation std must be > 0, got {self.std}")
        if self.scale == 0:
            raise ValueError("Normalisation scale must be non-zero")


@dataclass
class ExportMetadata:
    """Everything stored next to the graph. Build one per export; :func:`export_onnx` completes it."""

    model_kind: str  # registry name, e.g. "stereo_mono.depth_student"
    inputs: list[TensorSpec]  # in the order the module's forward takes them
    outputs: list[TensorSpec]  # in the order (or dict key order) the module returns them
    normalisation: dict[str, Normalisation] = field(default_factory=dict)  # by input name
    class_names: list[str] = field(default_factory=list)  # for classifiers / segmenters, index = class id
    checkpoint_sha256: str = ""  # hash of the checkpoint file the weights came from ("" = none)
    trained_at: str = ""  # ISO date of training (from the checkpoint, else its file time)
    exported_at: str = ""  # ISO date of export; filled in by export_onnx
    robossl_version: str = robossl.__version__  # version that exported the model
    description: str = ""  # one line about the model
    extra: dict[str, str] = field(default_factory=dict)  # anything else (config values, quantisation)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ExportMetadata:
        """Parse :meth:`to_json` output.

        Raises:
            ValueError: when ``text`` is not a robossl metadata document.
        """
        try:
            raw = json.loads(text)
            return cls(
                model_kind=raw["model_kind"],
                inputs=[_spec(s) for s in raw["inputs"]],
                outputs=[_spec(s) for s in raw["outputs"]],
                normalisation={k: Normalisation(**v) for k, v in raw.get("normalisation", {}).items()},
                class_names=list(raw.get("class_names", [])),
                checkpoint_sha256=raw.get("checkpoint_sha256", ""),
                trained_at=raw.get("trained_at", ""),
                exported_at=raw.get("exported_at", ""),
                robossl_version=raw.get("robossl_version", ""),
                description=raw.get("description", ""),
                extra={str(k): str(v) for k, v in raw.get("extra", {}).items()},
            )
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a robossl metadata document ({type(exc).__name__}: {exc})") from exc

    def to_props(self) -> dict[str, str]:
        """The ONNX ``metadata_props`` entries: the JSON document plus flat keys for generic tools."""
        props = {METADATA_KEY: self.to_json()}
        for key in _FLAT_KEYS:
            props[f"robossl.{key}"] = str(getattr(self, key))
        if self.class_names:
            props["robossl.class_names"] = ",".join(self.class_names)
        return props

    @classmethod
    def from_props(cls, props: dict[str, str]) -> ExportMetadata | None:
        """Read the metadata back from ``metadata_props``; ``None`` for models not exported by robossl."""
        text = props.get(METADATA_KEY)
        return None if text is None else cls.from_json(text)


def _spec(raw: dict[str, Any]) -> TensorSpec:
    return TensorSpec(
        name=raw["name"],
        shape=tuple(raw.get("shape", ())),
        dtype=raw.get("dtype", "float32"),
        description=raw.get("description", ""),
    )


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file (the checkpoint hash recorded as provenance)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_time_iso(path: str | os.PathLike[str]) -> str:
    """Modification time of ``path`` as an ISO-8601 UTC string (training date when none is recorded)."""
    stamp = Path(path).stat().st_mtime
    return _dt.datetime.fromtimestamp(stamp, _dt.timezone.utc).isoformat(timespec="seconds")


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
