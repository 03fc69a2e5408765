"""Host time for the device times of a serial link's messages: the device's clock fit while its stamps are
plausible, else the offset learnt from arrival times; implausible stamps are dropped and counted.

One :class:`HostStamper` per bridge, used by its reader thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from firmware_bridge.clock_sync import ArrivalClock, ClockFit, ClockSync
from firmware_bridge.messages import Message
from firmware_bridge.received import span_us

log = logging.getLogger("firmware_bridge.bridge")  # the bridge's log, as before the split


class HostStamper:
    """Args:
    clock_of: the device's :class:`ClockSync` (time-sync fit) by device id.
    max_future_s: a message stamped this long after it arrived is dropped, seconds.
    max_age_s: a message whose last sample is stamped this long before arrival is dropped, seconds.
    clock_step_confirmations: consecutive implausible messages that drop a device's clock fit.
    """

    def __init__(
        self,
        clock_of: Callable[[int], ClockSync],
        max_future_s: float,
        max_age_s: float,
        clock_step_confirmations: int,
    ) -> None:
        self._clock_of = clock_of
        self.max_future_s, self.max_age_s = max_future_s, max_age_s
        self.clock_step_confirmations = clock_step_confirmations
        self._arrival: dict[int, ArrivalClock] = {}  # per-device offset from arrival times (no sync needed)
        self._implausible: dict[int, int] = {}  # consecutive messages the clock fit stamped implausibly
        self._fit_resets: dict[int, int] = {}  # clock fits dropped because the device's stamps left them
        self.dropped = {
            "future_device_time": 0,  # messages dropped: stamped more than max_future_s after arrival
            "stale_device_time": 0,  # messages dropped: stamped more than max_age_s before arrival
        }

    def observe_arrivals(self, messages: list[Message], receive_time_s: float) -> None:
        """One read's frames share a receive time: the newest frame of each device bounds its offset."""
        bounds: dict[int, float] = {}
        for message in messages:
            end_us = message.header.device_time_us + span_us(message.body)
            if 0 <= end_us < 2**62:  # absurd times are dropped (and counted) when stamped
                device = message.header.device_id
                bounds[device] = min(bounds.get(device, np.inf), receive_time_s - end_us * 1e-6)
        for device, bound in bounds.items():
            if device not in self._arrival:
                self._arrival[device] = ArrivalClock(self.max_future_s, self.clock_step_confirmations)
            self._arrival[device].observe(bound)

    def clock_jumps(self, device_id: int) -> int:
        """Clock fits dropped for implausible stamps plus the arrival offset's re-anchorings."""
        arrival = self._arrival.get(device_id)
        return self._fit_resets.get(device_id, 0) + (0 if arrival is None else arrival.jumps)

    def stamp(
        self, device_id: int, device_time_us: int, span_us: int, receive_time_s: float
    ) -> tuple[float, ClockFit | None] | None:
        """(host time of ``device_time_us``, the clock fit used or None), or None to drop the message.

        The clock fit is used while its stamps are plausible: the first sample not more than
        ``max_future_s`` after the arrival, the last not more than ``max_age_s`` before it. Otherwise
        (before sync, or when the device's clock stepped away from the fit) the arrival-time offset is
        used; after ``clock_step_confirmations`` consecutive implausible stamps the fit is dropped, so a
        device that no longer answers time sync after a reboot does not keep a stale fit. A message that
        neither stamps plausibly is dropped and counted (``future_device_time`` / ``stale_device_time``).
        """
        clock = self._clock_of(device_id)
        fit = clock.snapshot()
        candidates: list[tuple[float, ClockFit | None]] = []
        if fit is not None:
            candidates.append((float(fit.device_to_host(device_time_us)), fit))
        arrival = self._arrival.get(device_id)
        if arrival is not None and arrival.offset_s is not None:
            candidates.append((arrival.device_to_host(device_time_us), None))
        for host_time, used in candidates:
            plausible = (
                host_time <= receive_time_s + self.max_future_s
                and host_time + span_us * 1e-6 >= receive_time_s - self.max_age_s
            )
            if used is not None:
                if plausible:
                    self._implausible[device_id] = 0
                    return host_time, used
                misses = self._implausible.get(device_id, 0) + 1
                self._implausible[device_id] = misses
                if misses >= self.clock_step_confirmations:
                    clock.reset()
                    self._implausible[device_id] = 0
                    self._fit_resets[device_id] = self._fit_resets.get(device_id, 0) + 1
                    log.warning(
                        "device %d: %d messages in a row stamped outside [-%.1f s, +%.1f s] of their "
                        "arrival by the clock fit; dropped the fit (clock step or reboot?)",
                        device_id,
                        misses,
                        self.max_age_s,
                        self.max_future_s,
                    )
            elif plausible:
                return host_time, None
        if not candidates:
            return receive_time_s - span_us * 1e-6, None  # no usable device time: stamp at arrival
        key = "future_device_time" if candidates[0][0] > receive_time_s else "stale_device_time"
        self.dropped[key] += 1
        log.warning(
            "dropped a message from device %d: device time %d us maps to %.3f s, %.3f s from its arrival "
            "(%s); a clock step or a bogus stamp",
            device_id,
            device_time_us,
            candidates[0][0],
            candidates[0][0] - receive_time_s,
            key,
        )
        return None
