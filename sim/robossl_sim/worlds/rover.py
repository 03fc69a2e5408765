"""Terrain rover world: ground patches of several terrain types, a wheeled robot with a forward-down camera,
and interaction audio synthesised from wheel speed and the terrain under each wheel.

Maps are randomised per seed: a square of ``map_size_m`` is split into Voronoi regions, each a random terrain
type, rasterised on ``cell_m`` cells and built from textured planes (2-D textures on plane tops, never on box
sides). ``split="train"`` and ``split="heldout"`` draw from disjoint seed ranges. Rendering follows the
platform notes (no shadows, no anti-aliasing, ``MUJOCO_GL=egl`` before ``import mujoco``); a second
segmentation render gives the ground-truth terrain id per pixel.

The rover moves kinematically (x, y slide joints and a yaw hinge set from the command), which is all the
pipeline needs: poses, images and audio. Example::

    world = RoverWorld(seed=0, split="train")
    world.set_command(forward_mps=0.5, yaw_rate=0.2)
    audio = world.step(0.05)           # (800,) float32 at 16 kHz
    frame = world.render()             # RoverFrame(rgb (H, W, 3) uint8, terrain (H, W) uint8, 255 = none)
    world.world_T_base(), world.base_T_camera, world.camera
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from robossl.pipelines.terrain.projection import (  # noqa: E402
    IGNORE_INDEX,
    PinholeCamera,
    camera_mount,
    pose_from_xy_yaw,
)
from robossl_sim.audio_synth import InteractionAudioSynth  # noqa: E402
from robossl_sim.worlds.terrain_textures import TERRAIN_TYPES, terrain_texture  # noqa: E402

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
class RoverFrame:
    """One rendered camera frame."""

    rgb: np.ndarray  # (H, W, 3) uint8
    terrain: np.ndarray  # (H, W) uint8 ground-truth terrain id per pixel, IGNORE_INDEX where no map ground


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
    geoms, geom_terrain = [], []
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


class RoverWorld:
    """One map with the rover on it (see module docstring).

    Args:
        seed: map seed.
        split: ``"train"`` or ``"heldout"``.
        config: world settings.
        audio_seed: seed of the audio noise (default: the map seed).
    """

    def __init__(
        self,
        seed: int,
        split: str = "train",
        config: RoverConfig | None = None,
        audio_seed: int | None = None,
    ) -> None:
        self.config = config or RoverConfig()
        self.seed, self.split = seed, split
        self.terrain_map = make_terrain_map(seed, split, self.config)
        xml, assets, geom_terrain = rover_xml(self.terrain_map, self.config)
        self.model = mujoco.MjModel.from_xml_string(xml, assets)
        self.data = mujoco.MjData(self.model)
        self._geom_terrain = np.full(self.model.ngeom + 1, IGNORE_INDEX, dtype=np.uint8)
        first = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, "ground0")
        self._geom_terrain[first : first + len(geom_terrain)] = geom_terrain
        self._camera_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, "front")
        self.synth = InteractionAudioSynth(
            self.config.sample_rate, seed if audio_seed is None else audio_seed
        )
        self._command = np.zeros(2)
        self._renderer: mujoco.Renderer | None = None
        self.time = 0.0
        self.reset()

    # -- geometry --------------------------------------------------------------------------------------
    @property
    def camera(self) -> PinholeCamera:
        c = self.config
        return PinholeCamera.from_vertical_fov(c.fovy_deg, c.image_width, c.image_height)

    @property
    def base_T_camera(self) -> np.ndarray:
        """4x4 camera mount (OpenCV camera axes) in the base frame."""
        c = self.config
        return camera_mount(c.camera_x_m, c.camera_z_m, c.camera_pitch_deg)

    @property
    def pose(self) -> tuple[float, float, float]:
        """(x, y, yaw): metres, metres, radians."""
        x, y, yaw = self.data.qpos
        return float(x), float(y), float(yaw)

    def world_T_base(self) -> np.ndarray:
        return pose_from_xy_yaw(*self.pose)

    def wheel_terrains(self) -> np.ndarray:
        """(4,) terrain id under each wheel (-1 off the map)."""
        pose = self.world_T_base()
        points = self.config.wheel_offsets @ pose[:2, :2].T + pose[:2, 3]
        return self.terrain_map.terrain_at(points)

    # -- motion ----------------------------------------------------------------------------------------
    def reset(self, pose: tuple[float, float, float] | None = None) -> None:
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:] = pose if pose is not None else self.terrain_map.start
        self._command[:] = 0
        self.time = 0.0
        mujoco.mj_forward(self.model, self.data)

    def set_command(self, forward_mps: float, yaw_rate: float) -> None:
        """Forward speed (m/s, base x) and yaw rate (rad/s, + = left)."""
        self._command[:] = (forward_mps, yaw_rate)

    def step(self, duration_s: float) -> np.ndarray:
        """Advance by ``duration_s``; returns the interaction audio of that interval (float32, sample_rate)."""
        steps = max(1, int(round(duration_s / self.config.timestep_s)))
        forward, yaw_rate = self._command
        # Skid steering: each side's wheel speed is forward -/+ yaw_rate * track / 2.
        side = yaw_rate * self.config.track_m / 2
        wheel_speeds = np.array([forward - side, forward + side, forward - side, forward + side])
        audio = []
        for _ in range(steps):
            yaw = self.data.qpos[2]
            self.data.qvel[:] = (forward * math.cos(yaw), forward * math.sin(yaw), yaw_rate)
            audio.append(self.synth.chunk(self.config.timestep_s, self.wheel_terrains(), wheel_speeds))
            mujoco.mj_step(self.model, self.data)
        self.time += steps * self.config.timestep_s
        return np.concatenate(audio)

    def wander_command(
        self, rng: np.random.Generator, speed: tuple[float, float] = (0.3, 0.8)
    ) -> tuple[float, float]:
        """A random-walk command that steers back towards the map centre near the edge."""
        x, y, yaw = self.pose
        limit = self.config.map_size_m / 2 - 2.5
        forward = float(rng.uniform(*speed))
        yaw_rate = float(rng.normal(0, 0.5))
        if max(abs(x), abs(y)) > limit:
            heading = math.atan2(-y, -x)
            error = (heading - yaw + math.pi) % (2 * math.pi) - math.pi
            yaw_rate = float(np.clip(2.0 * error, -1.5, 1.5))
        return forward, yaw_rate

    # -- rendering -------------------------------------------------------------------------------------
    def render(self) -> RoverFrame:
        """RGB from the front camera and the ground-truth terrain id per pixel."""
        c = self.config
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.model, c.image_height, c.image_width)
        r = self._renderer
        r.update_scene(self.data, camera=self._camera_id)
        rgb = r.render().copy()
        r.enable_segmentation_rendering()
        r.update_scene(self.data, camera=self._camera_id)
        seg = r.render()
        r.disable_segmentation_rendering()
        geom_ids = np.where(seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM), seg[..., 0], -1)
        return RoverFrame(rgb=rgb, terrain=self._geom_terrain[geom_ids])

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> RoverWorld:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class DriveStep:
    """One control period of a wandering drive."""

    t: float  # simulated seconds since the drive began, start of the period
    pose: tuple[float, float, float]  # x, y (metres), yaw (radians) at t
    world_T_base: np.ndarray  # 4x4 pose at t
    wheel_terrains: np.ndarray  # (4,) terrain id under each wheel at t (-1 off the map)
    frame: RoverFrame | None  # camera frame taken at t when one was due, else None
    audio: np.ndarray  # (samples,) float32 interaction audio of [t, t + control period)


def drive_steps(
    world: RoverWorld, duration_s: float, rng: np.random.Generator, image_period_s: float = 0.5,
    control_period_s: float = 0.05, command_period_s: float = 1.0,
) -> Iterator[DriveStep]:  # fmt: skip
    """Drive with :meth:`RoverWorld.wander_command` for ``duration_s`` simulated seconds, one step per
    control period (a new command every ``command_period_s``, a frame every ``image_period_s``). When a step
    is yielded the world has already advanced to its end; ``world.pose`` after the loop is the final pose.
    The live demo and the recorded training logs drive through this one loop."""
    next_image, next_command = 0.0, 0.0
    for k in range(int(round(duration_s / control_period_s))):
        t = k * control_period_s
        if t >= next_command - 1e-9:
            world.set_command(*world.wander_command(rng))
            next_command += command_period_s
        frame = None
        if t >= next_image - 1e-9:
            frame = world.render()
            next_image += image_period_s
        pose, world_T_base, wheels = world.pose, world.world_T_base(), world.wheel_terrains()
        audio = world.step(control_period_s)
        yield DriveStep(t, pose, world_T_base, wheels, frame, audio)


@dataclass
class RoverDrive:
    """A recorded drive: audio stream, poses, camera frames with ground truth."""

    sample_rate: int
    audio: np.ndarray  # (N,) float32, starting at time 0
    pose_times: np.ndarray  # (P,) seconds
    poses: np.ndarray  # (P, 4, 4) world_T_base
    image_times: np.ndarray  # (I,) seconds
    images: np.ndarray  # (I, H, W, 3) uint8
    terrain_masks: np.ndarray  # (I, H, W) uint8 ground truth (IGNORE_INDEX off-map)
    wheel_terrains: np.ndarray  # (P, 4) terrain under each wheel at each pose


def record_drive(
    world: RoverWorld, duration_s: float, rng: np.random.Generator, image_period_s: float = 0.5,
    control_period_s: float = 0.05, command_period_s: float = 1.0,
) -> RoverDrive:  # fmt: skip
    """Drive with :meth:`RoverWorld.wander_command` and record everything the pipeline consumes."""
    audio, pose_times, poses, wheels = [], [0.0], [world.world_T_base()], [world.wheel_terrains()]
    image_times, images, masks = [], [], []
    for step in drive_steps(world, duration_s, rng, image_period_s, control_period_s, command_period_s):
        if step.frame is not None:
            image_times.append(step.t)
            images.append(step.frame.rgb)
            masks.append(step.frame.terrain)
        audio.append(step.audio)
        pose_times.append(step.t + control_period_s)
        poses.append(world.world_T_base())
        wheels.append(world.wheel_terrains())
    return RoverDrive(
        sample_rate=world.config.sample_rate,
        audio=np.concatenate(audio),
        pose_times=np.asarray(pose_times),
        poses=np.stack(poses),
        image_times=np.asarray(image_times),
        images=np.stack(images),
        terrain_masks=np.stack(masks),
        wheel_terrains=np.stack(wheels),
    )
