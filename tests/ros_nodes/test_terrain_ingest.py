"""terrain_node's ingestion thread: free-running it keeps only the newest waiting image (a stale one is
dropped and counted as ``stale``), while audio and poses keep their order; lock-step ingests every image."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from robossl.pipelines.terrain.pipeline import TerrainPipeline
from robossl_ros.terrain_ingest import TerrainIngest


class Outputs:
    """Records what the ingestion thread hands to its node (the IngestOutputs interface)."""

    def __init__(self) -> None:
        self.drops: list[tuple[str, str]] = []
        self.labels: list[int] = []

    def publish_labels(self, labels: np.ndarray, stamp_ns: int, frame_id: str) -> None:
        self.labels.append(stamp_ns)

    def publish_statistics(self) -> None:
        pass

    def drop_input(self, kind: str, why: BaseException | str) -> None:
        self.drops.append((kind, str(why)))

    def report_error(self, text: str) -> None:
        raise AssertionError(text)


def ingest_while_blocked(images_per_round: int) -> tuple[TerrainIngest, Outputs, TerrainPipeline]:
    pipeline = TerrainPipeline()
    outputs = Outputs()
    params: dict[str, Any] = {"sample_rate": 16000, "segment_every_n": 1}
    ingest = TerrainIngest(pipeline, params, outputs, queue_depth=100, images_per_round=images_per_round)
    image = np.zeros((48, 64, 3), np.uint8)
    with pipeline.inputs.lock:  # the ingestion thread blocks in the first pose until released
        ingest.submit("pose", 1_000_000_000, (0.0, 0.0, 0.0))
        time.sleep(0.2)
        ingest.submit("image", 1_100_000_000, (image, "camera"))
        ingest.submit("audio", 1_150_000_000, np.zeros(1024, np.int16))
        ingest.submit("image", 1_200_000_000, (image, "camera"))
        ingest.submit("pose", 1_250_000_000, (0.1, 0.0, 0.0))
        ingest.submit("image", 1_300_000_000, (image, "camera"))
    assert ingest.worker.drain(10)
    ingest.stop()
    return ingest, outputs, pipeline


def test_free_running_keeps_only_the_newest_waiting_image() -> None:
    ingest, outputs, pipeline = ingest_while_blocked(images_per_round=0)
    assert outputs.drops == [("image", "stale"), ("image", "stale")]
    assert ingest.images_seen == 1 and outputs.labels == [1_300_000_000]
    assert pipeline.stats()["images"] == 1


def test_lockstep_ingests_every_image() -> None:
    ingest, outputs, _ = ingest_while_blocked(images_per_round=100)
    assert outputs.drops == []
    assert ingest.images_seen == 3
