"""Kind "collossl.har": activity classifier checkpoint -> ONNX (logits + embedding), parity <= 1e-4."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robossl.backbones.imu import ImuConvEncoder
from robossl.export.kinds import detect_kind, load_deployable
from robossl.export.onnx_export import export_onnx
from robossl.export.runtime import OnnxModel
from robossl.online.checkpoint import save_checkpoint
from robossl.pipelines.collossl.evaluation import ActivityClassifier

torch.set_num_threads(1)
CLASSES = ["NULL", "open window", "drink", "water plant", "close window", "cut"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    classifier = ActivityClassifier(ImuConvEncoder(5, (16, 24, 32), (12, 8, 4)), len(CLASSES), 32).eval()
    state = {
        "classifier": classifier.state_dict(),
        "class_names": CLASSES,
        "device": "right_hand",
        "normalizer": {
            "mean": {"right_hand": [0.1, 0.2, 0.3, 0.4, 0.5]},
            "std": {"right_hand": [1, 2, 3, 4, 5]},
        },
        "window_length": 32,
    }
    assert detect_kind(state) == "collossl.har"
    folder = tmp_path_factory.mktemp("har")
    ckpt = save_checkpoint(folder / "har.pt", state)
    d = load_deployable(ckpt)
    report = export_onnx(d.module, d.example_inputs, folder / "har.onnx", d.metadata)
    return classifier, report


def _check(classifier, path, x: np.ndarray) -> None:
    out = OnnxModel(path)(x)
    with torch.no_grad():
        t = torch.from_numpy(x)
        logits, embedding = classifier(t).numpy(), classifier.embed(t).numpy()
    assert np.abs(out["logits"] - logits).max() <= 1e-4
    assert np.abs(out["embedding"] - embedding).max() <= 1e-4


def test_metadata_has_classes_normalisation_and_both_outputs(exported) -> None:
    _, report = exported
    meta = OnnxModel(report.path).metadata
    assert meta.class_names == CLASSES
    assert [o.name for o in meta.outputs] == ["logits", "embedding"]
    assert meta.outputs[0].shape == (None, len(CLASSES)) and meta.outputs[1].shape == (None, 32)
    norm = meta.normalisation["window"]
    assert norm.channel_axis == 2 and norm.std == (1, 2, 3, 4, 5)
    assert meta.extra["device"] == "right_hand"


def test_random_input_parity(exported) -> None:
    classifier, report = exported
    _check(classifier, report.path, np.random.default_rng(0).standard_normal((7, 32, 5)).astype(np.float32))


def test_real_actrectut_windows_parity(exported, real_data) -> None:
    """Right-hand IMU of ActRecTut gesture subject 2, normalised with the stored statistics."""
    from robossl.data.datasets.actrectut import load_actrectut

    real_data("har/actrectut")
    classifier, report = exported
    signal = load_actrectut(subject=2, task="gesture").devices["right_hand"]
    raw = np.stack([signal[i : i + 32] for i in range(0, 32 * 50, 16)])
    x = OnnxModel(report.path).prepare(raw)
    np.testing.assert_allclose(x[0, 0], (raw[0, 0] - [0.1, 0.2, 0.3, 0.4, 0.5]) / [1, 2, 3, 4, 5], rtol=1e-5)
    _check(classifier, report.path, x)


def test_window_length_override_checks_channels(tmp_path) -> None:
    classifier = ActivityClassifier(ImuConvEncoder(6), 4)
    ckpt = save_checkpoint(tmp_path / "c.pt", {"model": classifier.state_dict()})
    assert tuple(load_deployable(ckpt, input_shape=(64, 6)).example_inputs[0].shape) == (2, 64, 6)
    with pytest.raises(ValueError, match="must be L,6"):
        load_deployable(ckpt, input_shape=(64, 5))


def test_online_learner_checkpoint_matches_learner_predict(tmp_path) -> None:
    """The online ColloSSL learner's checkpoint exports to a model whose prepare() + run reproduce
    learner.predict (running normalisation included) on real-looking streams."""
    from robossl.pipelines.collossl.online import ColloSSLOnlineLearner, OnlineLearnerConfig

    config = OnlineLearnerConfig(
        device_names=("hip", "wrist", "ankle"), anchor_device="wrist", channels=6, num_classes=4
    )
    learner = ColloSSLOnlineLearner(config)
    rng = np.random.default_rng(0)
    stamps = np.arange(0, 20, 1 / 32)
    for name in config.device_names:
        learner.add_samples(name, stamps, (rng.standard_normal((len(stamps), 6)) * 3 + 1).astype(np.float32))
    state = learner.state_dict()
    assert detect_kind(state) == "collossl.online"
    d = load_deployable(save_checkpoint(tmp_path / "online.pt", state))
    report = export_onnx(d.module, d.example_inputs, tmp_path / "online.onnx", d.metadata)
    model = OnnxModel(report.path)
    assert model.metadata.inputs[0].shape == (None, 32, 6)
    for window in rng.standard_normal((5, 32, 6)).astype(np.float32) * 3 + 1:
        class_id, embedding = learner.predict(window)
        out = model(model.prepare(window[None]))
        assert int(out["logits"].argmax()) == class_id
        assert np.abs(out["embedding"][0] - embedding).max() <= 1e-4
