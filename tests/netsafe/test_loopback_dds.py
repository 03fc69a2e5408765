"""The DDS runtime cannot reach beyond loopback, and real rclpy nodes exchange images over it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from robossl.netsafe import (
    PROFILE_PATH,
    loopback_env,
    netns_interfaces,
    profile_addresses,
    require_loopback_env,
)

HERE = Path(__file__).parent


def test_profile_locators_and_allowlist_are_loopback_only() -> None:
    addresses = profile_addresses(PROFILE_PATH)
    assert addresses, "profile names no addresses"
    assert set(addresses) == {"127.0.0.1"}
    text = PROFILE_PATH.read_text()
    assert "<useBuiltinTransports>false</useBuiltinTransports>" in text
    assert "<interfaceWhiteList>" in text


def test_loopback_env_points_at_profile_and_subnet_range() -> None:
    env = loopback_env({"ROS_STATIC_PEERS": "10.0.0.2", "PATH": "/bin"}, domain_id=7)
    assert env["FASTDDS_DEFAULT_PROFILES_FILE"] == str(PROFILE_PATH)
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "SUBNET"
    assert env["ROS_DOMAIN_ID"] == "7"
    assert "ROS_STATIC_PEERS" not in env
    require_loopback_env(env)


def test_require_loopback_env_rejects_default_dds() -> None:
    with pytest.raises(RuntimeError, match="FASTDDS_DEFAULT_PROFILES_FILE"):
        require_loopback_env({"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"})


def test_rejects_domain_id_outside_fastdds_port_range() -> None:
    with pytest.raises(ValueError, match="0..101"):
        loopback_env({}, domain_id=233)


def test_sandbox_has_only_loopback_and_cannot_send_elsewhere() -> None:
    code = (
        "import socket, json; from robossl.netsafe import netns_interfaces\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "try:\n    s.sendto(b'x', ('192.0.2.1', 7400)); sent = True\n"
        "except OSError as e:\n    sent = e.strerror\n"
        "s.sendto(b'x', ('127.0.0.1', 9))\n"
        "print(json.dumps({'ifaces': netns_interfaces(), 'sent': sent}))"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "robossl.netsafe.sandbox", "--", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, ROBOSSL_SANDBOXED="0"),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ifaces"] == ["lo"]
    assert result["sent"] == "Network is unreachable"


def test_host_interfaces_are_read_from_proc() -> None:
    assert "lo" in netns_interfaces()


@pytest.mark.ros
def test_two_processes_exchange_640x480_rgb8_images_at_30hz_intact(tmp_path: Path) -> None:
    out = tmp_path / "sub.json"
    peer = str(HERE / "image_peer.py")
    sub = subprocess.Popen([sys.executable, peer, "sub", "14", str(out)])
    try:
        pub = subprocess.run([sys.executable, peer, "pub", "90", "30"], timeout=60)
        assert pub.returncode == 0
        assert sub.wait(timeout=60) == 0
    finally:
        sub.kill()
    result = json.loads(out.read_text())
    assert result["received"] == 90
    assert result["intact"] == 90
    assert result["seqs"] == list(range(90))
