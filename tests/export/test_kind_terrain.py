"""Kind "terrain.embedding": interaction-signal embedder checkpoint -> ONNX, parity <= 1e-4 (random + BorealTC)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robossl.export.kinds import detect_kind, load_deployable
from robossl.export.onnx_export import export_onnx
from robossl.export.runtime import OnnxModel
from robossl.online.checkpoint import save_checkpoint
from robossl.pipelines.terrain.embedding import EmbeddingConfig, TripletEmbeddingLearner

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    learner = TripletEmbeddingLearner(EmbeddingConfig(in_channels=10, widths=(8, 16, 24), embedding_dim=16))
    learner.model.set_normalization(torch.randn(30, 10, 17, 9) * 2 + 1)
    for m in learner.model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 1.5)
    state = learner.state_dict()
    state["input_shape"] = [10, 17, 9]
    state["spectrogram"] = {"sample_rate": 100.0, "n_fft": 32, "hop_length": 8}
    assert detect_kind(state) == "terrain.embedding"
    folder = tmp_path_factory.mktemp("terrain")
    ckpt = save_checkpoint(folder / "emb.pt", state)
    d = load_deployable(ckpt)
    report = export_onnx(d.module, d.example_inputs, folder / "emb.onnx", d.metadata)
    return learner.model.eval(), report


def _diff(model, path, x: np.ndarray) -> float:
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    got = OnnxModel(path)(x)
    assert got.shape == want.shape
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    return float(np.abs(got - want).max())


def test_metadata(exported) -> None:
    _, report = exported
    meta = OnnxModel(report.path).metadata
    assert meta.inputs[0].shape == (None, 10, 17, 9) and meta.outputs[0].shape == (None, 16)
    assert meta.extra["spectrogram.n_fft"] == "32"


def test_random_input_parity(exported) -> None:
    model, report = exported
    x = (np.random.default_rng(0).standard_normal((5, 10, 17, 9)) * 2 + 1).astype(np.float32)
    assert _diff(model, report.path, x) <= 1e-4


def test_real_borealtc_spectrogram_parity(exported, real_data) -> None:
    """BorealTC IMU + odometry windows of two runs -> the pipeline's vibration spectrogram."""
    from robossl.data.datasets.borealtc import load_run, make_windows
    from robossl.pipelines.terrain.features import vibration_spectrogram

    root = real_data("terrain/borealtc")
    runs = [load_run(root, "ASPHALT", "01"), load_run(root, "SNOW", "01")]
    windows = make_windows(runs)
    pick = np.linspace(0, len(windows) - 1, 12).astype(int)
    x = vibration_spectrogram(windows.imu[pick], windows.pro[pick]).numpy().astype(np.float32)
    model, report = exported
    assert _diff(model, report.path, x) <= 1e-4


@pytest.fixture(scope="module")
def segmentation(tmp_path_factory):
    """A terrain pipeline-style checkpoint holding both learners; the segmenter is exported."""
    from robossl.pipelines.terrain.segmentation import SegmentationConfig, SegmentationLearner

    torch.manual_seed(0)
    seg = SegmentationLearner(SegmentationConfig(num_classes=4, width=8), seed=0)
    for m in seg.model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 1.5)
    emb = TripletEmbeddingLearner(EmbeddingConfig(in_channels=1, widths=(8, 16), embedding_dim=8))
    state = {
        "embedder": emb.state_dict(),
        "segmenter": seg.state_dict(),
        "segmenter_classes": 4,
        "images": torch.zeros(2, 48, 64, 3, dtype=torch.uint8),
    }
    with pytest.raises(ValueError, match="several model kinds"):
        detect_kind(state)
    folder = tmp_path_factory.mktemp("seg")
    ckpt = save_checkpoint(folder / "terrain.pt", state)
    d = load_deployable(ckpt, "terrain.segmentation")
    report = export_onnx(d.module, d.example_inputs, folder / "seg.onnx", d.metadata)
    return (seg, d.module), report


def _check_segmentation(models, path, x: np.ndarray) -> None:
    """ONNX logits match the exported torch module; ONNX labels match SegmentationLearner.predict."""
    learner, module = models
    with torch.no_grad():
        logits = module(torch.from_numpy(x))["logits"].numpy()
    out = OnnxModel(path)(x)
    assert out["logits"].shape == (len(x), 4, 48, 64)
    assert np.abs(out["logits"] - logits).max() <= 1e-4
    assert out["labels"].dtype == np.int64 and out["labels"].shape == (len(x), 48, 64)
    # the pipeline's own inference path; exact ties may break differently
    assert np.mean(out["labels"] == learner.predict(torch.from_numpy(x))) >= 0.999


def test_segmentation_metadata_and_random_parity(segmentation) -> None:
    models, report = segmentation
    meta = OnnxModel(report.path).metadata
    assert meta.model_kind == "terrain.segmentation"
    assert meta.inputs[0].shape == (None, 3, 48, 64)  # image size from the pipeline's buffered images
    assert meta.class_names == ["terrain_0", "terrain_1", "terrain_2", "terrain_3"]
    _check_segmentation(
        models, report.path, np.random.default_rng(0).random((3, 3, 48, 64), dtype=np.float32)
    )


def test_segmentation_sim_rover_frames_parity(segmentation) -> None:
    """Frames rendered by the MuJoCo rover world (real renderer, generated terrain), resized to 64x48."""
    import os

    import cv2

    os.environ.setdefault("MUJOCO_GL", "egl")
    from robossl_sim.worlds.rover import RoverConfig, RoverWorld

    models, report = segmentation
    frames = []
    with RoverWorld(3, "train", RoverConfig()) as world:
        for _ in range(3):
            world.set_command(0.5, 0.3)
            world.step(0.5)
            frames.append(cv2.resize(world.render().rgb, (64, 48), interpolation=cv2.INTER_AREA))
    model = OnnxModel(report.path)
    x = model.prepare(np.stack(frames).transpose(0, 3, 1, 2))
    assert x.std() > 0.01  # real rendered content, not a blank frame
    _check_segmentation(models, report.path, x)
