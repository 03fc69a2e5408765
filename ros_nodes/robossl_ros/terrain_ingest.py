"""``terrain_node``'s ingestion: one thread feeds the terrain pipeline in arrival order.

Audio chunks, poses and images are queued by the subscription callbacks (at most ``queue_depth``; the oldest
is dropped as ``queue_full``) and handed to :class:`robossl.pipelines.terrain.pipeline.TerrainPipeline` by
one thread, which may block while the pipeline learns. Every ``segment_every_n``-th image is segmented with
the network of the last finished round and its labels go out at once. In lock-step (``images_per_round``
> 0) the same thread runs the learning rounds between inputs (:class:`robossl_ros.lockstep.LockstepRounds`)
and reports each image done after its round, so a closed-loop publisher gets the same learning per image on
any machine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from robossl.pipelines.terrain.pipeline import TerrainPipeline
from robossl_ros.lockstep import LockstepRounds
from robossl_ros.worker import LatestWorker

TOPIC_OF_KIND = {"image": "image", "audio": "audio", "pose": "odom"}  # job kind -> the node's topic name


class IngestOutputs(Protocol):
    """What the ingest thread hands back to the node (which publishes and counts)."""

    def publish_labels(self, labels: np.ndarray, stamp_ns: int, frame_id: str) -> None: ...

    def publish_statistics(self) -> None: ...

    def drop_input(self, kind: str, why: BaseException | str) -> None: ...

    def report_error(self, text: str) -> None: ...


class TerrainIngest:
    """Args:
    pipeline: the terrain pipeline fed.
    params: the node's parameters (read when used: ``sample_rate``, ``segment_every_n``,
        ``embedding_steps``, ``segmentation_steps``).
    outputs: the node.
    queue_depth: inputs waiting at most.
    images_per_round: lock-step: one round after every n-th image (0 = the pipeline learns in its own
        background trainer).
    """

    def __init__(
        self,
        pipeline: TerrainPipeline,
        params: Any,
        outputs: IngestOutputs,
        queue_depth: int,
        images_per_round: int = 0,
    ) -> None:
        self.pipeline, self.params, self.outputs = pipeline, params, outputs
        self.images_seen = 0
        self.labels_published = 0
        # Free-running: latest-only images (a newer one replaces the waiting one, dropped as ``stale``), audio
        # and poses in order. Lock-step ingests every image: each one's round is part of the closed loop.
        latest = None if images_per_round > 0 else (lambda job: job[0] == "image")
        self.worker = LatestWorker(
            "terrain-ingest", self._ingest, queue_depth, self._discard, self._error, latest, self._stale
        )
        self.lockstep: LockstepRounds | None = None
        if images_per_round > 0:
            wake: Callable[[], None] = lambda: self.worker.submit(("settle", 0, None))  # noqa: E731
            self.lockstep = LockstepRounds(images_per_round, self._round, wake)

    def submit(self, kind: str, stamp_ns: int, payload: Any) -> None:
        """Queue ``("image", stamp, (rgb, frame_id))``, ``("audio", stamp, samples)`` or ``("pose", stamp,
        (x, y, yaw))``."""
        self.worker.submit((kind, stamp_ns, payload))

    def stop(self, timeout: float = 30.0) -> None:
        self.worker.stop(timeout=timeout)

    def _ingest(self, job: tuple[str, int, Any]) -> None:
        kind, stamp_ns, payload = job
        t = stamp_ns * 1e-9
        if kind == "pose":
            self.pipeline.add_pose(t, payload)
            if self.lockstep:
                self.lockstep.reach.pose(t)
        elif kind == "audio":
            self.pipeline.add_audio(t, payload)
            if self.lockstep:
                self.lockstep.reach.audio(t, len(payload) / self.params["sample_rate"])
        elif kind == "image":
            rgb, frame_id = payload
            if not self.pipeline.add_image(t, rgb):
                self.outputs.drop_input("image", "pipeline_rejected")
                return
            self.images_seen += 1
            if self.images_seen % self.params["segment_every_n"] == 0:
                self.outputs.publish_labels(self.pipeline.segment(rgb), stamp_ns, frame_id)
                self.labels_published += 1
            if self.lockstep and not self.lockstep.image_done(t, self.images_seen):
                self.outputs.publish_statistics()  # no round after this image: it is done now
        if self.lockstep:
            self.lockstep.run_due()

    def _round(self) -> None:
        """Lock-step: one round now (nothing is ingested meanwhile), then report the image done. A failed
        round is reported and ingestion goes on (the robot keeps its last model)."""
        try:
            self.pipeline.learn(self.params["embedding_steps"], self.params["segmentation_steps"])
        except Exception as exc:  # keep the robot's learner alive; report in diagnostics
            self.outputs.report_error(f"terrain learning round failed: {type(exc).__name__}: {exc}")
        self.outputs.publish_statistics()

    def _discard(self, job: tuple[str, int, Any]) -> None:
        if job[0] != "settle":
            self.outputs.drop_input(job[0], "queue_full")

    def _stale(self, job: tuple[str, int, Any]) -> None:
        self.outputs.drop_input(job[0], "stale")

    def _error(self, job: tuple[str, int, Any], exc: BaseException) -> None:
        if job[0] == "settle":
            self.outputs.report_error(f"{type(exc).__name__}: {exc}")
        else:
            self.outputs.drop_input(job[0], exc)
