"""pyserial is imported by exactly one module, and only when a port is opened by name."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMPORT_SERIAL = re.compile(r"^\s*(import serial\b|from serial\b)", re.MULTILINE)


def test_only_the_transport_module_imports_pyserial() -> None:
    sources = [
        p
        for folder in ("firmware_bridge", "robossl", "ros_nodes", "sim", "bench")
        for p in (ROOT / folder).rglob("*.py")
    ]
    importers = sorted(str(p.relative_to(ROOT)) for p in sources if IMPORT_SERIAL.search(p.read_text()))
    assert importers == ["firmware_bridge/transport.py"]


def test_importing_the_package_does_not_load_pyserial() -> None:
    code = "import sys, firmware_bridge; print('serial' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "False"
