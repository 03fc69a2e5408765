"""Shared test set-up.

- ROS 2 / DDS tests carry the ``ros`` marker and only run inside the private network namespace made by
  ``robossl-sandbox`` (``make test`` runs the whole suite there); outside it they fail with instructions,
  so that no test ever starts DDS on a real network.
- ``real_data("har/actrectut")`` gives a path in the real-data folder or skips with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".numba_cache"))

from robossl.data import require_data  # noqa: E402
from robossl.netsafe import apply_loopback_env, is_private_netns  # noqa: E402


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("ros") is not None:
        if not is_private_netns():
            pytest.fail(
                "ROS 2 tests must run inside a private network namespace: "
                "`make test` or `robossl-sandbox python -m pytest ...`",
                pytrace=False,
            )
        apply_loopback_env()


@pytest.fixture
def real_data() -> Callable[[str], Path]:
    """Return a function mapping a sub-path of the real-data folder to its path, skipping when absent."""

    def get(subpath: str) -> Path:
        try:
            return require_data(subpath)
        except FileNotFoundError as exc:
            pytest.skip(f"needs real data: {exc}")

    return get
