"""bench/methods_real_report.add_versus_base: paired per-seed differences against the base method."""

from __future__ import annotations

import pytest

from bench.methods_real_report import add_versus_base, interval


def _entry(values: list[float]) -> dict:
    return {"dataset": "d", "probe_macro_f1": interval(values)}


def test_paired_difference_and_verdict() -> None:
    results = {
        "simclr/d": _entry([0.50, 0.52, 0.54]),
        "groco/d": _entry([0.60, 0.61, 0.62]),
        "bss/d": _entry([0.49, 0.53, 0.54]),
        "sie/d": _entry([0.4, 0.4, 0.4]),  # its base (vicreg) is absent: no comparison
    }
    add_versus_base(results)
    groco = results["groco/d"]["versus_base"]
    assert groco["base"] == "simclr"
    assert groco["paired_difference"]["by_seed"] == pytest.approx([0.10, 0.09, 0.08])
    assert groco["paired_difference"]["mean"] == pytest.approx(0.09)
    assert groco["beats_base"] is True
    assert results["bss/d"]["versus_base"]["beats_base"] is False
    assert "versus_base" not in results["sie/d"] and "versus_base" not in results["simclr/d"]
