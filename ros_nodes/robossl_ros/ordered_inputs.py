"""Accepted inputs handled at once, or in arrival order by one input thread (lock-step learning).

A lock-step node grants training steps for an input and waits for them before it takes the next one; that
wait must not block the executor's callbacks, so the inputs queue up here for one thread that handles them
in the order they arrived. Free-running, :meth:`OrderedInputs.submit` handles the input in the caller.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any


class OrderedInputs:
    """Args:
    handle: called with each submitted item.
    threaded: True: a daemon thread called ``name`` handles the items in order; False: the caller does.
    name: the thread's name.
    """

    def __init__(self, handle: Callable[[Any], None], threaded: bool, name: str = "inputs") -> None:
        self._handle = handle
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._done = object()  # the end marker close() sends
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._thread.start()

    @property
    def threaded(self) -> bool:
        return self._thread is not None

    @property
    def backlog(self) -> int:
        """Items waiting for the input thread (0 when not threaded)."""
        return self._queue.qsize()

    def submit(self, item: Any) -> None:
        """Handle ``item`` now (not threaded) or queue it for the input thread."""
        if self._thread is None:
            self._handle(item)
        else:
            self._queue.put(item)

    def _run(self) -> None:
        while (item := self._queue.get()) is not self._done:
            self._handle(item)

    def close(self, timeout: float = 10.0) -> int:
        """Drop the items not yet handled (the owner stops now, not after them), let the item in progress
        finish (up to ``timeout`` seconds) and return how many were dropped."""
        if self._thread is None:
            return 0
        dropped = 0
        while True:
            try:
                self._queue.get_nowait()
                dropped += 1
            except queue.Empty:
                break
        self._queue.put(self._done)
        self._thread.join(timeout=timeout)
        return dropped
