"""`robossl serial-monitor` against the host-built firmware with injected bit errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robossl.cli.main import main


def test_serial_monitor_reports_samples_and_crc_failures(
    firmware_binary: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        [
            "serial-monitor",
            "--firmware",
            "--duration",
            "1.5",
            "--rate",
            "2000",
            "--flip-rate",
            "0.2",
            "--json",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert status == 0
    device = summary["devices"]["1"]
    assert device["samples"] > 1000  # ~2000 Hz for 1.5 s, minus damaged frames
    assert summary["link"]["crc_errors"] + summary["link"]["cobs_errors"] > 0
    assert summary["link"]["frames_lost"] > 0


def test_serial_monitor_needs_a_source(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="PORT"):
        main(["serial-monitor"])
