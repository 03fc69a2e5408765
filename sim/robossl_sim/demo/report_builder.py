"""Turns the demo's stage results into figures, a summary and ``report.html`` (numbers all from the run)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402

from robossl_sim.demo.report import HtmlReport  # noqa: E402


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


def build_report(results: dict[str, Any], run_dir: Path) -> tuple[Path, dict[str, Any]]:
    """Write ``run_dir/report.html``; returns its path and the summary numbers."""
    summary: dict[str, Any] = {"seed": results["seed"]}
    report = HtmlReport("robossl demo", subtitle=f"seed {results['seed']} - {run_dir.name}")
    if "drone" in results:
        _drone_section(report, results["drone"], summary, run_dir)
    counts = results.get("bag_counts", {})
    summary["bag_messages"] = int(sum(counts.values()))
    summary["wall_seconds"] = round(float(results.get("wall_seconds", float("nan"))), 1)
    report.add_section("Recording", f"Every topic was recorded to {run_dir / 'bag'} (rosbag2, mcap).")
    report.add_table(["topic", "messages"], [[k, v] for k, v in sorted(counts.items())])
    for metric, value in summary.items():
        report.add_summary(metric, value)
    return report.write(run_dir / "report.html"), summary
