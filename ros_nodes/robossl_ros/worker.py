"""A single processing thread fed by a small bounded queue (subscription callbacks stay cheap).

When the queue is full the oldest job is discarded and reported through ``on_discard`` so that the node
counts it (``queue_full``): a robot should process the newest frame, never fall further behind.

Latest-only jobs (``latest_only(job)`` true, e.g. camera frames): at most one of them waits. A newer one
replaces it, and the replaced job goes to ``on_discard`` (the node counts it by reason, e.g. ``stale``), so
a frame is never queued behind another frame; other jobs (audio chunks, poses) keep their order and depth.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Any


class LatestWorker:
    """Runs ``handler(job)`` in one daemon thread, in arrival order, keeping at most ``depth`` waiting jobs.

    Args:
        name: thread name.
        handler: called with each job; exceptions go to ``on_error`` and the thread continues.
        depth: waiting jobs kept (>= 1).
        on_discard: called with a job discarded because the queue was full.
        on_error: called with (job, exception) when ``handler`` raised.
        latest_only: jobs for which it returns True are latest-only (see module docstring); None: none.
        on_stale: called with a latest-only job a newer one replaced (None: ``on_discard``).
    """

    def __init__(
        self,
        name: str,
        handler: Callable[[Any], None],
        depth: int,
        on_discard: Callable[[Any], None],
        on_error: Callable[[Any, BaseException], None],
        latest_only: Callable[[Any], bool] | None = None,
        on_stale: Callable[[Any], None] | None = None,
    ) -> None:
        if depth < 1:
            raise ValueError(f"queue depth must be >= 1, got {depth}")
        self._handler = handler
        self._on_discard = on_discard
        self._on_error = on_error
        self._latest_only = latest_only
        self._on_stale = on_stale or on_discard
        self._jobs: collections.deque[Any] = collections.deque()
        self._depth = depth
        self._cond = threading.Condition()
        self._stop = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Any) -> None:
        """Queue a job (discarding the oldest waiting one when full, or the waiting latest-only job that a
        latest-only ``job`` replaces)."""
        discarded: list[Any] = []
        stale: list[Any] = []
        with self._cond:
            if self._stop:
                return
            if self._latest_only is not None and self._latest_only(job):
                kept: collections.deque[Any] = collections.deque()
                for waiting in self._jobs:  # by position, not equality: jobs may hold numpy arrays
                    (stale if self._latest_only(waiting) else kept).append(waiting)
                self._jobs = kept
            self._jobs.append(job)
            if len(self._jobs) > self._depth:
                discarded.append(self._jobs.popleft())
            self._cond.notify()
        for old in stale:
            self._on_stale(old)
        for old in discarded:
            self._on_discard(old)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._stop:
                    self._cond.wait()
                if self._stop and not self._jobs:
                    return
                job = self._jobs.popleft()
                self._busy = True
            try:
                self._handler(job)
            except Exception as exc:  # one bad job must not stop the node's processing
                self._on_error(job, exc)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until no job is waiting or running. Returns False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._jobs and not self._busy, timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the waiting jobs, then end the thread."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout)
