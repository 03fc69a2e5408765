"""Fixtures for the firmware bridge tests: the host build of the reference firmware."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

FIRMWARE_DIR = Path(__file__).resolve().parents[2] / "firmware_bridge" / "firmware"


@pytest.fixture(scope="session")
def firmware_binary() -> Path:
    """Path of ``build/fwb_host``, built with make if needed; skips only when gcc or make is missing."""
    for tool in ("gcc", "make"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed: the reference firmware host build needs gcc and make")
    result = subprocess.run(
        ["make", "-s", "-C", str(FIRMWARE_DIR)], capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"building the reference firmware failed:\n{result.stdout}\n{result.stderr}")
    binary = FIRMWARE_DIR / "build" / "fwb_host"
    assert binary.is_file(), f"make succeeded but {binary} is missing"
    return binary
