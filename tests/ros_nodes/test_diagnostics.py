"""Input accounting (no ROS) and the /diagnostics message a node publishes (real rclpy, in-process)."""

from __future__ import annotations

import time

import pytest

from robossl.data.bags.image_codec import ImageSizeError, ImageStepError, UnsupportedEncodingError
from robossl_ros.diagnostics import InputMonitor, NonFiniteError, drop_reason


class FakeClock:
    """Deterministic monotonic clock (the real one would make rate assertions flaky)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_counts_arrivals_inside_the_window() -> None:
    clock = FakeClock()
    monitor = InputMonitor(window_s=2.0, clock=clock)
    for _ in range(41):  # 20 Hz for 2 s
        monitor.received("left")
        clock.now += 0.05
    assert monitor.rate_hz("left") == pytest.approx(20.0, rel=1e-6)
    clock.now += 10.0  # silence: old arrivals leave the window
    assert monitor.rate_hz("left") == 0.0
    assert monitor.values()["received.left"] == "41"


def test_out_of_order_and_repeated_stamps_are_dropped_and_counted() -> None:
    monitor = InputMonitor()
    assert monitor.accept_stamp("imu", 10)
    assert monitor.accept_stamp("imu", 20)
    assert not monitor.accept_stamp("imu", 15)  # older
    assert not monitor.accept_stamp("imu", 20)  # repeated
    assert monitor.accept_stamp("imu", 21)  # the reference did not move back to 15
    assert monitor.accept_stamp("other", 1)  # per topic
    assert monitor.dropped_counts() == {"imu": {"out_of_order": 2}}
    assert monitor.values()["dropped.imu.out_of_order"] == "2"
    assert monitor.dropped_total() == 2


def test_conversion_errors_map_to_reason_keys() -> None:
    assert drop_reason(UnsupportedEncodingError("x")) == "wrong_encoding"
    assert drop_reason(ImageStepError("x")) == "bad_step"
    assert drop_reason(ImageSizeError("x")) == "size_mismatch"
    assert drop_reason(NonFiniteError("x")) == "non_finite"
    assert drop_reason(RuntimeError("x")) == "pipeline_error"


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window_s must be > 0"):
        InputMonitor(window_s=0)


@pytest.mark.ros
def test_publisher_reports_drops_as_warn_and_node_values() -> None:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

    from robossl_ros.diagnostics import DiagnosticsPublisher, status_values

    rclpy.init()
    try:
        node = rclpy.create_node("diag_probe")
        monitor = InputMonitor()
        diagnostics = DiagnosticsPublisher(
            node, monitor, lambda: {"mode": "mono", "training_steps": 7, "buffer_fill": 0.25}, period_s=0.2
        )
        got: list[DiagnosticArray] = []
        node.create_subscription(DiagnosticArray, "/diagnostics", got.append, 10)
        monitor.received("left")
        monitor.dropped("left", "wrong_encoding")
        deadline = time.monotonic() + 10
        while len(got) < 3 and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
        assert len(got) >= 3, "no /diagnostics received"
        first = got[0].status[0]
        values = status_values(got[0], "diag_probe")
        assert values is not None
        assert first.level == DiagnosticStatus.WARN and "1 inputs dropped" in first.message
        assert values["dropped.left.wrong_encoding"] == "1"
        assert (
            values["mode"] == "mono" and values["training_steps"] == "7" and values["buffer_fill"] == "0.25"
        )
        # No new drop since the previous message: back to OK.
        assert got[-1].status[0].level == DiagnosticStatus.OK
        assert diagnostics.build().status[0].name == "robossl/diag_probe"
        node.destroy_node()
    finally:
        rclpy.try_shutdown()
