"""The demo's HTML report is self-contained and every figure loads in a real headless browser."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from robossl_ros.demo.report import HtmlReport  # noqa: E402
from tests.sim.browser import chromium_path, probe_html  # noqa: E402


def _report(tmp_path: Path, value: float) -> Path:
    report = HtmlReport("robossl demo", subtitle="test")
    report.add_summary("mono time fraction", value, "")
    report.add_summary("collisions", 2, "")
    report.add_section("Depth", "stereo vs mono")
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.imshow(np.random.default_rng(0).random((12, 16)))
    report.add_figure(fig, "depth map")
    report.add_table(["a", "b"], [[1, 2.5]])
    return report.write(tmp_path / "report.html")


def test_report_is_self_contained(tmp_path: Path) -> None:
    text = _report(tmp_path, 0.81).read_text()
    assert "data:image/png;base64," in text
    assert "src='http" not in text and 'src="http' not in text
    assert "0.81" in text


def test_rejects_non_png_figure_and_ragged_table() -> None:
    report = HtmlReport("x")
    with pytest.raises(ValueError, match="not a PNG"):
        report.add_figure(b"GIF89a....", "bad")
    with pytest.raises(ValueError, match="2 cells but 3 columns"):
        report.add_table(["a", "b", "c"], [[1, 2]])


@pytest.mark.skipif(
    chromium_path() is None, reason="chromium not installed (.ci/run installs Debian's chromium)"
)
def test_every_figure_loads_in_headless_chromium(tmp_path: Path) -> None:
    result = probe_html(_report(tmp_path, 0.8123))
    assert result["images"] == 1
    assert result["loaded"] == 1
    assert result["sizes"][0][0] > 100
    assert ["mono time fraction", "0.8123", ""] in result["summary"]


@pytest.mark.skipif(
    chromium_path() is None, reason="chromium not installed (.ci/run installs Debian's chromium)"
)
def test_probe_detects_a_broken_image(tmp_path: Path) -> None:
    page = _report(tmp_path, 0.5)
    broken = page.read_text().replace("data:image/png;base64,", "data:image/png;base64,AAAA", 1)
    page.write_text(broken)
    result = probe_html(page)
    assert result["images"] == 1 and result["loaded"] == 0


def test_report_names_each_starting_checkpoint_and_the_seed_spread(tmp_path: Path) -> None:
    import json

    from robossl_ros.demo.report_builder import _stability_section, _start_section

    results = {
        "drone_start": {
            "checkpoint": str(tmp_path / "drone-0123456789ab" / "stereo_mono.pt"),
            "description": "12 training rooms, 600 steps",
            "cached": True,
        },
        "har_start": {"checkpoint": None, "description": "random initialisation", "cached": False},
    }
    stability = tmp_path / "demo_stability.json"
    stability.write_text(
        json.dumps(
            {
                "seeds": [0, 1, 2],
                "results": {
                    "rover_miou_last_third": {
                        "mean": 0.65,
                        "min": 0.61,
                        "max": 0.7,
                        "spread": 0.09,
                        "target": ">= 0.6",
                    }
                },
            }
        )
    )
    report, summary = HtmlReport("robossl demo"), {}
    _start_section(report, results, summary)
    _stability_section(report, summary, stability)
    _stability_section(report, summary, tmp_path / "absent.json")  # not run yet: nothing added, no error
    assert summary["drone_started_from"] == "drone-0123456789ab/stereo_mono.pt"
    assert summary["har_started_from"] == "random initialisation"
    assert summary["seeds_rover_miou_last_third"] == "0.65 (0.61-0.7)"
    text = report.write(tmp_path / "r.html").read_text()
    assert "12 training rooms, 600 steps" in text and "Spread across seeds" in text
