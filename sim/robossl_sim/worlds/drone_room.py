"""A ~5 x 5 m room with textured walls and obstacles, and a drone carrying a forward stereo pair.

Rooms are randomised per seed (textures, obstacle count, sizes, positions, start pose). ``split="train"``
and ``split="heldout"`` draw from disjoint seed ranges, so held-out rooms have unseen textures and layouts.

The drone flies at a fixed height with three joints (x, y slides and a yaw hinge); the controller sets
forward speed and yaw rate, physics resolves contacts, and any contact of the drone's sphere with a wall or
obstacle counts as a collision. Rendering follows the platform notes: no shadows, no anti-aliasing, and
RGB + depth read from ONE render per camera (depth is metric, along the camera axis).
``MUJOCO_GL`` defaults to ``egl`` and must be set before ``mujoco`` is imported.

Example::

    room = DroneRoom(seed=3, split="heldout")
    room.set_command(forward_mps=0.5, yaw_rate=0.0)
    room.step(0.1)
    frame = room.render()          # StereoRender(left, right (H, W, 3) uint8; left_depth (H, W) metres)
    room.in_collision()
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from robossl.pipelines.stereo_mono.calibration import StereoCalibration  # noqa: E402
from robossl_sim.worlds.textures import make_texture, png_bytes  # noqa: E402

SPLIT_OFFSETS = {"train": 0, "heldout": 1_000_000}  # seed ranges of the two room sets


@dataclass
class DroneRoomConfig:
    """Geometry, camera and physics settings of the drone room."""

    room_size_m: float = 5.0  # side of the square room, metres
    room_height_m: float = 2.5  # floor to ceiling, metres
    fly_height_m: float = 1.0  # drone (and camera) height, metres
    image_width: int = 160  # camera width, pixels
    image_height: int = 120  # camera height, pixels
    fovy_deg: float = 60.0  # vertical field of view, degrees
    baseline_m: float = 0.1  # stereo baseline, metres
    drone_radius_m: float = 0.15  # collision sphere of the drone, metres
    obstacle_count: tuple[int, int] = (3, 6)  # inclusive range of obstacles per room
    obstacle_size_m: tuple[float, float] = (0.3, 0.8)  # range of obstacle footprint sides, metres
    min_gap_m: float = 0.7  # free space kept between obstacles and around the start, metres
    texture_size: int = 256  # texture side, pixels
    texture_metres: float = 1.5  # world size of one texture repeat on walls / floor, metres
    timestep_s: float = 0.02  # physics step, seconds
    far_m: float = 12.0  # far clipping distance, metres

    @property
    def focal_px(self) -> float:
        """Focal length in pixels (square pixels)."""
        return (self.image_height / 2) / math.tan(math.radians(self.fovy_deg) / 2)


@dataclass(frozen=True)
class Obstacle:
    """A box obstacle from floor to ceiling."""

    x: float  # centre, metres
    y: float
    half_x: float  # half sides, metres
    half_y: float
    yaw: float  # rotation about z, radians

    def corners(self) -> np.ndarray:
        """(4, 2) footprint corners in the world frame (for plots)."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        local = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * [self.half_x, self.half_y]
        return local @ np.array([[c, s], [-s, c]]) + [self.x, self.y]


@dataclass
class StereoRender:
    """One rendered stereo frame."""

    left: np.ndarray  # (H, W, 3) uint8 RGB
    right: np.ndarray  # (H, W, 3) uint8 RGB
    left_depth: np.ndarray  # (H, W) float32 metres along the optical axis (ground truth)


@dataclass
class RoomLayout:
    """Randomised content of one room."""

    obstacles: list[Obstacle] = field(default_factory=list)
    start: tuple[float, float, float] = (0.0, 0.0, 0.0)  # x, y (metres), yaw (radians)
    texture_seeds: list[int] = field(default_factory=list)  # walls x4, floor, ceiling, then obstacles


def _overlaps(
    x: float, y: float, radius: float, placed: list[tuple[float, float, float]], gap: float
) -> bool:
    return any(math.hypot(x - px, y - py) < radius + pr + gap for px, py, pr in placed)


