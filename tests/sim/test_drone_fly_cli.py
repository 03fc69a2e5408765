"""`robossl fly`: a short closed-loop flight from the command line, summary as JSON, picture saved."""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("MUJOCO_GL", "egl")

from robossl.cli import fly  # noqa: E402


def test_fly_prints_summary_and_saves_plot(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    fly.add_arguments(parser)
    plot = tmp_path / "flight.png"
    args = parser.parse_args(
        ["--policy", "stereo_only", "--duration", "6", "--camera-hz", "4", "--json", "--plot", str(plot)]
    )
    assert fly.run(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["mono_time_fraction"] == 0.0
    assert summary["distance_m"] > 0.5  # 6 s at up to 0.5 m/s
    assert summary["stereo_absrel"] < 0.2
    assert plot.stat().st_size > 5000
