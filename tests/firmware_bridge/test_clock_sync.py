"""Clock sync against a simulated device clock with drift, delay jitter and delay outliers."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_bridge.clock_sync import ClockSync, ClockSyncConfig


class SimulatedLink:
    """A device clock running ``drift_ppm`` fast with an offset, behind a link with random one-way delays.

    This is a simulation on purpose: the acceptance criterion is about a known drift and jitter, which a
    real link cannot be made to have.
    """

    def __init__(
        self, drift_ppm: float, offset_s: float, jitter_s: float, seed: int, outlier_rate: float
    ) -> None:
        self.rate = 1.0 + drift_ppm * 1e-6
        self.offset_s = offset_s
        self.jitter_s = jitter_s
        self.outlier_rate = outlier_rate
        self.rng = np.random.default_rng(seed)

    def device_us(self, host_s: float | np.ndarray) -> np.ndarray:
        return np.floor((np.asarray(host_s) * self.rate + self.offset_s) * 1e6).astype(np.int64)

    def host_of_device(self, device_us: np.ndarray) -> np.ndarray:
        return (device_us * 1e-6 - self.offset_s) / self.rate

    def delay(self) -> float:
        d = 200e-6 + abs(self.rng.normal(0.0, self.jitter_s))
        if self.rng.random() < self.outlier_rate:
            d += self.rng.uniform(5e-3, 50e-3)  # scheduler hiccup
        return d

    def round_trip(self, host_send_s: float) -> tuple[float, int, int, float]:
        arrive = host_send_s + self.delay()
        t2 = int(self.device_us(arrive))
        processing = self.rng.uniform(10e-6, 100e-6)
        t3 = int(self.device_us(arrive + processing))
        t4 = arrive + processing + self.delay()
        return host_send_s, t2, t3, t4


@pytest.mark.parametrize("drift_ppm", [50.0, -50.0])
def test_maps_within_1ms_at_p99_after_10s_with_50ppm_drift_and_1ms_jitter(drift_ppm: float) -> None:
    link = SimulatedLink(drift_ppm, offset_s=1234.5, jitter_s=1e-3, seed=1, outlier_rate=0.05)
    sync = ClockSync()
    for t1 in np.arange(0.0, 10.0, 0.1):  # 10 Hz requests for 10 s
        sync.add_round_trip(*link.round_trip(float(t1)))
    # IMU samples over the next 2 s (extrapolating past the last round trip) and the last 2 s.
    truth = np.concatenate([np.arange(8.0, 12.0, 1e-3)])
    device = link.device_us(truth)
    mapped = sync.device_to_host(device)
    error = np.abs(mapped - link.host_of_device(device))
    assert np.percentile(error, 99) < 1e-3, f"p99 error {np.percentile(error, 99) * 1e3:.3f} ms"


def test_without_drift_estimate_a_constant_offset_leaves_errors_growing() -> None:
    """Sanity check that the test above can fail: an offset-only model misses 50 ppm over 10 s."""
    link = SimulatedLink(50.0, offset_s=3.0, jitter_s=1e-3, seed=2, outlier_rate=0.0)
    sync = ClockSync(ClockSyncConfig(min_drift_span_s=1e9))  # never fits drift
    for t1 in np.arange(0.0, 1.0, 0.1):
        sync.add_round_trip(*link.round_trip(float(t1)))
    device = link.device_us(np.arange(60.0, 61.0, 1e-3))
    error = np.abs(sync.device_to_host(device) - link.host_of_device(device))
    assert np.percentile(error, 99) > 2e-3


def test_outlier_round_trips_do_not_move_the_estimate_and_drift_is_measured() -> None:
    link = SimulatedLink(30.0, offset_s=5.0, jitter_s=50e-6, seed=3, outlier_rate=0.0)
    sync = ClockSync()
    for t1 in np.arange(0.0, 5.0, 0.1):
        t1_, t2, t3, t4 = link.round_trip(float(t1))
        if int(t1 * 10) % 4 == 0:
            t4 += 0.080  # 25 % of responses delayed by 80 ms on the way back
        sync.add_round_trip(t1_, t2, t3, t4)
    device = link.device_us(np.array([5.0]))
    assert abs(float(sync.device_to_host(device)[0]) - 5.0) < 200e-6
    assert abs(sync.drift_ppm + 30.0) < 5.0  # a device running fast: host seconds per device second < 1


def test_single_round_trip_gives_offset_and_bad_input_is_explained() -> None:
    sync = ClockSync()
    with pytest.raises(RuntimeError, match="not synced"):
        sync.device_to_host(0)
    sync.add_round_trip(10.0, 5_000_000, 5_000_010, 10.001)
    assert sync.is_synced
    assert sync.device_to_host(5_000_005) == pytest.approx(10.0005, abs=1e-9)
    with pytest.raises(ValueError, match="out of order"):
        sync.add_round_trip(10.0, 5, 6, 9.0)
    with pytest.raises(ValueError, match="rtt_quantile"):
        ClockSyncConfig(rtt_quantile=0.0)


def test_negative_or_absurd_device_times_are_rejected_before_they_poison_the_window() -> None:
    sync = ClockSync()
    with pytest.raises(ValueError, match="out of range"):
        sync.add_round_trip(1.0, -5, 0, 1.001)
    with pytest.raises(ValueError, match="out of range"):
        sync.add_round_trip(1.0, 2**63, 2**63, 1.001)
    assert sync.n_round_trips == 0
    sync.add_round_trip(1.0, 10, 20, 1.001)
    assert sync.is_synced
