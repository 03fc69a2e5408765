"""Check that this machine can run robossl, and say how to fix what is missing.

Examples:
    robossl doctor           # human-readable report, exit 1 if something required is missing
    robossl doctor --json    # the same as JSON

Checks: versions of Python, torch, numpy, OpenCV, ONNX Runtime, MuJoCo, rclpy and its RMW; offscreen
rendering (EGL, then OSMesa); the loopback-only DDS profile; where the real data is. The rclpy and MuJoCo
checks run in child processes so this process never loads ROS or a GL context.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass

HELP = "check versions, offscreen rendering, loopback DDS and data location"

_RENDER_SNIPPET = """
import mujoco
m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><light pos="0 0 3"/>'
    '<geom type="box" size=".2 .2 .2" rgba="1 0 0 1"/></worldbody></mujoco>')
d = mujoco.MjData(m); mujoco.mj_forward(m, d)
r = mujoco.Renderer(m, 32, 32); r.update_scene(d)
img = r.render()
assert img.shape == (32, 32, 3) and img.max() > 0, "blank render"
print(mujoco.__version__)
"""

_ROS_SNIPPET = """
import importlib, importlib.metadata as md
get_rmw_implementation_identifier = importlib.import_module(
    'rclpy.utilities').get_rmw_implementation_identifier
importlib.import_module('sensor_msgs.msg').Image
print(md.version('ros-jazzy-rclpy') if any(d.metadata['Name'] == 'ros-jazzy-rclpy'
      for d in md.distributions()) else 'system', get_rmw_implementation_identifier())
"""


@dataclass
class Check:
    name: str  # what was checked
    ok: bool  # passed
    detail: str  # version or finding
    required: bool = True  # a failure makes doctor exit non-zero
    fix: str = ""  # how to fix a failure


def _module_version(module: str) -> Check:
    try:
        mod = importlib.import_module(module)
        return Check(module, True, str(getattr(mod, "__version__", "?")))
    except Exception as exc:  # any import failure is a finding to report, not a crash
        return Check(
            module, False, f"{type(exc).__name__}: {exc}", fix="run `make` (installs requirements.lock)"
        )


def _child(code: str, env: dict[str, str]) -> tuple[bool, str]:
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        return False, "timed out"
    out_lines = proc.stdout.strip().splitlines()
    out = out_lines[-1] if out_lines else ""
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()
        return False, tail[-1] if tail else f"exit {proc.returncode}"
    return True, out


def _render_check() -> Check:
    findings = []
    for backend in ("egl", "osmesa"):
        env = dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend)
        ok, detail = _child(_RENDER_SNIPPET, env)
        if ok:
            return Check("mujoco offscreen rendering", True, f"mujoco {detail} with MUJOCO_GL={backend}")
        findings.append(f"{backend}: {detail}")
    return Check(
        "mujoco offscreen rendering",
        False,
        "; ".join(findings),
        fix="sudo apt-get install libegl-mesa0 libgl1-mesa-dri (EGL) or libosmesa6 (OSMesa)",
    )


def _ros_check() -> Check:
    from robossl.netsafe import loopback_env

    ok, detail = _child(_ROS_SNIPPET, loopback_env())
    if ok:
        version, rmw = (detail.split() + ["?", "?"])[:2]
        return Check(
            "rclpy",
            rmw == "rmw_fastrtps_cpp",
            f"rclpy {version}, RMW {rmw}",
            fix="install ros-jazzy-rclpy[fastrtps] (requirements.lock) or source your ROS 2",
        )
    return Check("rclpy", False, detail, fix="run `make`, or source /opt/ros/<distro>/setup.bash")


def _dds_checks() -> list[Check]:
    from robossl.netsafe import PROFILE_PATH, is_private_netns, profile_addresses, require_loopback_env

    addresses = profile_addresses(PROFILE_PATH)
    loopback_only = bool(addresses) and all(a == "127.0.0.1" for a in addresses)
    checks = [
        Check(
            "loopback DDS profile",
            loopback_only,
            f"{PROFILE_PATH} ({len(addresses)} addresses, all 127.0.0.1)"
            if loopback_only
            else f"non-loopback addresses in {PROFILE_PATH}: {addresses}",
            fix="restore robossl/netsafe/fastdds_loopback.xml from git",
        ),
    ]
    try:
        require_loopback_env()
        active, detail = True, "active in this environment"
    except RuntimeError:
        active, detail = False, "not set in this shell; robossl nodes apply it themselves"
    checks.append(
        Check(
            "loopback DDS environment",
            active,
            detail,
            required=False,
            fix="run ROS commands under `robossl-sandbox` or call apply_loopback_env()",
        )
    )
    checks.append(
        Check(
            "private network namespace",
            is_private_netns(),
            "only lo" if is_private_netns() else "host network (fine for robots; tests use robossl-sandbox)",
            required=False,
        )
    )
    return checks


def _data_check() -> Check:
    from robossl.data import DATA_ENV_VAR, data_root

    root = data_root()
    return Check(
        "real data",
        root is not None,
        str(root) if root else "not found",
        required=False,
        fix=f"set {DATA_ENV_VAR}=/path/to/data (optional: demo and tests work without it)",
    )


def collect() -> list[Check]:
    checks = [Check("python", sys.version_info >= (3, 10), platform.python_version(), fix="use Python 3.10+")]
    for module in ("numpy", "torch", "cv2", "onnxruntime", "scipy"):
        checks.append(_module_version(module))
    checks.append(_render_check())
    checks.append(_ros_check())
    checks.extend(_dds_checks())
    checks.append(_data_check())
    return checks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")


def run(args: argparse.Namespace) -> int:
    checks = collect()
    failed = [c for c in checks if c.required and not c.ok]
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        for c in checks:
            mark = "ok  " if c.ok else ("FAIL" if c.required else "note")
            print(f"[{mark}] {c.name:28s} {c.detail}")
            if not c.ok and c.fix:
                print(f"       fix: {c.fix}")
        print(
            "robossl doctor: "
            + ("all required checks passed" if not failed else f"{len(failed)} required check(s) failed")
        )
    return 1 if failed else 0
