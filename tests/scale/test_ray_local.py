"""A local Ray session (no address) listens on loopback only: inside the network sandbox, where only `lo`
exists, the test fails when any Ray process listens on a wildcard address (0.0.0.0, ::) instead."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from robossl.netsafe import is_private_netns

ray = pytest.importorskip("ray")


def test_a_local_session_listens_only_on_127_0_0_1() -> None:
    if not is_private_netns():
        pytest.fail(
            "Ray tests open sockets: run them inside the sandbox: robossl-sandbox python -m pytest ..."
        )
    from robossl.scale.ray_retrain import ray_session

    with ray_session(num_cpus=1) as session:
        assert session.get(session.remote(lambda: 7).remote()) == 7
        listening = subprocess.run(["ss", "-lntuH"], capture_output=True, text=True, check=True).stdout
    addresses = [line.split()[4].rsplit(":", 1)[0] for line in listening.splitlines() if line.strip()]
    assert addresses, "ss saw no listening socket while Ray ran"
    assert all(a in ("127.0.0.1", "[::ffff:127.0.0.1]") for a in addresses), addresses
    assert not ray.is_initialized()


def test_a_local_session_does_not_probe_a_public_address_for_its_ip() -> None:
    """Ray finds its own IP by routing to 8.8.8.8 unless told it runs alone; the warning it logs when that
    fails (always, in the sandbox) shows the probe was made."""
    if not is_private_netns():
        pytest.fail(
            "Ray tests open sockets: run them inside the sandbox: robossl-sandbox python -m pytest ..."
        )
    script = (
        "from robossl.scale.ray_retrain import ray_session\n"
        "with ray_session(num_cpus=1) as ray:\n"
        "    print('answer', ray.get(ray.remote(lambda: 7).remote()))\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=240, env=environment
    )
    assert "answer 7" in run.stdout, run.stderr[-2000:]
    assert "external connectivity" not in run.stderr and "8.8.8.8" not in run.stderr
