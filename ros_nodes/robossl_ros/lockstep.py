"""Lock-step learning rounds for a node fed by a closed-loop publisher (simulations, replays).

A publisher that waits for the node's report of each image before it sends more gets the same learning per
image on any machine. :class:`LockstepRounds` runs one round after every n-th image, in the thread that
ingests the inputs (so the round learns from exactly what came before), once the inputs stamped up to
that image have arrived: DDS does not keep the order between topics, so the audio chunk and the pose a
publisher sent just before the image may still be on their way. It waits until the newest chunk ends, and
the newest pose lies, less than one chunk / pose interval before the image's stamp, or ``settle_s`` at
most (counted in ``settle_timeouts``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

LOCKSTEP_SETTLE_S = 2.0  # wall seconds a lock-step round waits for the inputs stamped up to its image


class InputReach:
    """How far in time the ingested audio and poses reach, seconds (lock-step rounds wait for it)."""

    def __init__(self) -> None:
        self.audio_until = self.pose_until = -math.inf  # end of the newest chunk, time of the newest pose
        self.audio_chunk_s = self.pose_gap_s = 0.0  # length of that chunk, interval before that pose

    def audio(self, start: float, duration: float) -> None:
        self.audio_until, self.audio_chunk_s = start + duration, duration

    def pose(self, t: float) -> None:
        if math.isfinite(self.pose_until):
            self.pose_gap_s = t - self.pose_until
        self.pose_until = t

    def covers(self, t: float) -> bool:
        """Whether the chunk and the pose a publisher sends last before an image stamped ``t`` are in:
        the next chunk would end, and the next pose lie, after ``t``."""
        margin = 1e-6
        return (
            self.audio_until > t - self.audio_chunk_s + margin
            and self.pose_until > t - self.pose_gap_s + margin
        )


class LockstepRounds:
    """One round after every ``images_per_round``-th image, once the inputs up to it are in.

    Args:
        images_per_round: images per learning round (> 0).
        run_round: runs one round and reports the image done (called in the ingest thread).
        wake: asks the ingest thread to call :meth:`run_due` again (after ``settle_s`` without new input).
        settle_s: longest wait for the inputs stamped up to the image, wall seconds.
    """

    def __init__(
        self,
        images_per_round: int,
        run_round: Callable[[], None],
        wake: Callable[[], None],
        settle_s: float = LOCKSTEP_SETTLE_S,
    ) -> None:
        if images_per_round < 1:
            raise ValueError(f"images_per_round must be >= 1 for lock-step learning, got {images_per_round}")
        self.images_per_round = images_per_round
        self.reach = InputReach()
        self.settle_s = settle_s
        self.settle_timeouts = 0  # rounds that ran before the inputs up to their image were in
        self._run_round, self._wake = run_round, wake
        self._due: tuple[float, float] | None = None  # round waiting: (image time s, wall deadline)

    def image_done(self, t: float, images_seen: int) -> bool:
        """After image number ``images_seen`` (stamp ``t`` s) was handled: a round still waiting runs now;
        True when this image completes ``images_per_round`` (its round and report follow), False when the
        caller reports the image itself."""
        self.run_due(force=True)
        if images_seen % self.images_per_round:
            return False
        self._due = (t, time.monotonic() + self.settle_s)
        timer = threading.Timer(self.settle_s, self._wake)
        timer.daemon = True
        timer.start()
        return True

    def run_due(self, force: bool = False) -> None:
        """Run the waiting round when the inputs up to its image are in, its deadline passed, or ``force``."""
        if self._due is None:
            return
        t, deadline = self._due
        covered = self.reach.covers(t)
        if not (covered or force or time.monotonic() >= deadline):
            return
        if not covered:
            self.settle_timeouts += 1
        self._due = None
        self._run_round()
