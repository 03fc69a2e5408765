"""Pictures of the stereo -> mono bench (bench/stereo_mono.py): depth panels, learning curves, flight paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from stereo_mono_flights import SIM_SETTINGS


def depth_picture(checkpoint: Path, euroc_example: Any, path: Path) -> None:
    import cv2
    import matplotlib.pyplot as plt

    from robossl.pipelines.stereo_mono import StereoMonoConfig, StereoMonoPipeline
    from robossl_sim.worlds.drone_room import DroneRoom

    with DroneRoom(0, "heldout") as room:
        settings = {**SIM_SETTINGS, "switching": {"policy": "stereo_only"}}
        pipeline = StereoMonoPipeline(StereoMonoConfig.from_dict(settings), room.calibration)
        pipeline.load(checkpoint)
        x, y, yaw = room.layout.start
        room.reset((x, y, yaw + 1.0))
        render = room.render()
        out = pipeline.process(render.left, render.right, 0.0)
    figure, axes = plt.subplots(2, 4, figsize=(12, 5))
    vmax = float(np.nanpercentile(render.left_depth, 95))
    panels = [
        (render.left, "held-out room: left image", None),
        (np.where(out.confidence >= 0.3, out.stereo_depth, np.nan), "stereo depth (confident)", vmax),
        (out.mono_depth, "mono depth (pretrained student)", vmax),
        (render.left_depth, "simulator ground truth", vmax),
    ]
    for axis, (image, title, top) in zip(axes[0], panels):
        if top is None:
            axis.imshow(image)
        else:
            axis.imshow(image, cmap="magma_r", vmin=0, vmax=top)
        axis.set_title(title, fontsize=9)
        axis.axis("off")
    if euroc_example is not None:
        left, euroc_out = euroc_example
        vmax_e = float(np.nanpercentile(euroc_out.stereo_depth, 95))
        rect = cv2.resize(left, (euroc_out.disparity.shape[1], euroc_out.disparity.shape[0]))
        for axis, (image, title, top) in zip(
            axes[1],
            [
                (rect, "EuRoC V1_01 (last frame, raw)", None),
                (
                    np.where(euroc_out.confidence >= 0.3, euroc_out.stereo_depth, np.nan),
                    "stereo depth",
                    vmax_e,
                ),
                (euroc_out.mono_depth, "mono depth (online, 95 frames)", vmax_e),
                (euroc_out.confidence, "stereo confidence", 1.0),
            ],
        ):
            if top is None:
                axis.imshow(image, cmap="gray")
            elif title == "stereo confidence":
                axis.imshow(image, cmap="viridis", vmin=0, vmax=1)
            else:
                axis.imshow(image, cmap="magma_r", vmin=0, vmax=top)
            axis.set_title(title, fontsize=9)
            axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def learning_picture(
    pretrain_info: dict[str, Any],
    runs: list[dict[str, Any]],
    euroc_rows: list,
    absrel_target: float,
    path: Path,
) -> None:
    """Pretraining loss, persistent flights' mono AbsRel per room (dashed: ``absrel_target``), EuRoC curves."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    losses = np.asarray(pretrain_info["losses"])
    if len(losses):
        window = max(1, len(losses) // 50)
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        axes[0].plot(losses, color="0.8", lw=0.5)
        axes[0].plot(np.arange(len(smooth)) + window // 2, smooth, color="tab:blue")
    axes[0].set(title="offline pretraining (training rooms)", xlabel="step", ylabel="scale-aware log loss")
    for run in runs:
        if run["condition"] != "persistent" or not run["log"].quality:
            continue
        quality = np.asarray(run["log"].quality)
        # one colour per room, one legend entry per line style
        labels = ("running vs stereo", "vs ground truth") if run["seed"] == 0 else (None, None)
        color = plt.get_cmap("tab10")(run["seed"] % 10)
        axes[1].plot(quality[:, 0] / 60, quality[:, 1], lw=1, color=color, label=labels[0])
        axes[1].plot(quality[:, 0] / 60, quality[:, 2], lw=0.6, ls=":", color=color, label=labels[1])
    axes[1].axhline(absrel_target, color="k", lw=0.5, ls="--")
    axes[1].set(title="persistent flight, held-out rooms", xlabel="simulated minutes", ylabel="mono AbsRel")
    axes[1].legend(fontsize=6)
    frames = [r["frame"] for r in euroc_rows]
    axes[2].plot(frames, [r["absrel"] for r in euroc_rows], label="AbsRel mono vs stereo")
    axes[2].plot(frames, [r["distance_relerr"] for r in euroc_rows], label="distance-ahead rel. error")
    axes[2].set(title="EuRoC V1_01: online learning (prequential)", xlabel="frame", ylim=(0, 1.0))
    axes[2].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def paths_picture(runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib.pyplot as plt

    from robossl_sim.flight_plot import draw_flight

    seeds = sorted({r["seed"] for r in runs})
    conditions = ("stereo_only", "mono_only", "persistent")
    figure, axes = plt.subplots(len(seeds), 3, figsize=(9, 3.0 * len(seeds)), squeeze=False)
    for row, seed in enumerate(seeds):
        for col, condition in enumerate(conditions):
            run = next(r for r in runs if r["seed"] == seed and r["condition"] == condition)
            draw_flight(axes[row][col], run["layout"], run["log"], f"{condition}, held-out room {seed}")
    figure.tight_layout()
    figure.savefig(path, dpi=110 if len(seeds) <= 3 else 70)
    plt.close(figure)
