"""Labels of the terrain pipeline: clip tracks projected along the driven path into earlier images.

Each audio clip covers a stretch of the path; its wheels' tracks (quads on the ground, world frame) are
painted into the images taken up to ``label_horizon_s`` before it was driven. That gives each clip a visual
descriptor of its track (for triplet mining, :func:`describe_clips`) and, once clips have cluster ids,
sparse label images for the segmentation network (:func:`label_images`). :func:`border_free` judges
without labels which clips may be painted.

Painting is the heavy part. It runs on a snapshot taken under the inputs' lock (images, clips, each clip's
track polygons computed once), outside the lock, so ingestion never waits for it.
"""

from __future__ import annotations

import numpy as np

from robossl.pipelines.terrain.config import TerrainPipelineConfig
from robossl.pipelines.terrain.ingest import AudioClip, TerrainInputs
from robossl.pipelines.terrain.projection import IGNORE_INDEX, paint_track_labels, wheel_track_polygons
from robossl.pipelines.terrain.visual import patch_descriptors

TrackedImage = tuple[np.ndarray, np.ndarray, np.ndarray]  # (image, world_T_camera 4x4, clip indices)


def track_polygons(inputs: TerrainInputs, clip: AudioClip) -> np.ndarray | None:
    """``(W, 4, 3)`` wheel track quads of one clip, computed once (poses do not change); needs the lock."""
    if clip.polygons is None:
        a, b = inputs.pose_at(clip.t0), inputs.pose_at(clip.t1)
        if a is not None and b is not None:
            offsets = np.asarray(inputs.config.wheel_offsets)
            clip.polygons = wheel_track_polygons(a, b, offsets, inputs.config.wheel_width_m)
    return clip.polygons


def clip_polygons(clips: list[AudioClip]) -> tuple[np.ndarray, np.ndarray]:
    """(M * W, 4, 3) track quads of the clips (from the cache) and the clip index of each."""
    polys = [(k, clip.polygons) for k, clip in enumerate(clips) if clip.polygons is not None]
    if not polys:
        return np.zeros((0, 4, 3)), np.zeros(0, dtype=np.int64)
    owners = np.concatenate([np.full(len(quads), k, dtype=np.int64) for k, quads in polys])
    return np.concatenate([quads for _, quads in polys]), owners


def track_snapshot(inputs: TerrainInputs) -> tuple[list[AudioClip], list[TrackedImage]]:
    """Under the lock: the clips, and per stored image that has tracks (image, world_T_camera, indices
    into those clips of the clips driven within the horizon after it)."""
    with inputs.lock:
        if inputs.camera is None or inputs.base_T_camera is None:
            return [], []
        clips = list(inputs.clips)
        for clip in clips:
            track_polygons(inputs, clip)
        starts = np.array([c.t0 for c in clips])
        images = []
        for t, image in inputs.images:
            pose = inputs.pose_at(t)
            if pose is None:
                continue
            inside = np.flatnonzero((starts >= t) & (starts <= t + inputs.config.label_horizon_s))
            if len(inside):
                images.append((image, pose @ inputs.base_T_camera, inside))
        return clips, images


def describe_clips(inputs: TerrainInputs) -> None:
    """Give clips a visual descriptor of their track from the latest earlier image that shows it.

    The latest image sees the track nearest and largest; older ones see it far away and blurred.
    """
    camera = inputs.camera
    assert camera is not None
    clips, images = track_snapshot(inputs)
    for image, world_T_camera, inside in reversed(images):
        todo = [clips[int(i)] for i in inside if clips[int(i)].descriptor is None]
        if not todo:
            continue
        polys, owners = clip_polygons(todo)
        index_map = paint_track_labels(camera, world_T_camera, polys, owners, background=-1)
        desc = patch_descriptors(image, index_map, len(todo), inputs.config.min_patch_pixels)
        for row, clip in enumerate(todo):
            if np.isfinite(desc[row]).all():
                clip.descriptor = desc[row]


def label_images(inputs: TerrainInputs) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image, sparse label image) for every stored image that has painted tracks; labels are the clips'
    cluster ids (``IGNORE_INDEX`` elsewhere). Only clustered clips that passed the border check count."""
    camera = inputs.camera
    if camera is None:
        return []
    clips, images = track_snapshot(inputs)
    out = []
    for image, world_T_camera, inside in images:
        painted = [clips[int(i)] for i in inside if clips[int(i)].cluster >= 0 and clips[int(i)].clean]
        polys, owners = clip_polygons(painted)
        ids = np.array([clip.cluster for clip in painted], dtype=np.int64)
        labels = paint_track_labels(camera, world_T_camera, polys, ids[owners])
        if (labels != IGNORE_INDEX).any():
            out.append((image, labels))
    return out


def border_free(clips: list[AudioClip], ids: np.ndarray, config: TerrainPipelineConfig) -> np.ndarray:
    """``(M,)`` bool: clips unlikely to straddle a terrain border, judged without labels.

    The microphone hears all wheels at once, so a clip driven across a border mixes two sounds and its
    one cluster id would be painted under every wheel. Near a border the clusters of the clips just
    before and after disagree (the wheels reach the new ground one axle after the other); such clips
    are not painted. They still train the embedding.
    """
    clean = np.ones(len(clips), dtype=bool)
    if config.consistency_s > 0 and len(clips):
        starts = np.array([clip.t0 for clip in clips])
        order = np.argsort(starts, kind="stable")
        t, sorted_ids = starts[order], ids[order]
        lo = np.searchsorted(t, t - config.consistency_s - 1e-9, side="left")
        hi = np.searchsorted(t, t + config.consistency_s + 1e-9, side="right")
        agree = np.array([np.mean(sorted_ids[a:b] == sorted_ids[k]) for k, (a, b) in enumerate(zip(lo, hi))])
        clean[order] = agree >= config.consistency_agreement - 1e-9
    return clean
