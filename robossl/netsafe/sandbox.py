"""``robossl-sandbox CMD ...``: run a command in a private network namespace with loopback-only DDS.

Examples:
    robossl-sandbox pytest tests/
    robossl-sandbox robossl launch ros_nodes/config/demo.yaml
    robossl-sandbox --check      # print the interfaces the sandbox sees and exit

The command runs under ``unshare --net`` (plus ``--map-root-user`` when not root), so only ``lo`` exists;
``lo`` is brought up with an ioctl (no iproute2 needed) and the Fast DDS loopback profile is put into
the environment. Exits with the command's status.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import socket
import struct
import sys

from robossl.netsafe.loopback import is_private_netns, loopback_env, netns_interfaces

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def bring_loopback_up() -> None:
    """Set the UP flag on ``lo`` in the current network namespace (needs CAP_NET_ADMIN there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))


def sandbox_argv(command: list[str]) -> list[str]:
    """The argv that runs ``command`` inside a new network namespace via this module's inner stage."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise RuntimeError("`unshare` (util-linux) not found; install util-linux to run ROS 2 sandboxed")
    flags = ["--net"] if os.geteuid() == 0 else ["--net", "--map-root-user"]
    return [unshare, *flags, "--", sys.executable, "-m", "robossl.netsafe.sandbox", "--inner", "--", *command]


def _inner(command: list[str]) -> int:
    bring_loopback_up()
    if not is_private_netns():
        print(f"robossl-sandbox: expected only 'lo', found {netns_interfaces()}", file=sys.stderr)
        return 3
    env = loopback_env()
    env["ROBOSSL_SANDBOXED"] = "1"
    if not command:
        print("interfaces:", " ".join(netns_interfaces()))
        return 0
    os.execvpe(command[0], command, env)
    return 127  # not reached


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="robossl-sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help="show the sandbox's interfaces and exit")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="command to run (after --)")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else list(args.command)
    if args.inner:
        return _inner(command)
    if not command and not args.check:
        parser.error("give a command to run, e.g. `robossl-sandbox pytest`")
    if command and os.environ.get("ROBOSSL_SANDBOXED") == "1" and is_private_netns():
        os.execvpe(command[0], command, loopback_env())  # already inside a sandbox: no nesting
    argv_full = sandbox_argv(command)
    os.execv(argv_full[0], argv_full)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
