"""The demo's end of the drone stage's DDS link to stereo_mono_node: publish one stereo pair with its
CameraInfos under a fresh stamp (:func:`publish_frame`), collect the node's outputs by stamp and wait for one
frame's (:class:`Replies`), and wait out the node's start-up (:func:`warm_up`).
"""

from __future__ import annotations

import threading
import time
from typing import Any

# ROS message modules are imported inside the functions: this module is imported where ROS may not start.


class Replies:
    """Node outputs keyed by stamp, with a condition to wait for a frame's."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.distance: dict[int, tuple[float, float]] = {}  # stamp -> (metres, receive monotonic)
        self.depth: dict[int, Any] = {}
        self.disparity: dict[int, Any] = {}
        self.mode = "stereo"

    def put(self, table: str, stamp: int, value: Any) -> None:
        with self.cond:
            getattr(self, table)[stamp] = value
            self.cond.notify_all()

    def set_mode(self, mode: str) -> None:
        with self.cond:
            self.mode = mode

    def wait_frame(self, stamp: int, timeout_s: float) -> tuple[Any, Any, Any, str]:
        """(distance, mono depth, stereo depth, mode) of ``stamp``; None for what did not come in time.
        Older frames' leftovers are dropped."""
        deadline = time.monotonic() + timeout_s
        tables = (self.distance, self.depth, self.disparity)
        with self.cond:
            while not all(stamp in table for table in tables):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            # the mode is published before the frame's outputs, so it is this frame's
            found = tuple(table.pop(stamp, None) for table in tables)
            for table in tables:
                table.clear()
            return found[0], found[1], found[2], self.mode


def publish_frame(ros: Any, pubs: dict[str, Any], render: Any, calibration: Any) -> int:
    """Publish both CameraInfos and the stereo pair with one fresh stamp; returns the stamp."""
    from robossl_ros.conversions import image_msg, stereo_camera_infos

    stamp = ros.now_ns()
    left_info, right_info = stereo_camera_infos(calibration, stamp, ("drone_left", "drone_right"))
    pubs["left_info"].publish(left_info)
    pubs["right_info"].publish(right_info)
    pubs["left"].publish(image_msg(render.left, "rgb8", stamp, "drone_left"))
    pubs["right"].publish(image_msg(render.right, "rgb8", stamp, "drone_right"))
    return stamp


def warm_up(ros: Any, pubs: dict[str, Any], room: Any, replies: Replies, timeout_s: float = 120.0) -> None:
    """Publish the start view until the node answers it (on its first pair it loads the checkpoint and
    builds SGBM and the ONNX student). Each try waits long, so normally exactly one warm-up pair reaches
    the node: every processed pair is learned from, and the flight should not depend on start-up speed."""
    render = room.render()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stamp = publish_frame(ros, pubs, render, room.calibration)
        if replies.wait_frame(stamp, min(30.0, max(deadline - time.monotonic(), 0.1)))[0] is not None:
            return
    raise RuntimeError(
        f"stereo_mono_node did not answer a stereo pair within {timeout_s:.0f} s (see its log)"
    )
