"""OrderedInputs: lock-step inputs handled in arrival order by one thread; close drops the backlog."""

from __future__ import annotations

import threading
import time

from robossl_ros.ordered_inputs import OrderedInputs


def test_free_running_handles_in_the_caller() -> None:
    handled: list[tuple[int, str]] = []
    inputs = OrderedInputs(lambda item: handled.append((item, threading.current_thread().name)), False)
    inputs.submit(1)
    assert handled == [(1, threading.current_thread().name)] and not inputs.threaded
    assert inputs.backlog == 0 and inputs.close() == 0


def test_threaded_handles_every_item_in_order_in_its_thread() -> None:
    handled: list[int] = []
    names: set[str] = set()

    def handle(item: int) -> None:
        names.add(threading.current_thread().name)
        handled.append(item)

    inputs = OrderedInputs(handle, True, "har-inputs")
    for i in range(200):
        inputs.submit(i)
    deadline = time.monotonic() + 10
    while len(handled) < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert handled == list(range(200)) and names == {"har-inputs"}
    assert inputs.close() == 0


def test_close_drops_the_backlog_and_lets_the_item_in_progress_finish() -> None:
    release, started = threading.Event(), threading.Event()
    handled: list[int] = []

    def handle(item: int) -> None:
        started.set()
        release.wait(10)
        handled.append(item)

    inputs = OrderedInputs(handle, True)
    for i in range(5):
        inputs.submit(i)
    assert started.wait(10)
    assert inputs.backlog == 4  # item 0 in progress
    threading.Timer(0.2, release.set).start()
    assert inputs.close(timeout=10) == 4
    assert handled == [0]  # finished; the four waiting were dropped, not handled
