"""Paint terrain cluster ids along the robot's later path into an earlier camera image.

Frames: world and robot base are x forward, y left, z up, with the base origin on the ground between the
wheels; the camera is OpenCV-style (x right, y down, z along the optical axis). A pose is a 4x4 homogeneous
``world_T_base``; the camera mount is ``base_T_camera``. The ground is taken as locally flat (z = 0 of the
base frame at each pose), as in Zurn et al. (T-RO 2021), who project the future footprint of the robot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

IGNORE_INDEX = 255


@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics of an undistorted pinhole camera (pixels)."""

    fx: float  # focal length along x in pixels
    fy: float  # focal length along y in pixels
    cx: float  # principal point x in pixels
    cy: float  # principal point y in pixels
    width: int  # image width in pixels
    height: int  # image height in pixels

    @classmethod
    def from_vertical_fov(cls, fovy_deg: float, width: int, height: int) -> PinholeCamera:
        """Square-pixel camera with vertical field of view ``fovy_deg`` (as MuJoCo's ``fovy``)."""
        if not 0 < fovy_deg < 180:
            raise ValueError(f"fovy_deg must be in (0, 180) degrees, got {fovy_deg}")
        f = (height / 2) / math.tan(math.radians(fovy_deg) / 2)
        return cls(f, f, (width - 1) / 2, (height - 1) / 2, width, height)

    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1]], dtype=np.float64)


def pose_from_xy_yaw(x: float, y: float, yaw: float, z: float = 0.0) -> np.ndarray:
    """4x4 ``world_T_base`` of a ground robot at (x, y, z) metres heading ``yaw`` radians."""
    c, s = math.cos(yaw), math.sin(yaw)
    pose = np.eye(4)
    pose[:3, :3] = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    pose[:3, 3] = [x, y, z]
    return pose


def yaw_from_quaternion(x: float, y: float, z: float, w: float) -> float:
    """Heading (rotation about z) of a unit quaternion, radians in (-pi, pi]."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def camera_mount(x: float, z: float, pitch_down_deg: float) -> np.ndarray:
    """``base_T_camera`` of a camera at (x, 0, z) metres on the base, looking forward, pitched down.

    The optical axis points along base +x rotated down by ``pitch_down_deg``; image x is base -y, image y is
    base -z (before the pitch).
    """
    p = math.radians(pitch_down_deg)
    # Columns: camera x, y, z axes expressed in the base frame.
    cam_z = np.array([math.cos(p), 0.0, -math.sin(p)])
    cam_x = np.array([0.0, -1.0, 0.0])
    cam_y = np.cross(cam_z, cam_x)
    mount = np.eye(4)
    mount[:3, :3] = np.stack([cam_x, cam_y, cam_z], axis=1)
    mount[:3, 3] = [x, 0.0, z]
    return mount


def project_points(
    points_world: np.ndarray, world_T_camera: np.ndarray, camera: PinholeCamera
) -> tuple[np.ndarray, np.ndarray]:
    """Project ``(N, 3)`` world points; returns pixel coordinates ``(N, 2)`` and depths ``(N,)`` in metres."""
    camera_T_world = np.linalg.inv(world_T_camera)
    p = points_world @ camera_T_world[:3, :3].T + camera_T_world[:3, 3]
    depth = p[:, 2]
    safe = np.where(np.abs(depth) < 1e-9, 1e-9, depth)
    uv = np.stack([camera.fx * p[:, 0] / safe + camera.cx, camera.fy * p[:, 1] / safe + camera.cy], axis=1)
    return uv, depth


def wheel_track_polygons(
    start_pose: np.ndarray, end_pose: np.ndarray, wheel_offsets: np.ndarray, wheel_width: float
) -> np.ndarray:
    """Ground quads swept by each wheel between two poses.

    Args:
        start_pose, end_pose: 4x4 ``world_T_base`` at the start and end of one audio clip.
        wheel_offsets: ``(W, 2)`` wheel contact points (x forward, y left) in metres in the base frame.
        wheel_width: tyre width in metres.

    Returns:
        ``(W, 4, 3)`` world corners per wheel, in order (start left, start right, end right, end left).
    """
    offsets = np.asarray(wheel_offsets, dtype=np.float64)
    if offsets.ndim != 2 or offsets.shape[1] != 2:
        raise ValueError(f"wheel_offsets must be (W, 2) metres in the base frame, got {offsets.shape}")
    half = wheel_width / 2
    corners = []
    for pose, sides in ((start_pose, (half, -half)), (end_pose, (-half, half))):
        for side in sides:
            local = np.column_stack(
                [offsets[:, 0], offsets[:, 1] + side, np.zeros(len(offsets)), np.ones(len(offsets))]
            )
            corners.append((local @ np.asarray(pose).T)[:, :3])
    return np.stack(corners, axis=1)


def paint_track_labels(
    camera: PinholeCamera,
    world_T_camera: np.ndarray,
    polygons: np.ndarray,
    labels: np.ndarray,
    min_depth: float = 0.05,
    max_depth: float = 20.0,
    background: int = IGNORE_INDEX,
) -> np.ndarray:
    """Sparse label image: each ground polygon painted with its label, everything else ``IGNORE_INDEX``.

    Args:
        camera: intrinsics of the image.
        world_T_camera: 4x4 camera pose when the image was taken.
        polygons: ``(M, P, 3)`` world corners of ground polygons (e.g. from :func:`wheel_track_polygons`).
        labels: ``(M,)`` cluster id per polygon, each in [0, 254] (any int32 when ``background`` < 0).
        min_depth, max_depth: polygons with a corner nearer than ``min_depth`` (behind or under the camera)
            or farther than ``max_depth`` metres are skipped.
        background: value of unpainted pixels; a negative value gives an int32 image (e.g. to paint polygon
            indices), otherwise uint8.

    Returns:
        ``(height, width)`` label image; later polygons overwrite earlier ones.
    """
    polygons = np.asarray(polygons, dtype=np.float64)
    labels = np.asarray(labels)
    if polygons.ndim != 3 or polygons.shape[2] != 3 or len(polygons) != len(labels):
        raise ValueError(
            f"polygons must be (M, P, 3) with one label each, got {polygons.shape} and {labels.shape}"
        )
    as_uint8 = background >= 0
    if as_uint8 and len(labels) and (labels.min() < 0 or labels.max() > 255 or np.any(labels == background)):
        raise ValueError(
            f"labels must be in [0, 255] and differ from background {background}, got range "
            f"{labels.min()}..{labels.max()}; use background=-1 for an int32 index image"
        )
    out = np.full((camera.height, camera.width), background, dtype=np.uint8 if as_uint8 else np.int32)
    if len(polygons) == 0:
        return out
    uv, depth = project_points(polygons.reshape(-1, 3), world_T_camera, camera)
    uv = uv.reshape(len(polygons), -1, 2)
    depth = depth.reshape(len(polygons), -1)
    visible = (depth.min(axis=1) > min_depth) & (depth.max(axis=1) < max_depth)
    for poly, label in zip(uv[visible], labels[visible]):
        # Skip polygons whose projection is far outside the image (numerical blow-up near the horizon).
        if np.abs(poly).max() > 1e5:
            continue
        cv2.fillPoly(out, [np.round(poly * 16).astype(np.int32)], int(label), shift=4)
    return out
