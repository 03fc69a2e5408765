"""The rover world's model: its settings (:class:`RoverConfig`), the random terrain map of a seed
(:func:`make_terrain_map`, Voronoi regions of terrain types on ``cell_m`` cells) and the MJCF text with its
texture assets that :class:`robossl_sim.worlds.rover.RoverWorld` builds MuJoCo from (:func:`rover_xml`).

No MuJoCo here: the map and the model text are plain data, so they can be inspected without a renderer.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from robossl_sim.worlds.terrain_textures import TERRAIN_TYPES, terrain_texture

SPLIT_OFFSETS = {"train": 0, "heldout": 1_000_000}  # seed ranges of the two map sets


@dataclass(frozen=True)
class RoverConfig:
    """Map, robot, camera and audio settings of the rover world."""

    num_terrains: int = 4  # terrain types used, the first N of TERRAIN_TYPES
    map_size_m: float = 12.0  # side of the square map, metres
    cell_m: float = 0.5  # raster cell of the terrain map, metres
    regions: tuple[int, int] = (16, 24)  # inclusive range of Voronoi regions per map
    image_width: int = 128  # camera width, pixels
    image_height: int = 96  # camera height, pixels
    fovy_deg: float = 60.0  # vertical field of view, degrees
    camera_x_m: float = 0.30  # camera position ahead of the base origin, metres
    camera_z_m: float = 0.45  # camera height above ground, metres
    camera_pitch_deg: float = 35.0  # camera pitch below horizontal, degrees
    wheel_base_m: float = 0.50  # front-to-rear wheel distance, metres
    track_m: float = 0.44  # left-to-right wheel distance, metres
    wheel_radius_m: float = 0.10  # metres
    wheel_width_m: float = 0.08  # tyre width, metres
    texture_size: int = 256  # texture side, pixels
    texture_metres: float = 1.0  # ground size of one texture repeat, metres
    sample_rate: int = 16000  # interaction audio, Hz
    timestep_s: float = 0.01  # physics step, seconds

    def __post_init__(self) -> None:
        if not 2 <= self.num_terrains <= len(TERRAIN_TYPES):
            raise ValueError(f"num_terrains must be in [2, {len(TERRAIN_TYPES)}], got {self.num_terrains}")

    @property
    def wheel_offsets(self) -> np.ndarray:
        """(4, 2) wheel contact points (x forward, y left) in the base frame, metres: FL, FR, RL, RR."""
        a, b = self.wheel_base_m / 2, self.track_m / 2
        return np.array([[a, b], [a, -b], [-a, b], [-a, -b]])


@dataclass
class TerrainMap:
    """Terrain id per cell; cell (i, j) covers x in [-L/2 + j c, ...), y in [-L/2 + i c, ...)."""

    grid: np.ndarray  # (n, n) int terrain ids
    cell_m: float  # metres
    size_m: float  # metres
    start: tuple[float, float, float] = (0.0, 0.0, 0.0)  # x, y metres, yaw radians
    texture_offsets: list[tuple[float, float]] = field(default_factory=list)

    def terrain_at(self, xy: np.ndarray) -> np.ndarray:
        """Terrain id ``(N,)`` at world points ``(N, 2)``; -1 off the map."""
        xy = np.atleast_2d(xy)
        n = self.grid.shape[0]
        j = np.floor((xy[:, 0] + self.size_m / 2) / self.cell_m).astype(int)
        i = np.floor((xy[:, 1] + self.size_m / 2) / self.cell_m).astype(int)
        inside = (i >= 0) & (i < n) & (j >= 0) & (j < n)
        out = np.full(len(xy), -1, dtype=np.int64)
        out[inside] = self.grid[i[inside], j[inside]]
        return out


def make_terrain_map(seed: int, split: str, config: RoverConfig) -> TerrainMap:
    """Voronoi terrain layout of one map (deterministic in seed and split); every terrain type appears."""
    if split not in SPLIT_OFFSETS:
        raise ValueError(f"unknown map split {split!r}; use 'train' or 'heldout'")
    rng = np.random.default_rng(SPLIT_OFFSETS[split] + seed)
    n = int(round(config.map_size_m / config.cell_m))
    count = int(rng.integers(config.regions[0], config.regions[1] + 1))
    centres = rng.uniform(0, n, size=(count, 2))
    types = np.concatenate(
        [rng.permutation(config.num_terrains), rng.integers(0, config.num_terrains, count)]
    )[:count]
    ii, jj = np.mgrid[0:n, 0:n] + 0.5
    d = (ii[..., None] - centres[:, 0]) ** 2 + (jj[..., None] - centres[:, 1]) ** 2
    grid = types[d.argmin(axis=-1)]
    start = (float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)), float(rng.uniform(-math.pi, math.pi)))
    offsets = [(float(a), float(b)) for a, b in rng.uniform(0, 1, size=(config.num_terrains, 2))]
    return TerrainMap(grid.astype(np.int64), config.cell_m, config.map_size_m, start, offsets)


def _png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def _ground_rectangles(grid: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Merge cells into (row, col_start, col_end_exclusive, terrain) runs; fewer geoms render faster."""
    runs = []
    for i, row in enumerate(grid):
        start = 0
        for j in range(1, len(row) + 1):
            if j == len(row) or row[j] != row[start]:
                runs.append((i, start, j, int(row[start])))
                start = j
    return runs


