"""Approximate-time pairing of two streams (left/right images), ROS-free.

Each arrival looks for the pending message of the other side with the closest stamp. When it is within
``tolerance_ns`` the two form a pair; every pending message older than the pair on either side can no
longer be matched by a newer arrival and is discarded (reported as unpaired). Unmatched arrivals wait in a
bounded queue per side; the oldest is discarded when it overflows.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

SIDES = ("left", "right")


@dataclass
class PairResult:
    """What one arrival produced."""

    pair: tuple[Any, Any] | None  # (left item, right item) when a pair formed
    unpaired: dict[str, int]  # side -> items discarded without a partner


class ApproximatePairer:
    """Pairs items of two sides by nearest stamp within a tolerance (thread-safe).

    Args:
        tolerance_ns: largest stamp difference of a pair [ns] (0 = exact stamps only).
        max_pending: unmatched items kept per side.
    """

    def __init__(self, tolerance_ns: int, max_pending: int = 5) -> None:
        if tolerance_ns < 0:
            raise ValueError(f"pairing tolerance must be >= 0 ns, got {tolerance_ns}")
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending}")
        self.tolerance_ns = int(tolerance_ns)
        self._pending: dict[str, deque[tuple[int, Any]]] = {side: deque() for side in SIDES}
        self._max_pending = max_pending
        self._lock = threading.Lock()

    def add(self, side: str, stamp_ns: int, item: Any) -> PairResult:
        """Offer one item of ``side`` ("left" or "right") stamped ``stamp_ns``."""
        if side not in SIDES:
            raise ValueError(f"side must be 'left' or 'right', got {side!r}")
        other = SIDES[1 - SIDES.index(side)]
        unpaired = {s: 0 for s in SIDES}
        with self._lock:
            candidates = self._pending[other]
            best = min(range(len(candidates)), key=lambda i: abs(candidates[i][0] - stamp_ns), default=None)
            if best is not None and abs(candidates[best][0] - stamp_ns) <= self.tolerance_ns:
                other_stamp, other_item = candidates[best]
                for _ in range(best):  # older than the partner: no newer arrival can be closer to them
                    candidates.popleft()
                    unpaired[other] += 1
                candidates.popleft()
                mine = self._pending[side]
                while mine and mine[0][0] < stamp_ns:
                    mine.popleft()
                    unpaired[side] += 1
                pair = (item, other_item) if side == "left" else (other_item, item)
                return PairResult(pair, unpaired)
            mine = self._pending[side]
            mine.append((stamp_ns, item))
            while len(mine) > self._max_pending:
                mine.popleft()
                unpaired[side] += 1
            return PairResult(None, unpaired)

    def pending(self) -> dict[str, int]:
        """Items waiting per side."""
        with self._lock:
            return {side: len(queue) for side, queue in self._pending.items()}
