"""Environment for loopback-only Fast DDS and checks that it is in force.

Facts this relies on (measured, see shared/notes/platform.md): with ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``
rmw_fastrtps ignores the XML transports and loses image fragments, so the range is ``SUBNET`` and the XML
profile restricts every locator to 127.0.0.1 instead.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, MutableMapping
from pathlib import Path

PROFILE_PATH = Path(__file__).with_name("fastdds_loopback.xml")
DEFAULT_ROS_DOMAIN_ID = 42  # private domain; override with ROBOSSL_ROS_DOMAIN_ID (0-101)
_LOOPBACK = "127.0.0.1"


def loopback_env(base: Mapping[str, str] | None = None, domain_id: int | None = None) -> dict[str, str]:
    """Return a copy of ``base`` (default ``os.environ``) with the loopback DDS settings applied.

    Args:
        base: environment to start from.
        domain_id: ROS_DOMAIN_ID to use; default ``ROBOSSL_ROS_DOMAIN_ID`` or 42.

    Raises:
        ValueError: if the domain id is outside 0..101 (the range Fast DDS maps to valid UDP ports).
    """
    env = dict(os.environ if base is None else base)
    if domain_id is None:
        domain_id = int(env.get("ROBOSSL_ROS_DOMAIN_ID", DEFAULT_ROS_DOMAIN_ID))
    if not 0 <= domain_id <= 101:
        raise ValueError(f"ROS_DOMAIN_ID must be in 0..101 for Fast DDS UDP ports, got {domain_id}")
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env["RMW_IMPLEMENTATION"] = "rmw_fastrtps_cpp"
    env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(PROFILE_PATH)
    env["FASTRTPS_DEFAULT_PROFILES_FILE"] = str(PROFILE_PATH)  # name read by Fast DDS < 2.12 (Humble)
    env["RMW_FASTRTPS_USE_QOS_FROM_XML"] = "0"
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "SUBNET"
    env.pop("ROS_STATIC_PEERS", None)  # would add non-loopback peers
    env.pop("ROS_LOCALHOST_ONLY", None)  # deprecated; conflicts with the range above
    env["ROBOSSL_LOOPBACK_DDS"] = "1"
    return env


def apply_loopback_env(environ: MutableMapping[str, str] | None = None, domain_id: int | None = None) -> None:
    """Apply :func:`loopback_env` in place (default: this process's ``os.environ``); call before rclpy.init."""
    target = os.environ if environ is None else environ
    target.update(loopback_env(target, domain_id))
    if environ is None:
        os.environ.pop("ROS_STATIC_PEERS", None)
        os.environ.pop("ROS_LOCALHOST_ONLY", None)


def require_loopback_env(environ: Mapping[str, str] | None = None) -> None:
    """Raise ``RuntimeError`` unless the loopback DDS profile is active in ``environ``.

    ROS-facing entry points call this so that no DDS participant starts with Fast DDS's default
    (multicast on every interface).
    """
    env = os.environ if environ is None else environ
    profile = env.get("FASTDDS_DEFAULT_PROFILES_FILE", "")
    problems = []
    if not profile or not Path(profile).is_file():
        problems.append("FASTDDS_DEFAULT_PROFILES_FILE is not set to an existing profile")
    else:
        bad = [a for a in profile_addresses(Path(profile)) if a != _LOOPBACK]
        if bad:
            problems.append(f"profile {profile} has non-loopback addresses {bad}")
    if env.get("ROS_AUTOMATIC_DISCOVERY_RANGE") != "SUBNET":
        problems.append("ROS_AUTOMATIC_DISCOVERY_RANGE must be SUBNET so that the XML transports apply")
    if env.get("ROS_STATIC_PEERS"):
        problems.append("ROS_STATIC_PEERS is set")
    if problems:
        raise RuntimeError(
            "loopback-only DDS is not configured: "
            + "; ".join(problems)
            + ". Call robossl.netsafe.apply_loopback_env() before rclpy.init(), or run under `robossl-sandbox`."
        )


def profile_addresses(path: Path = PROFILE_PATH) -> list[str]:
    """Every IP address named in a Fast DDS XML profile (locators and interface allowlists)."""
    tree = ET.parse(path)
    return [
        (el.text or "").strip()
        for el in tree.iter()
        if el.tag.rsplit("}", 1)[-1] in ("address", "interface") and (el.text or "").strip()
    ]


def netns_interfaces() -> list[str]:
    """Network interfaces of this process's network namespace (from /proc/self/net/dev).

    ``/sys/class/net`` is not used: it shows the host's interfaces unless sysfs is remounted.
    """
    lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    return [line.split(":", 1)[0].strip() for line in lines if ":" in line]


def is_private_netns() -> bool:
    """True when the only network interface is the loopback (a private namespace made by robossl-sandbox)."""
    try:
        return netns_interfaces() == ["lo"]
    except OSError:
        return False
