"""Device-to-host clock mapping from time-sync round trips (NTP-style), robust to delay outliers.

Each round trip gives four stamps: host send t1, device receive t2, device send t3, host receive t4. If the
two one-way delays are equal, the device instant (t2 + t3) / 2 happened at host time (t1 + t4) / 2. Delays
are not equal, and a scheduler hiccup can add tens of milliseconds to one of them, so the estimator

1. keeps the last ``window`` round trips,
2. uses only those with a round-trip time (t4 - t1) - (t3 - t2) at or below the ``rtt_quantile`` of the
   window (short round trips bound the asymmetry error by half their length),
3. fits host = a + b * device by least squares, then drops points whose residual is more than
   ``outlier_mads`` median absolute deviations from the median and refits,
4. fits the offset only (b = 1) while the kept points span less than ``min_drift_span_s``, because a
   slope from a short span amplifies jitter.

Drift (ppm) = (b - 1) * 1e6. Host times are seconds in whatever clock the caller stamps t1 and t4 with.

Clock steps (a device reboot restarts its counter; its clock may be set from GPS or a host): a round trip
more than ``max_step_s`` (plus half its RTT) away from the current fit is held back. One such round trip
(a CRC-valid response with a bogus device time) never enters the window; once ``step_confirmations``
consecutive held-back round trips agree with each other, the window is replaced by them and the step is
counted in :attr:`ClockSync.clock_jumps`.

Before any round trip (a device that does not answer time sync, or not yet), :class:`ArrivalClock`
estimates the offset from arrival times alone.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass
class ClockSyncConfig:
    """Settings of :class:`ClockSync`."""

    window: int = 128  # round trips kept (at 10 Hz: the last 12.8 s)
    rtt_quantile: float = 0.5  # keep round trips whose RTT is at or below this quantile of the window
    outlier_mads: float = 4.0  # residuals beyond this many MADs from the median are dropped before refitting
    min_drift_span_s: float = 2.0  # kept points must span this much device time before drift is estimated
    max_drift_ppm: float = 1000.0  # a fitted drift beyond this is treated as a bad fit (offset-only instead)
    max_step_s: float = 0.5  # a round trip this far (+ RTT/2) from the fit is a possible clock step, seconds
    step_confirmations: int = 3  # consecutive agreeing round trips that confirm a clock step

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be >= 1 round trip, got {self.window}")
        if not 0.0 < self.rtt_quantile <= 1.0:
            raise ValueError(f"rtt_quantile must be in (0, 1], got {self.rtt_quantile}")
        if not self.max_step_s > 0 or self.step_confirmations < 1:
            raise ValueError(
                f"max_step_s must be > 0 s and step_confirmations >= 1, got {self.max_step_s} and "
                f"{self.step_confirmations}"
            )


@dataclass(frozen=True)
class ClockFit:
    """One immutable estimate: host_s = intercept_s + slope * (device_us - ref_device_us) * 1e-6."""

    ref_device_us: int  # device time the line is centred on (keeps float64 exact), microseconds
    intercept_s: float  # host time at ref_device_us, seconds
    slope: float  # host seconds per device second

    def device_to_host(self, device_time_us: int | float | np.ndarray) -> float | np.ndarray:
        """Host time (seconds) of device time(s) in microseconds; an array maps element-wise."""
        rel = (np.asarray(device_time_us, dtype=np.int64) - self.ref_device_us).astype(np.float64) * 1e-6
        host = self.intercept_s + self.slope * rel
        return float(host) if np.ndim(host) == 0 else host


class ClockSync:
    """Maps one device's microsecond clock to host seconds.

    Thread-safe for one writer (``add_round_trip``) and any number of readers: each refit replaces one
    immutable :class:`ClockFit`, which readers take with :meth:`snapshot`.
    """

    def __init__(self, config: ClockSyncConfig | None = None) -> None:
        self.config = config or ClockSyncConfig()
        self._trips: deque[tuple[float, int, int, float]] = deque(maxlen=self.config.window)
        self._held: list[tuple[float, int, int, float]] = []  # consecutive round trips far from the fit
        self._fit_now: ClockFit | None = None  # latest estimate, replaced whole on every refit
        self.last_rtt_s = float("nan")  # round-trip time of the latest round trip, seconds
        self.clock_jumps = 0  # confirmed clock steps (the window was replaced)

    def reset(self) -> None:
        """Forget every round trip and the fit (e.g. the device's stamps no longer match it)."""
        self._trips.clear()
        self._held.clear()
        self._fit_now = None

    @property
    def is_synced(self) -> bool:
        """True once at least one round trip was added."""
        return self._fit_now is not None

    def snapshot(self) -> ClockFit | None:
        """The current estimate (None before the first round trip); stays valid after later refits."""
        return self._fit_now

    @property
    def drift_ppm(self) -> float:
        """How much faster the host clock runs than the device clock, parts per million."""
        fit = self._fit_now
        return (fit.slope - 1.0) * 1e6 if fit is not None else 0.0

    @property
    def offset_s(self) -> float:
        """Host time minus device time at the fit's reference point, seconds."""
        fit = self._fit_now
        return fit.intercept_s - fit.ref_device_us * 1e-6 if fit is not None else 0.0

    @property
    def n_round_trips(self) -> int:
        return len(self._trips)

    def add_round_trip(
        self, host_send_s: float, device_rx_us: int, device_tx_us: int, host_recv_s: float
    ) -> None:
        """Add one request/response exchange and refit.

        Args:
            host_send_s: t1, host time the request was sent, seconds.
            device_rx_us: t2, device time the request arrived, microseconds.
            device_tx_us: t3, device time the response was sent, microseconds.
            host_recv_s: t4, host time the response arrived, seconds.

        Raises:
            ValueError: if the stamps are not ordered (t4 < t1 or t3 < t2): a sign of swapped arguments;
                or if a device time is negative or absurdly large.
        """
        if host_recv_s < host_send_s or device_tx_us < device_rx_us:
            raise ValueError(
                f"round trip stamps out of order (t1={host_send_s}, t2={device_rx_us}, t3={device_tx_us}, "
                f"t4={host_recv_s}): pass host send, device receive, device send, host receive"
            )
        if not (0 <= device_rx_us < 2**62 and 0 <= device_tx_us < 2**62):
            raise ValueError(f"device times {device_rx_us}, {device_tx_us} us are out of range (0 .. 2**62)")
        trip = (host_send_s, int(device_rx_us), int(device_tx_us), host_recv_s)
        self.last_rtt_s = (host_recv_s - host_send_s) - (device_tx_us - device_rx_us) * 1e-6
        if self._is_step(trip):
            self._held.append(trip)
            if len(self._held) < self.config.step_confirmations:
                return  # wait: one bogus device time must not move the mapping
            self._trips.clear()
            self._trips.extend(self._held)
            self.clock_jumps += 1
        else:
            self._trips.append(trip)
        self._held.clear()
        self._fit()

    def _is_step(self, trip: tuple[float, int, int, float]) -> bool:
        """True when ``trip`` disagrees with the current fit by more than ``max_step_s`` (+ RTT/2).

        Also keeps the held-back round trips consecutive and mutually agreeing: a trip that disagrees with
        the previous held-back one starts a new run.
        """
        fit = self._fit_now
        if fit is None:
            return False
        t1, t2, t3, t4 = trip
        tolerance = self.config.max_step_s + max(self.last_rtt_s, 0.0) / 2
        if abs((t1 + t4) / 2 - float(fit.device_to_host((t2 + t3) // 2))) <= tolerance:
            return False
        if self._held:
            h1, h2, h3, h4 = self._held[-1]
            offset, held_offset = (t1 + t4 - (t2 + t3) * 1e-6) / 2, (h1 + h4 - (h2 + h3) * 1e-6) / 2
            if abs(offset - held_offset) > tolerance or t2 <= h3:
                self._held.clear()
        return True

    def device_to_host(self, device_time_us: int | float | np.ndarray) -> float | np.ndarray:
        """Host time (seconds) of device time(s) in microseconds; an array maps element-wise.

        Raises:
            RuntimeError: before the first round trip (check :attr:`is_synced`).
        """
        fit = self._fit_now
        if fit is None:
            raise RuntimeError("clock not synced yet: add at least one round trip (device answers time sync)")
        return fit.device_to_host(device_time_us)

    def _fit(self) -> None:
        trips = np.array([(t1, t4) for t1, _, _, t4 in self._trips], dtype=np.float64)
        dev = np.array([(t2, t3) for _, t2, t3, _ in self._trips], dtype=np.int64)
        ref = int(dev[-1, 0])
        x = ((dev[:, 0] - ref) + (dev[:, 1] - ref)).astype(np.float64) * 0.5e-6  # device seconds from ref
        y = trips.mean(axis=1)  # host midpoints, seconds
        rtt = (trips[:, 1] - trips[:, 0]) - (dev[:, 1] - dev[:, 0]) * 1e-6
        keep = rtt <= np.quantile(rtt, self.config.rtt_quantile)
        slope, intercept = self._line(x[keep], y[keep])
        residual = y - (intercept + slope * x)
        median = np.median(residual[keep])
        mad = max(float(np.median(np.abs(residual[keep] - median))), 1e-6)
        keep &= np.abs(residual - median) <= self.config.outlier_mads * mad
        slope, intercept = self._line(x[keep], y[keep])
        self._fit_now = ClockFit(ref, intercept, slope)

    def _line(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """Least-squares host = intercept + slope * x; offset-only when the span is too short."""
        if x.size == 0:  # cannot happen (the shortest round trip is always kept); keep a neutral line
            return 1.0, float(np.median(y))
        if x.size >= 3 and np.ptp(x) >= self.config.min_drift_span_s:
            x_mean, y_mean = x.mean(), y.mean()
            slope = float(np.sum((x - x_mean) * (y - y_mean)) / np.sum((x - x_mean) ** 2))
            if abs(slope - 1.0) * 1e6 <= self.config.max_drift_ppm:
                return slope, float(y_mean - slope * x_mean)
        return 1.0, float(np.median(y - x))


class ArrivalClock:
    """Device-to-host offset from arrival times alone, for stamps before (or without) time sync.

    A frame cannot arrive before its last sample was taken, so ``receive_s - last_sample_device_s`` bounds
    the offset from above; the smallest bound seen (the least-delayed frame) is the estimate, and host
    time = device time + offset keeps the device's own sample spacing. Frames decoded from one read share
    one receive time, so the caller passes the smallest bound of a read (its newest frame): all frames of
    the read get increasing stamps at or before the arrival.

    A bound more than ``max_step_s`` away from the estimate (a device reboot, a clock set from GPS, a bogus
    device time, a stalled link) is held back until ``confirmations`` consecutive reads agree within
    ``max_step_s``; then it replaces the estimate and counts in :attr:`jumps`.
    """

    def __init__(self, max_step_s: float = 1.0, confirmations: int = 3) -> None:
        if not max_step_s > 0 or confirmations < 1:
            raise ValueError(
                f"max_step_s must be > 0 s and confirmations >= 1, got {max_step_s} and {confirmations}"
            )
        self.max_step_s = max_step_s
        self.confirmations = confirmations
        self.offset_s: float | None = None  # host seconds minus device seconds; None before any frame
        self.jumps = 0  # confirmed steps
        self._held: list[float] = []

    def observe(self, bound_s: float) -> None:
        """Take one read's bound ``receive_s - newest_device_time_s`` (seconds)."""
        if self.offset_s is None:
            self.offset_s = bound_s
            return
        if abs(bound_s - self.offset_s) <= self.max_step_s:
            self.offset_s = min(self.offset_s, bound_s)
            self._held.clear()
            return
        if self._held and abs(bound_s - self._held[-1]) > self.max_step_s:
            self._held.clear()
        self._held.append(bound_s)
        if len(self._held) >= self.confirmations:
            self.offset_s = min(self._held)
            self._held.clear()
            self.jumps += 1

    def device_to_host(self, device_time_us: int) -> float:
        """Host time (seconds) of a device time in microseconds.

        Raises:
            RuntimeError: before the first :meth:`observe`.
        """
        if self.offset_s is None:
            raise RuntimeError("no frame seen yet: call observe() with a frame's arrival first")
        return device_time_us * 1e-6 + self.offset_s
