"""Entry point of the ``robossl`` command.

Every other module in ``robossl.cli`` is one verb. A verb module defines:

- ``HELP``: one line for ``robossl --help``;
- ``add_arguments(parser: argparse.ArgumentParser) -> None``;
- ``run(args: argparse.Namespace) -> int``: the exit status.

Verbs are discovered, so adding a verb is adding a file. Their imports stay inside ``run`` so that
``robossl --help`` is fast and a verb's heavy dependencies (torch, mujoco, rclpy) load only when used.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from types import ModuleType

import robossl
import robossl.cli


def _verb_modules() -> dict[str, ModuleType]:
    verbs = {}
    for info in sorted(pkgutil.iter_modules(robossl.cli.__path__), key=lambda i: i.name):
        if info.name in ("main",) or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"robossl.cli.{info.name}")
        if hasattr(module, "run") and hasattr(module, "add_arguments"):
            verbs[info.name.replace("_", "-")] = module
    return verbs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robossl", description="Persistent self-supervised learning for robots."
    )
    parser.add_argument("--version", action="version", version=f"robossl {robossl.__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name, module in _verb_modules().items():
        verb_parser = sub.add_parser(
            name,
            help=getattr(module, "HELP", ""),
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(verb_parser)
        verb_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
