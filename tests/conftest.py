"""Shared test set-up.

- ROS 2 / DDS tests carry the ``ros`` marker and only run inside the private network namespace made by
  ``robossl-sandbox`` (``make test`` runs the whole suite there); outside it they fail with instructions,
  so that no test ever starts DDS on a real network.
- ``real_data("har/actrectut")`` gives a path in the real-data folder or skips with the reason.
- Tests in the folders of tiny tensor tests (:data:`SINGLE_THREAD_FOLDERS`) run with one intra-op torch
  thread: the CI machine's 2 cores are shared, and more threads only add overhead at these sizes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".numba_cache"))

from robossl.data import require_data  # noqa: E402
from robossl.netsafe import apply_loopback_env, is_private_netns  # noqa: E402

TESTS_DIR = Path(__file__).resolve().parent
SINGLE_THREAD_FOLDERS = frozenset({"backbones", "eval", "heads", "losses", "methods", "transforms"})


@pytest.fixture(autouse=True)
def single_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    """One intra-op torch thread for tests under :data:`SINGLE_THREAD_FOLDERS`; others are left alone."""
    relative = Path(request.node.path).resolve().relative_to(TESTS_DIR)
    if relative.parts[0] not in SINGLE_THREAD_FOLDERS:
        yield
        return
    import torch  # here, so that sessions without these folders (firmware, ROS) never load it

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


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
