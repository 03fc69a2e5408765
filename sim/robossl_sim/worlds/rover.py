"""Terrain rover world: ground patches of several terrain types, a wheeled robot with a forward-down camera,
and interaction audio synthesised from wheel speed and the terrain under each wheel.

Maps are randomised per seed: a square of ``map_size_m`` is split into Voronoi regions, each a random terrain
type, rasterised on ``cell_m`` cells and built from textured planes (2-D textures on plane tops, never on box
sides). ``split="train"`` and ``split="heldout"`` draw from disjoint seed ranges. Rendering follows the
platform notes (no shadows, no anti-aliasing, ``MUJOCO_GL=egl`` before ``import mujoco``); a second
segmentation render gives the ground-truth terrain id per pixel. The settings, the map and the MJCF text
are in :mod:`robossl_sim.worlds.rover_model` (importable from here too).

The rover moves kinematically (x, y slide joints and a yaw hinge set from the command), which is all the
pipeline needs: poses, images and audio. Example::

    world = RoverWorld(seed=0, split="train")
    world.set_command(forward_mps=0.5, yaw_rate=0.2)
    audio = world.step(0.05)           # (800,) float32 at 16 kHz
    frame = world.render()             # RoverFrame(rgb (H, W, 3) uint8, terrain (H, W) uint8, 255 = none)
    world.world_T_base(), world.base_T_camera, world.camera
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from robossl.pipelines.terrain.projection import (  # noqa: E402
    IGNORE_INDEX,
    PinholeCamera,
    camera_mount,
    pose_from_xy_yaw,
)
from robossl_sim.audio_synth import InteractionAudioSynth  # noqa: E402
from robossl_sim.worlds.rover_model import (  # noqa: E402
    SPLIT_OFFSETS,
    RoverConfig,
    TerrainMap,
    make_terrain_map,
    rover_xml,
)

__all__ = [
    "SPLIT_OFFSETS",
    "DriveStep",
    "RoverConfig",
    "RoverDrive",
    "RoverFrame",
    "RoverWorld",
    "TerrainMap",
    "drive_steps",
    "make_terrain_map",
    "record_drive",
    "rover_xml",
]


@dataclass
class RoverFrame:
    """One rendered camera frame."""

    rgb: np.ndarray  # (H, W, 3) uint8
    terrain: np.ndarray  # (H, W) uint8 ground-truth terrain id per pixel, IGNORE_INDEX where no map ground


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
