"""`robossl doctor` reports versions and fails when a required piece is missing."""

from __future__ import annotations

import json
import subprocess
import sys

from robossl.cli import doctor


def test_doctor_passes_on_this_machine() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "robossl.cli.main", "doctor", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(proc.stdout)
    names = {c["name"]: c for c in report["checks"]}
    assert proc.returncode == 0, [c for c in report["checks"] if not c["ok"]]
    assert names["torch"]["detail"].startswith("2.13.0")
    assert "rmw_fastrtps_cpp" in names["rclpy"]["detail"]
    assert "MUJOCO_GL=" in names["mujoco offscreen rendering"]["detail"]


def test_doctor_exits_nonzero_with_fix_when_required_check_fails(monkeypatch, capsys) -> None:
    broken = doctor.Check(
        "mujoco offscreen rendering", False, "egl: no display", fix="apt-get install libegl-mesa0"
    )
    monkeypatch.setattr(doctor, "collect", lambda: [doctor.Check("python", True, "3.11"), broken])
    assert doctor.run(doctor.argparse.Namespace(json=False)) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "apt-get install libegl-mesa0" in out


def test_cli_help_lists_doctor() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "robossl.cli.main", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "doctor" in proc.stdout
