"""LatestWorker: jobs in arrival order, a bounded queue, latest-only frames never queued behind frames."""

from __future__ import annotations

import threading

import numpy as np

from robossl_ros.worker import LatestWorker


class Blocked:
    """A handler held inside its first job until released, so that the test controls what waits."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.handled: list[object] = []

    def __call__(self, job: object) -> None:
        self.entered.set()
        self.release.wait(10)
        self.handled.append(job[:2] if isinstance(job, tuple) else job)


def test_a_newer_frame_replaces_the_waiting_frame_and_the_stale_one_is_reported() -> None:
    handler, discarded, stale = Blocked(), [], []
    worker = LatestWorker(
        "t",
        handler,
        depth=100,
        on_discard=discarded.append,
        on_error=lambda j, e: None,
        latest_only=lambda job: job[0] == "image",
        on_stale=stale.append,
    )
    worker.submit(("image", 0, np.zeros(3)))  # taken at once: the handler blocks in it
    assert handler.entered.wait(5)
    worker.submit(("image", 1, np.zeros(3)))
    worker.submit(("audio", 2, np.zeros(3)))
    worker.submit(("image", 3, np.zeros(3)))  # replaces image 1, which never runs
    worker.submit(("audio", 4, np.zeros(3)))
    worker.submit(("image", 5, np.zeros(3)))  # replaces image 3
    handler.release.set()
    assert worker.drain(5)
    worker.stop()
    assert [job[:2] for job in stale] == [("image", 1), ("image", 3)]
    assert discarded == []  # nothing was dropped for a full queue
    # audio keeps its order and is never dropped; the newest frame is processed after what came before it
    assert handler.handled == [("image", 0), ("audio", 2), ("audio", 4), ("image", 5)]


def test_without_latest_only_frames_queue_up_to_depth() -> None:
    handler, discarded = Blocked(), []
    worker = LatestWorker("t", handler, depth=2, on_discard=discarded.append, on_error=lambda j, e: None)
    worker.submit(0)
    assert handler.entered.wait(5)
    for job in (1, 2, 3):
        worker.submit(job)
    handler.release.set()
    assert worker.drain(5)
    worker.stop()
    assert discarded == [1] and handler.handled == [0, 2, 3]
