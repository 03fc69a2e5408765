"""Top-down pictures of drone-room flights (matplotlib, Agg backend)."""

from __future__ import annotations

from typing import Any

import numpy as np

from robossl_sim.closed_loop import FlightLog
from robossl_sim.worlds.drone_room import DroneRoomConfig, RoomLayout


def draw_flight(
    axes: Any, layout: RoomLayout, log: FlightLog, title: str, config: DroneRoomConfig | None = None
) -> None:
    """Draw walls, obstacles, the path (coloured by active cue) and collisions (red crosses) on ``axes``."""
    from matplotlib.patches import Polygon, Rectangle

    half = (config or DroneRoomConfig()).room_size_m / 2
    axes.add_patch(Rectangle((-half, -half), 2 * half, 2 * half, fill=False, lw=2, color="k"))
    for obstacle in layout.obstacles:
        axes.add_patch(Polygon(obstacle.corners(), closed=True, color="0.5"))
    if log.positions:
        xy = np.asarray(log.positions)
        mono = np.asarray(log.on_mono, bool)
        axes.plot(xy[:, 0], xy[:, 1], color="tab:blue", lw=0.4, alpha=0.5)
        axes.scatter(xy[mono, 0], xy[mono, 1], s=0.6, color="tab:green", label="mono")
        axes.scatter(xy[~mono, 0], xy[~mono, 1], s=0.6, color="tab:blue", label="stereo")
        axes.plot(*layout.start[:2], "k^", ms=6)
    if log.collisions:
        hits = np.asarray([(x, y) for _, x, y in log.collisions])
        axes.scatter(hits[:, 0], hits[:, 1], marker="x", color="red", s=30, label="collision", zorder=5)
    summary = log.summary()
    axes.set_title(
        f"{title}\n{summary['collisions']:.0f} collisions / {summary['distance_m']:.0f} m, "
        f"{100 * summary['mono_time_fraction']:.0f} % mono",
        fontsize=8,
    )
    axes.set_xlim(-half - 0.1, half + 0.1)
    axes.set_ylim(-half - 0.1, half + 0.1)
    axes.set_aspect("equal")
    axes.set_xticks([])
    axes.set_yticks([])
