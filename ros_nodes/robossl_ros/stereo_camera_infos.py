"""The CameraInfo pair of ``stereo_mono_node``: the last valid message per side, why later ones were dropped,
and the calibration an image pair is processed with.

A CameraInfo with NaN/inf, a focal length that is not positive or (right camera) no positive baseline is
rejected as ``bad_calibration`` and the last valid one stays in use. An image pair takes a
:meth:`StereoCameraInfos.snapshot` when it forms (the worker may process it later) and
:meth:`StereoCameraInfos.apply` hands the pipeline a new :class:`StereoCalibration` when the pair changed;
a pair that cannot be rectified is rejected once and then every time it comes back, without rebuilding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sensor_msgs.msg import CameraInfo

from robossl.pipelines.stereo_mono.calibration import StereoCalibration
from robossl_ros.conversions import RejectedInput, camera_model

Snapshot = tuple[CameraInfo | None, CameraInfo | None, dict[str, str]]


class StereoCameraInfos:
    """Args:
    topics: ``{"left": topic, "right": topic}`` of the CameraInfos (named in rejections).
    """

    def __init__(self, topics: dict[str, str]) -> None:
        self.topics = topics
        self._info: dict[str, CameraInfo] = {}  # the last valid CameraInfo per side
        self._problem: dict[str, str] = {}  # side -> why its last CameraInfo was dropped
        self._key: Any = None  # the pair the pipeline's calibration was built from
        self._rejected: tuple[Any, RejectedInput] | None = None  # (key, why) of a pair that cannot be used

    def add(self, side: str, msg: CameraInfo) -> tuple[RejectedInput, bool] | None:
        """Take a CameraInfo; returns None when valid, else ``(why, new)``: ``new`` when the problem differs
        from the one before on that side (log it at once; a repeat is logged throttled)."""
        topic = self.topics[side]
        try:
            camera_model(msg, topic, projection=True, right=side == "right")
        except RejectedInput as exc:
            new = self._problem.get(side) != str(exc)
            self._problem[side] = str(exc)
            return exc, new
        self._info[side] = msg
        self._problem.pop(side, None)
        return None

    def snapshot(self) -> Snapshot:
        """The CameraInfos current now, for an image pair that formed now."""
        return self._info.get("left"), self._info.get("right"), dict(self._problem)

    def apply(self, snapshot: Snapshot, use: Callable[[StereoCalibration], None]) -> bool:
        """Call ``use(calibration)`` when the snapshot's pair differs from the one in use; True when it did.

        ``use`` raises ValueError for a pair it cannot rectify (sizes differ, rectified size too small).

        Raises:
            LookupError: no CameraInfo has arrived on a side (``no_camera_info``).
            RejectedInput: ``bad_calibration``: no valid CameraInfo on a side yet, or the pair does not fit.
        """
        left, right, problems = snapshot
        for side, info in (("left", left), ("right", right)):
            if info is None and side in problems:
                raise RejectedInput("bad_calibration", f"no valid CameraInfo yet: {problems[side]}")
        if left is None or right is None:
            raise LookupError("no CameraInfo yet on both sides")
        key = tuple(tuple(getattr(info, f)) for info in (left, right) for f in ("k", "d", "r", "p")) + (
            left.width,
            left.height,
            right.width,
            right.height,
        )
        if self._rejected is not None and self._rejected[0] == key:
            raise self._rejected[1]
        if key == self._key:
            return False
        try:  # both raise ValueError for a pair they cannot rectify, naming the field
            use(StereoCalibration.from_camera_info(left, right))
        except ValueError as exc:
            topics = " and ".join(self.topics.values())
            rejected = RejectedInput("bad_calibration", f"CameraInfo pair on {topics}: {exc}")
            self._rejected = (key, rejected)
            raise rejected from exc
        self._key = key
        return True


def check_pair_size(left: Any, right: Any, calibrated: tuple[int, int], topic: str) -> None:
    """Raise ``size_mismatch`` when the images (H, W) differ from each other or from the calibrated
    ``(width, height)``."""
    if left.shape != right.shape or left.shape[::-1] != calibrated:
        sizes = f"left {left.shape[1]}x{left.shape[0]}, right {right.shape[1]}x{right.shape[0]}"
        problem = f"stereo pair on {topic}: {sizes}, CameraInfo {calibrated[0]}x{calibrated[1]}"
        raise RejectedInput("size_mismatch", f"{problem}; publish both at the calibrated size")
