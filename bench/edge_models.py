"""The deployable models of bench/edge.py: each trained briefly through its pipeline's public API.

A :class:`Case` holds a model's robossl checkpoint, batch-1 calibration inputs, held-out inputs and metric;
``CASES`` maps the ``--models`` names to their builder and default training steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from robossl.online.checkpoint import save_checkpoint

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass
class Case:
    """One deployable model with its data and metric."""

    name: str  # result key
    checkpoint: Path  # robossl checkpoint the deployment path starts from
    calibration: list[np.ndarray]  # batch-1 normalised inputs from the calibration split
    eval_inputs: np.ndarray  # (N, ...) normalised held-out inputs
    metric: Callable[[Predict], float]  # metric of a predictor (batch -> first output)
    metric_name: str  # e.g. "AbsRel vs stereo (lower is better)"
    higher_is_better: bool
    notes: list[str] = field(default_factory=list)  # data, budget, caveats


# -- models ---------------------------------------------------------------------------------------------


def mono_depth_case(folder: Path, steps: int) -> Case:
    """Stereo -> mono student trained on EuRoC frames 0-69 with the SGBM teacher; evaluated on 70-94."""
    import cv2

    from robossl.data.datasets.euroc import EurocSequence
    from robossl.data.locate import require_data
    from robossl.pipelines.stereo_mono import StereoCalibration, StereoMonoConfig, StereoMonoPipeline, absrel
    from robossl.pipelines.stereo_mono.learner import make_sample

    seq = EurocSequence(require_data("stereo/euroc_v1_01_easy_micro"))
    config = StereoMonoConfig.from_dict({"rectified_width": 320, "trainer": {"batch_size": 8}})
    pipeline = StereoMonoPipeline(config, StereoCalibration.from_euroc(seq.left_sensor, seq.right_sensor))
    split = 70
    for index in range(split):
        frame = seq[index]
        pipeline.process(frame.left, frame.right, frame.stamp_ns * 1e-9)
    pipeline.train_steps(steps)
    ckpt = folder / "mono_depth.pt"
    pipeline.save(ckpt, include_replay=False)

    size = pipeline.student_size
    calibration: list[np.ndarray] = []  # training-split frames: the "logged data" static int8 calibrates on
    images, depths, masks = [], [], []
    for index in range(len(seq)):
        frame = seq[index]
        left, right = pipeline.rectifier.rectify(frame.left, frame.right)
        if index < split:
            if index % 3 == 0:
                small = cv2.resize(left, (size[1], size[0]), interpolation=cv2.INTER_AREA)
                calibration.append((small[None, None] / 255.0).astype(np.float32))
            continue
        stereo = pipeline.teacher(left, right)
        confidence = np.where(stereo.confidence >= config.confidence_threshold, stereo.confidence, 0.0)
        sample = make_sample(left, stereo.depth, confidence.astype(np.float32), size)
        images.append(sample["image"])
        depths.append(sample["depth"].astype(np.float32))
        masks.append(sample["confidence"].astype(np.float32) > 0)
    eval_inputs = (np.stack(images)[:, None] / 255.0).astype(np.float32)
    depth_gt, mask_gt = np.stack(depths), np.stack(masks)

    def metric(predict: Predict) -> float:
        pred = np.concatenate([predict(eval_inputs[i : i + 8]) for i in range(0, len(eval_inputs), 8)])[:, 0]
        return float(np.nanmean([absrel(p, d, m) for p, d, m in zip(pred, depth_gt, mask_gt)]))

    return Case(
        "mono_depth",
        ckpt,
        calibration,
        eval_inputs,
        metric,
        "AbsRel vs confident SGBM stereo depth on held-out EuRoC frames 70-94 (lower is better)",
        higher_is_better=False,
        notes=[
            f"EuRoC V1_01 micro: {split} frames for training / calibration, {len(eval_inputs)} held out "
            "(the last 1.25 s of the same 4.75 s flight: views close to the training frames, so the AbsRel "
            "is optimistic as a generalisation figure; it serves to compare fp32 and int8)",
            f"StereoMonoPipeline defaults (student {size[1]}x{size[0]}, width 1.0), {steps} synchronous steps",
        ],
    )


def har_case(folder: Path, steps: int) -> Case:
    """ActRecTut gesture, right-hand IMU: classifier trained on subject 1, macro-F1 on subject 2."""
    from robossl.backbones.imu import ImuConvEncoder
    from robossl.data.datasets.actrectut import load_actrectut
    from robossl.pipelines.collossl.evaluation import ClassifierConfig, macro_f1, predict, train_classifier
    from robossl.pipelines.collossl.windows import DeviceNormalizer, WindowConfig, window_recording

    task = "gesture"
    windows = [window_recording(load_actrectut(subject=s, task=task), WindowConfig()) for s in (1, 2)]
    device = windows[0].device_names[0]
    normalizer = DeviceNormalizer().fit(windows[0])
    train = normalizer.transform(windows[0])
    test = normalizer.transform(windows[1])
    x_train, y_train = train.windows[device], train.labels
    x_test, y_test = test.windows[device], test.labels
    class_names = list(load_actrectut(subject=1, task=task).class_names)
    torch.manual_seed(0)
    encoder = ImuConvEncoder(x_train.shape[2])
    classifier = train_classifier(
        encoder, x_train, y_train, len(class_names), ClassifierConfig(steps=steps, batch_size=64)
    )
    ckpt = folder / "har_classifier.pt"
    save_checkpoint(
        ckpt,
        {
            "classifier": classifier.state_dict(),
            "class_names": class_names,
            "normalizer": normalizer.state_dict(),
            "device": device,
            "window_length": int(x_train.shape[1]),
        },
    )
    rng = np.random.default_rng(0)
    calibration = [x_train[i : i + 1] for i in rng.choice(len(x_train), 64, replace=False)]
    del predict  # the metric uses the deployed outputs directly

    def metric(run: Predict) -> float:
        logits = np.concatenate([run(x_test[i : i + 256]) for i in range(0, len(x_test), 256)])
        return 100.0 * macro_f1(y_test, logits.argmax(1))

    return Case(
        "har_classifier",
        ckpt,
        calibration,
        x_test,
        metric,
        "macro-F1 % on ActRecTut gesture subject 2 (higher is better)",
        higher_is_better=True,
        notes=[
            f"device {device}, 1 s windows; supervised training on subject 1 ({len(x_train)} windows, "
            f"{steps} steps, random init: the ColloSSL-pretrained encoder would be loaded the same way)",
        ],
    )


def terrain_embedding_case(folder: Path, steps: int) -> Case:
    """BorealTC vibration spectrograms; embedder trained with batch-hard triplets over temporal groups
    (self-supervised: same run and same 10 s stretch = positive); metric: 1-NN terrain accuracy of the
    embeddings on held-out runs (labels only for scoring)."""
    from robossl.data.datasets.borealtc import load_borealtc, make_windows, split_by_run
    from robossl.pipelines.terrain.embedding import EmbeddingConfig, TripletEmbeddingLearner
    from robossl.pipelines.terrain.features import VIBRATION_SPECTROGRAM, vibration_spectrogram
    from robossl.pipelines.terrain.mining import temporal_groups

    windows = make_windows(load_borealtc())
    train_mask, test_mask = split_by_run(windows)
    train_w, test_w = windows.subset(train_mask), windows.subset(test_mask)
    spec_train = vibration_spectrogram(train_w.imu, train_w.pro).float()
    spec_test = vibration_spectrogram(test_w.imu, test_w.pro).float()
    groups = torch.from_numpy(temporal_groups(train_w.run_ids, train_w.start_times, 10.0))
    learner = TripletEmbeddingLearner(EmbeddingConfig(in_channels=spec_train.shape[1]), seed=0)
    learner.model.set_normalization(spec_train)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        index = torch.randint(len(spec_train), (128,), generator=generator)
        learner.step_groups(spec_train[index], groups[index])
    ckpt = folder / "terrain_embedding.pt"
    state = learner.state_dict()
    state["input_shape"] = list(spec_train.shape[1:])
    state["spectrogram"] = {
        k: getattr(VIBRATION_SPECTROGRAM, k) for k in ("sample_rate", "n_fft", "hop_length")
    }
    save_checkpoint(ckpt, state)
    x_train, x_test = spec_train.numpy(), spec_test.numpy()
    y_train, y_test = train_w.labels, test_w.labels
    rng = np.random.default_rng(0)
    calibration = [x_train[i : i + 1] for i in rng.choice(len(x_train), 64, replace=False)]

    def metric(run: Predict) -> float:
        def embed(x: np.ndarray) -> np.ndarray:
            return np.concatenate([run(x[i : i + 256]) for i in range(0, len(x), 256)])

        reference, query = embed(x_train), embed(x_test)
        nearest = np.argmax(query @ reference.T, axis=1)
        return 100.0 * float(np.mean(y_train[nearest] == y_test))

    return Case(
        "terrain_embedding",
        ckpt,
        calibration,
        x_test,
        metric,
        "1-NN terrain accuracy % of embeddings on held-out BorealTC runs (higher is better)",
        higher_is_better=True,
        notes=[
            f"BorealTC IMU + wheel odometry, {spec_train.shape[1]}-channel STFT {tuple(spec_train.shape[2:])}; "
            f"{steps} batch-hard triplet steps on temporal groups (no labels in training)",
        ],
    )


def terrain_segmentation_case(folder: Path, steps: int) -> Case:
    """Rover world (MuJoCo, sim/robossl_sim): segmentation trained on training-map drives, mIoU on a
    held-out map against the renderer's ground-truth terrain masks."""
    import os

    os.environ.setdefault("MUJOCO_GL", "egl")
    from robossl.pipelines.terrain.projection import IGNORE_INDEX
    from robossl.pipelines.terrain.segmentation import SegmentationConfig, SegmentationLearner, mean_iou
    from robossl_sim.worlds.rover import RoverConfig, RoverWorld, record_drive

    config = RoverConfig()
    rng = np.random.default_rng(0)
    drives = {}
    for split, seed, seconds in (("train", 1, 40.0), ("heldout", 2, 20.0)):
        with RoverWorld(seed, split, config) as world:
            drives[split] = record_drive(world, seconds, rng, image_period_s=0.25)
    train_images = drives["train"].images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    train_masks = drives["train"].terrain_masks.astype(np.int64)
    learner = SegmentationLearner(SegmentationConfig(num_classes=config.num_terrains), seed=0)
    learner.set_class_weights(train_masks)
    images_t, masks_t = torch.from_numpy(train_images), torch.from_numpy(train_masks)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        index = torch.randint(len(images_t), (8,), generator=generator)
        learner.step(images_t[index], masks_t[index])
    ckpt = folder / "terrain_segmentation.pt"
    state = {"segmenter": learner.state_dict(), "segmenter_classes": config.num_terrains}
    state["input_shape"] = [3, config.image_height, config.image_width]
    save_checkpoint(ckpt, state)
    eval_inputs = drives["heldout"].images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    eval_masks = drives["heldout"].terrain_masks.astype(np.int64)
    calibration = [train_images[i : i + 1] for i in range(0, len(train_images), 3)]

    def metric(run: Predict) -> float:
        logits = np.concatenate([run(eval_inputs[i : i + 16]) for i in range(0, len(eval_inputs), 16)])
        return 100.0 * mean_iou(logits.argmax(1), eval_masks, config.num_terrains, IGNORE_INDEX)[0]

    return Case(
        "terrain_segmentation",
        ckpt,
        calibration,
        eval_inputs,
        metric,
        "mIoU % vs rendered ground truth on a held-out rover map (higher is better)",
        higher_is_better=True,
        notes=[
            f"MuJoCo rover world {config.image_width}x{config.image_height}, {len(train_images)} training frames "
            f"(map seed 1), {len(eval_inputs)} held-out frames (map seed 2, split heldout)",
            f"{steps} steps supervised by the renderer's terrain masks as a stand-in for the pipeline's "
            "track-projected cluster labels (same network, same checkpoint -> export path)",
        ],
    )


CASES: dict[str, tuple[Callable[[Path, int], Case], int]] = {
    "mono_depth": (mono_depth_case, 150),
    "har_classifier": (har_case, 300),
    "terrain_embedding": (terrain_embedding_case, 150),
    "terrain_segmentation": (terrain_segmentation_case, 150),
}
