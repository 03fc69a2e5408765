"""Export metadata: JSON round trip, ONNX metadata_props layout, normalisation validation."""

from __future__ import annotations

import numpy as np
import pytest

from robossl.export.metadata import METADATA_KEY, ExportMetadata, Normalisation, TensorSpec, file_sha256
from robossl.export.runtime import apply_normalisation


def _meta() -> ExportMetadata:
    return ExportMetadata(
        model_kind="demo",
        inputs=[TensorSpec("image", (None, 3, 8, 8), "float32", "(B, 3, H, W) RGB")],
        outputs=[TensorSpec("logits", (None, 4))],
        normalisation={"image": Normalisation(scale=1 / 255, mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.25))},
        class_names=["grass", "gravel", "asphalt", "snow"],
        checkpoint_sha256="ab" * 32,
        extra={"epochs": "3"},
    )


def test_json_round_trip_keeps_every_field() -> None:
    meta = _meta()
    assert ExportMetadata.from_json(meta.to_json()) == meta


def test_props_hold_json_document_and_flat_keys() -> None:
    props = _meta().to_props()
    assert ExportMetadata.from_props(props) == _meta()
    assert props["robossl.model_kind"] == "demo"
    assert props["robossl.class_names"] == "grass,gravel,asphalt,snow"
    assert props["robossl.checkpoint_sha256"] == "ab" * 32
    assert ExportMetadata.from_props({"other": "x"}) is None
    with pytest.raises(ValueError, match="not a robossl metadata document"):
        ExportMetadata.from_props({METADATA_KEY: '{"inputs": []}'})


def test_normalisation_rejects_non_positive_std() -> None:
    with pytest.raises(ValueError, match="std must be > 0"):
        Normalisation(std=(1.0, 0.0))


def test_apply_normalisation_per_channel_matches_formula() -> None:
    norm = _meta().normalisation["image"]
    raw = np.random.default_rng(0).integers(0, 256, size=(2, 3, 4, 5), dtype=np.uint8)
    got = apply_normalisation(raw, norm)
    mean = np.array([0.5, 0.4, 0.3]).reshape(1, 3, 1, 1)
    std = np.array([0.2, 0.2, 0.25]).reshape(1, 3, 1, 1)
    want = (raw / 255.0 - mean) / std
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="3 per-channel values but input axis 1 has size 4"):
        apply_normalisation(np.zeros((1, 4, 2, 2)), norm)


def test_file_sha256_matches_hashlib(tmp_path) -> None:
    import hashlib

    path = tmp_path / "f.bin"
    path.write_bytes(b"robossl" * 1000)
    assert file_sha256(path) == hashlib.sha256(b"robossl" * 1000).hexdigest()
