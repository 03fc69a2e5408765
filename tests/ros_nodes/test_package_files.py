"""The ament package's files: parameter YAMLs match the declared parameters, launch files import and
describe real executables and configs, setup.py entry points exist, `robossl launch` rejects bad configs.

ROS 2 launch / launch_ros / ament_index_python are not installable from PyPI, so the launch files are
imported against small recording stand-ins of those modules (the only mock here); what is checked is our
side: executables, node names, and parameter files."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

PACKAGE = Path(__file__).resolve().parents[2] / "ros_nodes"
NODES = ("stereo_mono_node", "terrain_node", "har_node", "serial_bridge_node")


def _specs(node: str) -> dict[str, Any]:
    from robossl_ros.base import COMMON_SPECS

    module = importlib.import_module(f"robossl_ros.{node}")
    return {spec.name: spec for spec in (*COMMON_SPECS, *module.SPECS)}


@pytest.mark.parametrize("config", sorted(p.name for p in (PACKAGE / "config").glob("*.yaml")))
def test_parameter_files_declare_only_known_valid_parameters(config: str) -> None:
    data = yaml.safe_load((PACKAGE / "config" / config).read_text())
    assert data, config
    for node, entry in data.items():
        assert node in NODES, f"{config}: {node} is not a robossl node"
        specs = _specs(node)
        for name, value in entry["ros__parameters"].items():
            assert name in specs, f"{config}: {node}.{name} is not declared"
            assert specs[name].validate(value) is None, f"{config}: {node}.{name}={value!r}"


@pytest.mark.parametrize("node", NODES)
def test_node_config_sets_every_parameter(node: str) -> None:
    """The per-node YAML documents every parameter (a user copies it as a starting point)."""
    data = yaml.safe_load((PACKAGE / "config" / f"{node}.yaml").read_text())
    declared = set(_specs(node)) - {"diagnostics_period_s"}
    assert set(data[node]["ros__parameters"]) == declared


def test_setup_entry_points_name_modules_with_main() -> None:
    tree = ast.parse((PACKAGE / "setup.py").read_text())
    nodes = next(
        node.elts
        for node in ast.walk(tree)
        if isinstance(node, ast.Tuple)
        and all(isinstance(e, ast.Constant) for e in node.elts)
        and len(node.elts) == 4
    )
    assert tuple(e.value for e in nodes) == NODES  # type: ignore[attr-defined]
    for name in NODES:
        assert callable(importlib.import_module(f"robossl_ros.{name}").main)
    text = (PACKAGE / "package.xml").read_text()
    for dep in ("rclpy", "sensor_msgs", "stereo_msgs", "diagnostic_msgs", "nav_msgs", "std_srvs"):
        assert f"<exec_depend>{dep}</exec_depend>" in text


class _Recorder:
    """Stand-in for a launch action: remembers its constructor arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration(_Recorder):
    defaults: dict[str, str] = {}

    def perform(self, context: Any) -> str:
        return self.defaults[self.args[0]]


def _stub_launch_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    modules = {
        "launch": {"LaunchDescription": _Recorder},
        "launch.actions": {"DeclareLaunchArgument": _Recorder, "OpaqueFunction": _Recorder},
        "launch.substitutions": {"LaunchConfiguration": _LaunchConfiguration},
        "launch_ros": {},
        "launch_ros.actions": {"Node": _Recorder},
        "ament_index_python": {},
        "ament_index_python.packages": {"get_package_share_directory": lambda name: str(PACKAGE)},
    }
    for name, attrs in modules.items():
        module = types.ModuleType(name)
        for key, value in attrs.items():
            setattr(module, key, value)
        monkeypatch.setitem(sys.modules, name, module)


def _launched_nodes(description: _Recorder) -> list[_Recorder]:
    nodes = []
    for action in description.args[0]:
        if action.kwargs.get("description") is not None:  # DeclareLaunchArgument
            _LaunchConfiguration.defaults[action.args[0]] = action.kwargs["default_value"]
    for action in description.args[0]:
        if "function" in action.kwargs:  # OpaqueFunction
            nodes.extend(action.kwargs["function"](None))
        elif "executable" in action.kwargs:
            nodes.append(action)
    return nodes


@pytest.mark.parametrize("launch_file", sorted(p.name for p in (PACKAGE / "launch").glob("*.launch.py")))
def test_launch_files_start_real_executables_with_existing_configs(
    launch_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = PACKAGE / "launch" / launch_file
    ast.parse(path.read_text())
    _stub_launch_modules(monkeypatch)
    spec = importlib.util.spec_from_file_location(re.sub(r"\W", "_", launch_file), path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    nodes = _launched_nodes(module.generate_launch_description())
    assert nodes, f"{launch_file} starts no node"
    for node in nodes:
        assert node.kwargs["package"] == "robossl_ros"
        assert node.kwargs["executable"] in NODES and node.kwargs["name"] == node.kwargs["executable"]
        files = [p for p in node.kwargs["parameters"] if isinstance(p, str)]
        assert files and all(Path(f).is_file() for f in files)
        assert all(node.kwargs["name"] in yaml.safe_load(Path(f).read_text()) for f in files)


def test_launch_config_errors_name_the_problem(tmp_path: Path) -> None:
    from robossl.cli.launch import nodes_in_config

    cases = {
        "typo_node:\n  ros__parameters: {a: 1}\n": "not a robossl node",
        "har_node:\n  parameters: {a: 1}\n": "exactly one key 'ros__parameters'",
        "/**:\n  ros__parameters: {use_sim_time: true}\n": "names no robossl node",
        "har_node: [": "cannot read launch config",
    }
    for k, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"c{k}.yaml"
        path.write_text(text)
        with pytest.raises(ValueError, match=re.escape(message)):
            nodes_in_config(path)
    ok = tmp_path / "ok.yaml"
    ok.write_text("/robot/har_node:\n  ros__parameters: {}\nserial_bridge_node:\n  ros__parameters: {}\n")
    assert nodes_in_config(ok) == [("/robot", "har_node"), ("", "serial_bridge_node")]
