"""Turns the demo's stage results into figures, a summary and ``report.html`` (numbers all from the run)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402

from robossl_ros.demo.report import HtmlReport  # noqa: E402


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _mean_of(pairs: list[tuple[float, float]], last_fraction: float = 1.0) -> float:
    values = [v for _, v in pairs if math.isfinite(v)]
    if not values:
        return float("nan")
    tail = values[-max(1, int(round(len(values) * last_fraction))) :]
    return float(np.mean(tail))


def _drone_section(report: HtmlReport, drone: Any, summary: dict[str, Any], run_dir: Path) -> None:
    report.add_section(
        "Stereo -> monocular depth (drone room, stereo_mono_node)",
        "The drone flew a held-out room; stereo_mono_node learned its monocular student online from SGBM "
        "and its switching policy chose which cue flies. Stereo takes over near obstacles or when the "
        "student's running error against stereo is too high.",
    )
    summary["drone_frames"] = drone.frames
    summary["drone_mono_time_fraction"] = round(drone.mono_fraction, 4)
    summary["drone_collisions"] = len(drone.collisions)
    if getattr(drone, "stereo_only_collisions", None) is not None:  # the same room flown on stereo only
        summary["drone_stereo_only_collisions"] = int(drone.stereo_only_collisions)
    summary["drone_distance_m"] = round(drone.distance_flown_m, 2)
    summary["drone_mono_absrel_last_third"] = round(_mean_of(drone.mono_absrel, 1 / 3), 4)
    summary["stereo_mono_node_latency_p50_ms"] = round(_percentile(drone.latencies_ms, 50), 2)
    summary["stereo_mono_node_latency_p99_ms"] = round(_percentile(drone.latencies_ms, 99), 2)

    if drone.snapshots:
        fig, axes = plt.subplots(
            len(drone.snapshots), 4, figsize=(11, 2.3 * len(drone.snapshots)), squeeze=False
        )
        vmax = 5.0
        for row, snap in zip(axes, drone.snapshots):
            row[0].imshow(snap["left"])
            row[0].set_title(f"left camera, t={snap['t']:.0f}s ({snap['mode']})", fontsize=9)
            for ax, key, title in zip(
                row[1:], ("stereo", "mono", "truth"), ("stereo (SGBM)", "mono student", "ground truth")
            ):
                im = ax.imshow(snap[key], cmap="magma_r", vmin=0, vmax=vmax)
                ax.set_title(title, fontsize=9)
            for ax in row:
                ax.axis("off")
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6, label="depth [m]")
        report.add_figure(fig, "Depth: stereo vs mono vs ground truth", "same frame, metres")

    fig, ax = plt.subplots(figsize=(10, 2.8))
    times = np.asarray(drone.times)
    on_mono = np.asarray([m == "mono" for m in drone.modes], float)
    ax.fill_between(times, 0, on_mono, step="post", alpha=0.3, label="flying on mono")
    if drone.mono_absrel:
        t, v = zip(*drone.mono_absrel)
        ax.plot(t, v, ".-", ms=3, label="mono AbsRel vs ground truth")
    if drone.stereo_absrel:
        t, v = zip(*drone.stereo_absrel)
        ax.plot(t, v, ".", ms=2, alpha=0.6, label="stereo AbsRel (valid pixels)")
    for tc, _, _ in drone.collisions:
        ax.axvline(tc, color="red", lw=1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("simulated time [s]")
    ax.set_title(f"mode timeline; red lines: collisions ({len(drone.collisions)})")
    ax.legend(loc="upper right", fontsize=8)
    report.add_figure(fig, "Mode timeline with collisions and learning curve")

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    half = drone.room_size_m / 2
    ax.plot([-half, half, half, -half, -half], [-half, -half, half, half, -half], "k-")
    for x, y, hx, hy, yaw in drone.walls:
        c, s = math.cos(yaw), math.sin(yaw)
        corners = [
            (x + c * dx - s * dy, y + s * dx + c * dy)
            for dx, dy in ((-hx, -hy), (hx, -hy), (hx, hy), (-hx, hy))
        ]
        ax.add_patch(Polygon(corners, closed=True, color="0.6"))
    if drone.positions:
        xy = np.asarray(drone.positions)
        colours = np.where(np.asarray(drone.modes) == "mono", "tab:blue", "tab:orange")
        ax.scatter(xy[:, 0], xy[:, 1], c=colours, s=2)
    for _, x, y in drone.collisions:
        ax.plot(x, y, "rx", ms=8)
    ax.set_aspect("equal")
    ax.set_title("flight path (blue mono, orange stereo, x collision)", fontsize=9)
    report.add_figure(fig, "Top-down flight path")


_TERRAIN_COLOURS = np.array(
    [[80, 170, 60], [170, 165, 155], [200, 90, 70], [230, 205, 140], [90, 90, 100]], dtype=np.uint8
)


def _colour_labels(labels: np.ndarray, unknown: int = 255) -> np.ndarray:
    out = np.full((*labels.shape, 3), 255, dtype=np.uint8)
    known = (labels != unknown) & (labels >= 0) & (labels < len(_TERRAIN_COLOURS))
    out[known] = _TERRAIN_COLOURS[labels[known]]
    return out


def _track_overlay(rover: Any, t: float, horizon_s: float = 4.0) -> np.ndarray | None:
    """Future wheel tracks after ``t`` projected into the image taken at ``t``, coloured by the terrain
    under the wheels (what the interaction audio of those tracks labels)."""
    from robossl.pipelines.terrain.projection import paint_track_labels, wheel_track_polygons

    times = np.asarray(rover.pose_times)
    if rover.camera is None or len(times) < 2:
        return None
    i0 = int(np.searchsorted(times, t))
    i1 = int(np.searchsorted(times, t + horizon_s))
    if i1 - i0 < 2:
        return None
    world_T_camera = rover.poses[i0] @ rover.base_T_camera
    polygons, labels = [], []
    for i in range(i0, i1 - 1):
        quads = wheel_track_polygons(
            rover.poses[i], rover.poses[i + 1], rover.wheel_offsets, rover.wheel_width_m
        )
        for quad, terrain in zip(quads, rover.wheel_terrains[i]):
            if terrain >= 0:
                polygons.append(quad)
                labels.append(int(terrain))
    if not polygons:
        return None
    return paint_track_labels(rover.camera, world_T_camera, np.asarray(polygons), np.asarray(labels))


def _rover_section(report: HtmlReport, rover: Any, summary: dict[str, Any]) -> None:
    from robossl_ros.demo.rover_stage import UNKNOWN

    report.add_section(
        "Acoustic -> visual terrain (rover world, terrain_node)",
        "The rover drove a held-out terrain map. terrain_node embedded the wheel-terrain interaction audio "
        "(triplet loss), clustered it without labels, painted the clusters along the wheel tracks into "
        "earlier camera images and trained its segmentation network on those sparse labels. Its label "
        "images are scored against the simulator's ground-truth terrain after matching clusters to "
        "terrains (Hungarian method over the pixels of the last third of the stage, when the clusters "
        "have settled).",
    )
    series = rover.miou_series()
    summary["rover_label_images"] = rover.label_images
    summary["rover_distance_m"] = round(rover.distance_m, 2)
    summary["rover_miou_last_third"] = round(_mean_of(series, 1 / 3), 4)
    summary["terrain_node_latency_p50_ms"] = round(_percentile(rover.latencies_ms, 50), 2)
    summary["terrain_node_latency_p99_ms"] = round(_percentile(rover.latencies_ms, 99), 2)
    mapping = rover.mapping(rover.settled_since_t)
    snapshots = rover.snapshots or ([rover.last_snapshot] if rover.last_snapshot is not None else [])
    if snapshots:
        fig, axes = plt.subplots(len(snapshots), 4, figsize=(11, 2.4 * len(snapshots)), squeeze=False)
        for row, snap in zip(axes, snapshots):
            tracks = _track_overlay(rover, snap["t"])
            overlay = snap["rgb"].copy()
            if tracks is not None:
                painted = tracks != UNKNOWN
                overlay[painted] = (0.4 * overlay[painted] + 0.6 * _colour_labels(tracks)[painted]).astype(
                    np.uint8
                )
            predicted = np.where(snap["labels"] != UNKNOWN, mapping[snap["labels"]], UNKNOWN)
            for ax, image, title in zip(
                row,
                (snap["rgb"], overlay, _colour_labels(predicted), _colour_labels(snap["truth"])),
                (
                    f"camera t={snap['t']:.0f}s",
                    "future tracks (terrain under wheels)",
                    "terrain_node labels",
                    "ground truth",
                ),
            ):
                ax.imshow(image)
                ax.set_title(title, fontsize=9)
                ax.axis("off")
        report.add_figure(
            fig,
            "Terrain: projected tracks and segmentation",
            ", ".join(f"{name}" for name in rover.terrain_names),
        )
    if rover.confusion is not None and rover.confusion.sum():
        used = np.flatnonzero(rover.confusion.sum(0))
        matrix = rover.confusion[:, used]
        fig, ax = plt.subplots(figsize=(4.5, 3.5))
        ax.imshow(matrix / np.maximum(matrix.sum(1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(used)), [f"cluster {c}" for c in used], rotation=30, fontsize=8)
        ax.set_yticks(range(len(rover.terrain_names)), rover.terrain_names, fontsize=8)
        ax.set_title("pixels: true terrain (rows) vs cluster", fontsize=9)
        report.add_figure(fig, "Cluster vs terrain confusion (row-normalised)")
    if series:
        fig, ax = plt.subplots(figsize=(8, 2.5))
        t, v = zip(*series)
        ax.plot(t, v, ".-", ms=3)
        ax.set_ylim(0, 1)
        ax.set_xlabel("simulated time [s]")
        ax.set_ylabel("mIoU")
        ax.set_title("segmentation mIoU of each label image", fontsize=9)
        report.add_figure(fig, "Terrain segmentation over time")


def _macro_f1(pairs: list[tuple[float, int, int]], num_classes: int) -> float:
    from sklearn.metrics import f1_score

    if not pairs:
        return float("nan")
    true = [p[1] for p in pairs]
    predicted = [p[2] for p in pairs]
    present = sorted(set(true))
    return float(f1_score(true, predicted, labels=present, average="macro", zero_division=0))


def _har_section(report: HtmlReport, har: Any, summary: dict[str, Any]) -> None:
    k = len(har.class_names)
    report.add_section(
        "Multi-device activity recognition (serial bridge -> har_node, ColloSSL)",
        f"Body-worn IMU streams ({har.source}) were replayed through the firmware protocol on a "
        f"pseudo-terminal into serial_bridge_node and har_node. Labels were published for the first "
        f"{har.labelled_until_s:.0f} s only; the scores below use the predictions after that.",
    )
    evaluation = har.evaluation()
    summary["har_predictions"] = len(har.predictions)
    summary["har_macro_f1_unlabelled_part"] = round(_macro_f1(evaluation, k), 4)
    summary["har_accuracy_unlabelled_part"] = round(
        float(np.mean([p[1] == p[2] for p in evaluation])) if evaluation else float("nan"), 4
    )
    summary["har_node_latency_p50_ms"] = round(_percentile(har.latencies_ms, 50), 2)
    summary["har_node_latency_p99_ms"] = round(_percentile(har.latencies_ms, 99), 2)
    if evaluation:
        matrix = np.zeros((k, k), dtype=np.int64)
        for _, true, predicted in evaluation:
            matrix[true, predicted] += 1
        fig, ax = plt.subplots(figsize=(5, 4.2))
        ax.imshow(matrix / np.maximum(matrix.sum(1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
        for (i, j), count in np.ndenumerate(matrix):
            if count:
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7)
        ax.set_xticks(range(k), har.class_names, rotation=40, ha="right", fontsize=8)
        ax.set_yticks(range(k), har.class_names, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        report.add_figure(fig, "HAR confusion matrix (unlabelled part)")
    if har.predictions:
        window = 20
        times, f1 = [], []
        for end in range(window, len(har.predictions) + 1, 2):
            chunk = har.predictions[end - window : end]
            times.append(chunk[-1][0])
            f1.append(_macro_f1(chunk, k))
        fig, ax = plt.subplots(figsize=(8, 2.5))
        ax.plot(times, f1, "-")
        ax.axvline(har.labelled_until_s, color="k", ls="--", lw=1, label="labels stop")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("stream time [s]")
        ax.set_ylabel(f"macro-F1 (last {window})")
        ax.legend(fontsize=8)
        report.add_figure(fig, "HAR F1 over time")


def _latency_section(report: HtmlReport, results: dict[str, Any]) -> None:
    rows = []
    for key, node, what in (
        ("drone", "stereo_mono_node", "stereo pair published -> distance received"),
        ("rover", "terrain_node", "image published -> label image received"),
        ("har", "har_node", "newest anchor IMU sample -> activity scores received"),
    ):
        if key in results and results[key].latencies_ms:
            values = results[key].latencies_ms
            rows.append(
                [
                    node,
                    what,
                    len(values),
                    round(_percentile(values, 50), 2),
                    round(_percentile(values, 99), 2),
                ]
            )
    if rows:
        report.add_section(
            "Node latencies", "Measured by the demo on the messages it exchanged with the nodes."
        )
        report.add_table(["node", "measured", "samples", "p50 [ms]", "p99 [ms]"], rows)


STABILITY_RESULTS = Path(__file__).resolve().parents[3] / "bench" / "results" / "demo_stability.json"


def _start_section(report: HtmlReport, results: dict[str, Any], summary: dict[str, Any]) -> None:
    """Which checkpoint each node started from (offline-pretrained from logs, or random init)."""
    rows = []
    for stage, node in (("drone", "stereo_mono_node"), ("rover", "terrain_node"), ("har", "har_node")):
        start = results.get(f"{stage}_start")
        if start is None:
            continue
        checkpoint = start.get("checkpoint")
        summary[f"{stage}_started_from"] = (
            f"{Path(checkpoint).parent.name}/{Path(checkpoint).name}"
            if checkpoint
            else "random initialisation"
        )
        rows.append([node, checkpoint or "-", start["description"], "yes" if start.get("cached") else "no"])
    if rows:
        report.add_section(
            "Starting checkpoints",
            "Before its live stage each node's student was pretrained offline from recorded logs (training "
            "rooms, training maps, the other subject) through the replay path; the live stage runs in "
            "held-out conditions and keeps learning online.",
        )
        report.add_table(["node", "checkpoint", "pretrained on", "reused from cache"], rows)


def _stability_section(report: HtmlReport, summary: dict[str, Any], path: Path = STABILITY_RESULTS) -> None:
    """The spread across seeds from bench/demo_stability.py, when it has been run."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    rows = []
    for key, entry in data.get("results", {}).items():
        if not isinstance(entry, dict) or "mean" not in entry:
            continue
        rows.append(
            [key, entry["mean"], entry["min"], entry["max"], entry["spread"], entry.get("target", "")]
        )
        summary[f"seeds_{key}"] = f"{entry['mean']:.3g} ({entry['min']:.3g}-{entry['max']:.3g})"
    if rows:
        report.add_section(
            "Spread across seeds",
            f"bench/demo_stability.py, seeds {data.get('seeds')}, commit {data.get('commit')}, {data.get('date')}: "
            "each seed is a whole demo run in another held-out room, map and stream.",
        )
        report.add_table(["figure", "mean", "min", "max", "spread", "target"], rows)


def build_report(results: dict[str, Any], run_dir: Path) -> tuple[Path, dict[str, Any]]:
    """Write ``run_dir/report.html``; returns its path and the summary numbers."""
    summary: dict[str, Any] = {"seed": results["seed"]}
    report = HtmlReport("robossl demo", subtitle=f"seed {results['seed']} - {run_dir.name}")
    _start_section(report, results, summary)
    if "drone" in results:
        _drone_section(report, results["drone"], summary, run_dir)
    if "rover" in results:
        _rover_section(report, results["rover"], summary)
    if "har" in results:
        _har_section(report, results["har"], summary)
    _latency_section(report, results)
    _stability_section(report, summary)
    counts = results.get("bag_counts", {})
    summary["bag_messages"] = int(sum(counts.values()))
    summary["wall_seconds"] = round(float(results.get("wall_seconds", float("nan"))), 1)
    report.add_section("Recording", f"Every topic was recorded to {run_dir / 'bag'} (rosbag2, mcap).")
    report.add_table(["topic", "messages"], [[k, v] for k, v in sorted(counts.items())])
    for metric, value in summary.items():
        report.add_summary(metric, value)
    return report.write(run_dir / "report.html"), summary
