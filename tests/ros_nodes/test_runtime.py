"""Runtime helpers without DDS: learner threads lose priority to callbacks; executor choice is validated."""

from __future__ import annotations

import os
import threading

import pytest

from robossl_ros.base import deprioritise_threads
from robossl_ros.runtime import EXECUTORS, default_executor, node_class, spin_nodes


def test_deprioritise_raises_the_nice_value_of_named_threads_only() -> None:
    stop = threading.Event()
    learner = threading.Thread(target=stop.wait, name="learner-under-test", daemon=True)
    other = threading.Thread(target=stop.wait, name="callbacks-under-test", daemon=True)
    learner.start()
    other.start()
    try:
        assert learner.native_id is not None and other.native_id is not None
        before = os.getpriority(os.PRIO_PROCESS, learner.native_id)
        assert deprioritise_threads("learner-under-test", 5) == 1
        assert os.getpriority(os.PRIO_PROCESS, learner.native_id) == min(before + 5, 19)
        assert os.getpriority(os.PRIO_PROCESS, other.native_id) == before
    finally:
        stop.set()


def test_unknown_node_and_executor_are_rejected_before_ros_starts() -> None:
    with pytest.raises(ValueError, match="unknown robossl node 'lidar_node'; known nodes: stereo_mono_node"):
        node_class("lidar_node")
    with pytest.raises(ValueError, match="unknown executor 'turbo'"):
        spin_nodes([], executor="turbo")
    assert default_executor() in EXECUTORS