def make_layout(seed: int, split: str, config: DroneRoomConfig) -> RoomLayout:
    """Random obstacles, start pose and texture seeds of a room (deterministic in seed and split)."""
    if split not in SPLIT_OFFSETS:
        raise ValueError(f"unknown room split {split!r}; use 'train' or 'heldout'")
    rng = np.random.default_rng(SPLIT_OFFSETS[split] + seed)
    half = config.room_size_m / 2
    count = int(rng.integers(config.obstacle_count[0], config.obstacle_count[1] + 1))
    start_x, start_y = rng.uniform(-half + 1.0, half - 1.0, size=2)
    placed = [(float(start_x), float(start_y), config.drone_radius_m)]
    obstacles: list[Obstacle] = []
    for _ in range(200 * count):
        if len(obstacles) == count:
            break
        sx, sy = rng.uniform(*config.obstacle_size_m, size=2) / 2
        radius = math.hypot(sx, sy)
        x, y = rng.uniform(-half + radius + 0.3, half - radius - 0.3, size=2)
        if _overlaps(x, y, radius, placed, config.min_gap_m):
            continue
        placed.append((float(x), float(y), radius))
        obstacles.append(Obstacle(float(x), float(y), float(sx), float(sy), float(rng.uniform(0, math.pi))))
    texture_seeds = [int(s) for s in rng.integers(0, 2**31 - 1, size=6 + len(obstacles))]
    return RoomLayout(
        obstacles, (float(start_x), float(start_y), float(rng.uniform(-math.pi, math.pi))), texture_seeds
    )


def room_xml(layout: RoomLayout, config: DroneRoomConfig) -> tuple[str, dict[str, bytes]]:
    """MJCF text and in-memory PNG assets of a room."""
    c = config
    half, height = c.room_size_m / 2, c.room_height_m
    assets = {
        f"tex{i}.png": png_bytes(make_texture(s, c.texture_size)) for i, s in enumerate(layout.texture_seeds)
    }
    repeat = 1.0 / c.texture_metres
    materials = []
    for i in range(6):
        materials.append(f'<texture name="tex{i}" type="2d" file="tex{i}.png"/>')
        materials.append(
            f'<material name="mat{i}" texture="tex{i}" texrepeat="{repeat} {repeat}" texuniform="true" specular="0"/>'
        )
    for i in range(6, len(layout.texture_seeds)):
        materials.append(f'<texture name="tex{i}" type="cube" file="tex{i}.png"/>')
        materials.append(f'<material name="mat{i}" texture="tex{i}" specular="0"/>')
    # planes face into the room (their +z axis is the visible side)
    surfaces = [
        f'<geom name="wall_east" type="plane" pos="{half} 0 {height / 2}" zaxis="-1 0 0" size="{height / 2} {half} 0.1" material="mat0"/>',
        f'<geom name="wall_west" type="plane" pos="{-half} 0 {height / 2}" zaxis="1 0 0" size="{height / 2} {half} 0.1" material="mat1"/>',
        f'<geom name="wall_north" type="plane" pos="0 {half} {height / 2}" zaxis="0 -1 0" size="{half} {height / 2} 0.1" material="mat2"/>',
        f'<geom name="wall_south" type="plane" pos="0 {-half} {height / 2}" zaxis="0 1 0" size="{half} {height / 2} 0.1" material="mat3"/>',
        f'<geom name="floor" type="plane" pos="0 0 0" size="{half} {half} 0.1" material="mat4"/>',
        f'<geom name="ceiling" type="plane" pos="0 0 {height}" zaxis="0 0 -1" size="{half} {half} 0.1" material="mat5"/>',
    ]
    for i, ob in enumerate(layout.obstacles):
        surfaces.append(
            f'<geom name="obstacle{i}" type="box" pos="{ob.x} {ob.y} {height / 2}" size="{ob.half_x} {ob.half_y} '
            f'{height / 2}" euler="0 0 {ob.yaw}" material="mat{6 + i}"/>'
        )
    x0, y0, yaw0 = layout.start
    forward, side = 0.05, c.baseline_m / 2
    xml = f"""
<mujoco model="drone_room">
  <compiler angle="radian"/>
  <option timestep="{c.timestep_s}" gravity="0 0 0"/>
  <visual>
    <global offwidth="{c.image_width}" offheight="{c.image_height}"/>
    <quality shadowsize="1024" offsamples="0"/>
    <map znear="0.005" zfar="{c.far_m / 4}"/>
    <headlight ambient="0.45 0.45 0.45" diffuse="0.35 0.35 0.35" specular="0 0 0"/>
  </visual>
  <statistic extent="4" center="0 0 1"/>
  <asset>
    {"".join(materials)}
  </asset>
  <worldbody>
    <light pos="0 0 {height - 0.05}" dir="0 0 -1" castshadow="false" diffuse="0.4 0.4 0.4" specular="0 0 0"/>
    {"".join(surfaces)}
    <body name="drone" pos="0 0 {c.fly_height_m}">
      <joint name="x" type="slide" axis="1 0 0" ref="0" damping="0"/>
      <joint name="y" type="slide" axis="0 1 0" damping="0"/>
      <joint name="yaw" type="hinge" axis="0 0 1" damping="0"/>
      <geom name="drone" type="sphere" size="{c.drone_radius_m}" group="3" mass="0.5" rgba="0.9 0.2 0.2 1"/>
      <camera name="left" pos="{forward} {side} 0" xyaxes="0 -1 0 0 0 1" fovy="{c.fovy_deg}"/>
      <camera name="right" pos="{forward} {-side} 0" xyaxes="0 -1 0 0 0 1" fovy="{c.fovy_deg}"/>
    </body>
  </worldbody>
</mujoco>
"""
    _ = (x0, y0, yaw0)
    return xml, assets