def rover_xml(terrain_map: TerrainMap, config: RoverConfig) -> tuple[str, dict[str, bytes], list[int]]:
    """MJCF text, PNG assets, and the terrain id of each ground geom in order."""
    c = config
    assets, materials = {}, []
    repeat = 1.0 / c.texture_metres
    for t in range(c.num_terrains):
        assets[f"terrain{t}.png"] = _png(terrain_texture(TERRAIN_TYPES[t], c.texture_size))
        materials.append(f'<texture name="terrain{t}" type="2d" file="terrain{t}.png"/>')
        materials.append(
            f'<material name="terrain{t}" texture="terrain{t}" texrepeat="{repeat} {repeat}" texuniform="true" '
            'specular="0" shininess="0" reflectance="0"/>'
        )
    half = c.map_size_m / 2
    geoms: list[str] = []
    geom_terrain: list[int] = []
    for i, j0, j1, terrain in _ground_rectangles(terrain_map.grid):
        x = -half + (j0 + j1) / 2 * c.cell_m
        y = -half + (i + 0.5) * c.cell_m
        geoms.append(
            f'<geom name="ground{len(geoms)}" type="plane" pos="{x:.4f} {y:.4f} 0" '
            f'size="{(j1 - j0) * c.cell_m / 2:.4f} {c.cell_m / 2:.4f} 0.1" material="terrain{terrain}"/>'
        )
        geom_terrain.append(terrain)
    p = math.radians(c.camera_pitch_deg)
    wheels = "".join(
        f'<geom name="wheel{k}" type="cylinder" pos="{x} {y} {c.wheel_radius_m}" euler="1.5708 0 0" '
        f'size="{c.wheel_radius_m} {c.wheel_width_m / 2}" rgba="0.1 0.1 0.1 1" contype="0" conaffinity="0"/>'
        for k, (x, y) in enumerate(c.wheel_offsets)
    )
    xml = f"""
<mujoco model="terrain_rover">
  <compiler angle="radian"/>
  <option timestep="{c.timestep_s}" gravity="0 0 0"/>
  <visual>
    <global offwidth="{c.image_width}" offheight="{c.image_height}"/>
    <quality shadowsize="1024" offsamples="0"/>
    <map znear="0.01" zfar="50"/>
    <headlight ambient="0.55 0.55 0.55" diffuse="0.35 0.35 0.35" specular="0 0 0"/>
  </visual>
  <asset>{"".join(materials)}</asset>
  <worldbody>
    <light pos="0 0 10" dir="0 0 -1" castshadow="false" diffuse="0.3 0.3 0.3" specular="0 0 0"/>
    {"".join(geoms)}
    <geom name="outside" type="plane" pos="0 0 -0.002" size="{4 * half} {4 * half} 0.1" rgba="0.5 0.55 0.6 1"/>
    <body name="rover" pos="0 0 0">
      <joint name="x" type="slide" axis="1 0 0" damping="0"/>
      <joint name="y" type="slide" axis="0 1 0" damping="0"/>
      <joint name="yaw" type="hinge" axis="0 0 1" damping="0"/>
      <geom name="chassis" type="box" pos="0 0 {c.wheel_radius_m + 0.08}" size="{c.wheel_base_m / 2 + 0.05} {c.track_m / 2 - 0.06} 0.06"
            rgba="0.85 0.6 0.1 1" mass="5" contype="0" conaffinity="0"/>
      {wheels}
      <camera name="front" pos="{c.camera_x_m} 0 {c.camera_z_m}" xyaxes="0 -1 0 {math.sin(p):.6f} 0 {math.cos(p):.6f}"
              fovy="{c.fovy_deg}"/>
    </body>
  </worldbody>
</mujoco>
"""
    return xml, assets, geom_terrain
