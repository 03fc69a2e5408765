"""Layers: the core library never loads rclpy or serial (DESIGN.md: nodes and the serial transport are thin
adapters). Every module under robossl/ is imported in a clean interpreter, then sys.modules is checked."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import importlib, json, pkgutil, sys
import robossl
banned = ("rclpy", "serial")
report = {"modules": 0, "failed": {}, "loaded": {}}
for info in pkgutil.walk_packages(robossl.__path__, "robossl."):
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        report["failed"][info.name] = f"{type(exc).__name__}: {exc}"
    report["modules"] += 1
    for name in banned:
        if name in sys.modules and name not in report["loaded"]:
            report["loaded"][name] = info.name  # the first module after whose import it was there
print(json.dumps(report))
"""


def test_importing_every_core_module_loads_neither_rclpy_nor_serial() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, check=True
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["modules"] > 100  # it really walked the package
    assert report["failed"] == {}
    assert report["loaded"] == {}, f"core modules load ROS / pyserial: {report['loaded']}"