class DroneRoom:
    """One room with the drone in it (see module docstring).

    Args:
        seed: room seed (textures, layout, start pose).
        split: ``"train"`` or ``"heldout"``.
        config: geometry / camera / physics settings.
    """

    def __init__(self, seed: int, split: str = "train", config: DroneRoomConfig | None = None) -> None:
        self.config = config or DroneRoomConfig()
        self.seed, self.split = seed, split
        self.layout = make_layout(seed, split, self.config)
        xml, assets = room_xml(self.layout, self.config)
        self.model = mujoco.MjModel.from_xml_string(xml, assets)
        self.data = mujoco.MjData(self.model)
        self._drone_geom = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, "drone")
        self._camera_ids = [
            mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, n) for n in ("left", "right")
        ]
        self._command = np.zeros(2)
        self._gl: mujoco.GLContext | None = None
        self.reset()

    # -- state -----------------------------------------------------------------------------------------
    def reset(self, pose: tuple[float, float, float] | None = None) -> None:
        """Put the drone at ``pose`` (x, y metres, yaw radians), default the room's start pose."""
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:] = pose if pose is not None else self.layout.start
        self._command[:] = 0
        mujoco.mj_forward(self.model, self.data)

    @property
    def pose(self) -> tuple[float, float, float]:
        """(x, y, yaw) of the drone: metres, metres, radians."""
        x, y, yaw = self.data.qpos
        return float(x), float(y), float(yaw)

    @property
    def calibration(self) -> StereoCalibration:
        """The ideal (already rectified) stereo calibration of the drone's cameras."""
        c = self.config
        return StereoCalibration.ideal(c.image_width, c.image_height, c.focal_px, c.baseline_m)

    def set_command(self, forward_mps: float, yaw_rate: float) -> None:
        """Forward speed (metres/second, body x) and yaw rate (radians/second, + = left turn)."""
        self._command[:] = (forward_mps, yaw_rate)

    def step(self, duration_s: float) -> None:
        """Advance physics by ``duration_s`` with the current command."""
        steps = max(1, int(round(duration_s / self.config.timestep_s)))
        forward, yaw_rate = self._command
        for _ in range(steps):
            yaw = self.data.qpos[2]
            self.data.qvel[:] = (forward * math.cos(yaw), forward * math.sin(yaw), yaw_rate)
            mujoco.mj_step(self.model, self.data)

    def in_collision(self) -> bool:
        """True when the drone's sphere touches a wall or an obstacle."""
        for i in range(self.data.ncon):
            contact = self.data.contact[i]
            if (contact.geom1 == self._drone_geom or contact.geom2 == self._drone_geom) and contact.dist <= 0:
                return True
        return False

    def nearest_obstacle_distance(self) -> float:
        """Free distance from the drone's surface to the nearest wall or obstacle, metres (for checks)."""
        x, y, _ = self.pose
        half = self.config.room_size_m / 2
        best = min(half - abs(x), half - abs(y))
        for ob in self.layout.obstacles:
            c, s = math.cos(ob.yaw), math.sin(ob.yaw)
            lx, ly = c * (x - ob.x) + s * (y - ob.y), -s * (x - ob.x) + c * (y - ob.y)
            dx, dy = max(abs(lx) - ob.half_x, 0.0), max(abs(ly) - ob.half_y, 0.0)
            best = min(best, math.hypot(dx, dy))
        return best - self.config.drone_radius_m

    # -- rendering -------------------------------------------------------------------------------------
    def _init_gl(self) -> None:
        c = self.config
        self._gl = mujoco.GLContext(c.image_width, c.image_height)
        self._gl.make_current()
        self._context = mujoco.MjrContext(self.model, mujoco.mjtFontScale.mjFONTSCALE_150)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._context)
        self._context.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR  # reversed Z: 0 at the far plane
        self._scene = mujoco.MjvScene(self.model, maxgeom=200)
        self._option = mujoco.MjvOption()
        self._option.geomgroup[3] = 0  # the drone's own collision sphere is not seen by its cameras
        self._perturb = mujoco.MjvPerturb()
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._rect = mujoco.MjrRect(0, 0, c.image_width, c.image_height)
        self._rgb = np.empty((c.image_height, c.image_width, 3), np.uint8)
        self._depth = np.empty((c.image_height, c.image_width), np.float32)
        extent = self.model.stat.extent
        near = np.float32(self.model.vis.map.znear * extent)
        far = np.float32(self.model.vis.map.zfar * extent)
        # reversed-Z perspective depth buffer -> metric depth (as mujoco.Renderer does)
        self._c_coef = np.float32(-0.5) * (-(far + near) / (far - near)) - np.float32(0.5)
        self._d_coef = np.float32(-0.5) * (-(np.float32(2) * far * near) / (far - near))

    def _render_camera(self, camera_id: int) -> tuple[np.ndarray, np.ndarray]:
        self._camera.fixedcamid = camera_id
        mujoco.mjv_updateScene(
            self.model,
            self.data,
            self._option,
            self._perturb,
            self._camera,
            mujoco.mjtCatBit.mjCAT_ALL,
            self._scene,
        )
        mujoco.mjr_render(self._rect, self._scene, self._context)
        mujoco.mjr_readPixels(self._rgb, self._depth, self._rect, self._context)
        rgb = np.flipud(self._rgb).copy()
        depth = (self._d_coef / (np.flipud(self._depth).astype(np.float64) + self._c_coef)).astype(np.float32)
        return rgb, depth

    def render(self) -> StereoRender:
        """Render both cameras (one render each, RGB + depth)."""
        if self._gl is None:
            self._init_gl()
        assert self._gl is not None
        self._gl.make_current()
        left, left_depth = self._render_camera(self._camera_ids[0])
        right, _ = self._render_camera(self._camera_ids[1])
        return StereoRender(left=left, right=right, left_depth=left_depth)

    def close(self) -> None:
        """Free the GL context (also done at garbage collection)."""
        if self._gl is not None:
            self._context.free()
            self._gl.free()
            self._gl = None

    def __enter__(self) -> DroneRoom:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
