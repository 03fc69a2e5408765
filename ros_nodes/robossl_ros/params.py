"""Typed, validated node parameters.

A node lists its parameters as :class:`ParamSpec` entries (name, typed default, description, optional
check). :class:`NodeParams` declares them all, validates every change in an
``add_on_set_parameters_callback`` (a bad value is rejected with a reason, at start-up and at run time),
and refuses to start on a parameter-file key that no spec declares (ROS 2 otherwise silently ignores a
typo in YAML, and the node runs with the default): the error names the key, the file and the known keys,
with the closest one as a suggestion. Checks are plain functions ``value -> reason or None`` so they are
testable without ROS.

Example::

    SPECS = [
        ParamSpec("rate_hz", 20.0, "publish rate [Hz]", check=positive),
        ParamSpec("mode", "auto", "switching policy", check=one_of("auto", "stereo", "mono")),
    ]
    params = NodeParams(node, SPECS)
    params["rate_hz"]            # 20.0, or the YAML value
    # a YAML key rat_hz: ParameterError "probe: unknown parameter 'rat_hz' in p.yaml; did you mean
    # 'rate_hz'? known: mode, rate_hz"

Parameters that configure a pipeline take their default from the pipeline's config dataclass, the one
source of defaults (:func:`config_param`), and :func:`config_values` turns their values back into the nested
dict the config's ``from_dict`` reads::

    spec = config_param(StereoMonoConfig, "trainer.cpu_fraction", "share of one core", name="cpu_fraction")
    StereoMonoConfig.from_dict(config_values(params, SPECS))   # {"trainer": {"cpu_fraction": ...}}
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

Check = Callable[[Any], "str | None"]

# Parameters every rclpy node may receive that no robossl spec declares.
_ROS_BUILTIN = ("use_sim_time", "start_type_description_service", "qos_overrides.")


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter."""

    name: str  # parameter name (dots allowed for groups, e.g. "stereo.num_disparities")
    default: Any  # typed default: bool, int, float, str, or a non-empty list of one of them
    description: str  # shown by `ros2 param describe`; include units
    check: Check | None = None  # returns a reason string when a value is invalid, None when valid
    read_only: bool = False  # True for values that only take effect at start-up (topics, sizes)
    field: str = ""  # dotted path of the pipeline config field it sets ("" = a node-only parameter)

    def validate(self, value: Any) -> str | None:
        """Return why ``value`` is invalid for this parameter, or None when it is valid."""
        expected = type(self.default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(self.default, list):
            if not isinstance(value, list | tuple):
                return f"{self.name} must be a list, got {type(value).__name__}"
        elif not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            return f"{self.name} must be {expected.__name__}, got {type(value).__name__} {value!r}"
        return self.check(value) if self.check is not None else None


def config_default(config_type: type, path: str) -> Any:
    """The default of the (nested) field ``path`` of the dataclass ``config_type``, as a ROS parameter
    value (tuples become lists).

    Raises:
        ValueError: no such field, or a field without a default (the message names both).
    """
    kind: Any = config_type
    value: Any = None
    for part in path.split("."):
        fields = {f.name: f for f in dataclasses.fields(kind)} if dataclasses.is_dataclass(kind) else {}
        if part not in fields:
            raise ValueError(f"{config_type.__name__} has no field {path!r} (at {part!r})")
        f = fields[part]
        if f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            raise ValueError(f"{config_type.__name__}.{path} has no default; a node must declare its own")
        kind = type(value)
    return list(value) if isinstance(value, tuple) else value


def config_param(
    config_type: type,
    path: str,
    description: str,
    check: Check | None = None,
    read_only: bool = False,
    name: str = "",
    group: str = "",
) -> ParamSpec:
    """A parameter for the config field ``path`` (dotted), its default taken from the dataclass;
    ``name`` defaults to the last part of ``path``. With ``group`` the field is ``group.path`` in
    :func:`config_values` (a node whose pipeline takes several configs, e.g. ``learner`` and ``trainer``)."""
    default = config_default(config_type, path)
    field = f"{group}.{path}" if group else path
    return ParamSpec(name or path.rsplit(".", 1)[-1], default, description, check, read_only, field=field)


def config_values(values: Any, specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """The nested dict ``{"trainer": {"cpu_fraction": 0.5}, ...}`` of the config fields ``specs`` set, with
    values read from ``values[spec.name]`` (a :class:`NodeParams` or a plain dict)."""
    nested: dict[str, Any] = {}
    for spec in specs:
        if not spec.field:
            continue
        *groups, leaf = spec.field.split(".")
        target = nested
        for group in groups:
            target = target.setdefault(group, {})
        target[leaf] = values[spec.name]
    return nested


class ParameterError(ValueError):
    """A parameter file or override holds a value that a spec rejects, or a key that no spec declares."""


def unknown_keys_message(unknown: Iterable[str], known: Iterable[str], where: str) -> str:
    """``"<where>: unknown parameter 'rat_hz'; did you mean 'rate_hz'? known: mode, rate_hz"`` (the
    closest known name, by :func:`difflib.get_close_matches`, when one is close enough)."""
    known = sorted(known)
    parts = []
    for key in sorted(unknown):
        close = difflib.get_close_matches(key, known, n=1)
        parts.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    noun = "parameter" if len(parts) == 1 else "parameters"
    return f"{where}: unknown {noun} {', '.join(parts)}; known: {', '.join(known)}"


def parameter_names(values: dict[str, Any], prefix: str = "") -> list[str]:
    """The parameter names a ``ros__parameters`` mapping sets (nested mappings give dotted names, as in
    ROS 2: ``{a: {b: 1}}`` sets ``a.b``)."""
    names = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        names.extend(parameter_names(value, f"{name}.") if isinstance(value, dict) else [name])
    return names


def undeclared(names: Iterable[str], declared: Iterable[str]) -> list[str]:
    """The ``names`` that are neither declared nor ROS built-ins (``use_sim_time``, ``qos_overrides.*``)."""
    known = set(declared)
    return sorted(n for n in names if n not in known and not n.startswith(_ROS_BUILTIN))


def parameter_files(args: Sequence[str]) -> list[Path]:
    """The ``--params-file`` paths of a ROS command line (``... --ros-args --params-file f.yaml``)."""
    return [Path(args[i + 1]) for i, arg in enumerate(args[:-1]) if arg == "--params-file"]


def files_setting(key: str, node_name: str, files: Sequence[Path]) -> list[Path]:
    """The parameter files among ``files`` that set ``key`` for the node ``node_name`` (its own section,
    with or without a namespace, or a ``/**`` wildcard section); unreadable files are skipped."""
    import yaml

    found = []
    for path in files:
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            continue
        for section, entry in (data or {}).items() if isinstance(data, dict) else ():
            name = str(section).strip("/").rpartition("/")[2]
            values = entry.get("ros__parameters") if isinstance(entry, dict) else None
            if name in (node_name, "**", "*") and isinstance(values, dict) and _has_key(values, key):
                found.append(path)
                break
    return found


def _has_key(values: dict[str, Any], key: str) -> bool:
    """Whether the nested parameter mapping holds the dotted ``key`` (``a.b`` as ``a: {b: ...}``)."""
    head, _, rest = key.partition(".")
    if key in values:
        return True
    return bool(rest) and isinstance(values.get(head), dict) and _has_key(values[head], rest)


def positive(value: float) -> str | None:
    """Check: strictly positive number."""
    return None if value > 0 else f"must be > 0, got {value}"


def non_negative(value: float) -> str | None:
    """Check: zero or positive number."""
    return None if value >= 0 else f"must be >= 0, got {value}"


def in_range(low: float, high: float) -> Check:
    """Check factory: ``low <= value <= high``."""

    def check(value: float) -> str | None:
        return None if low <= value <= high else f"must be in [{low}, {high}], got {value}"

    return check


def one_of(*choices: str) -> Check:
    """Check factory: value is one of ``choices``."""

    def check(value: str) -> str | None:
        return None if value in choices else f"must be one of {list(choices)}, got {value!r}"

    return check


def non_empty(value: Any) -> str | None:
    """Check: non-empty string or list."""
    return None if len(value) > 0 else "must not be empty"


def all_of(*checks: Check) -> Check:
    """Check factory: every check passes (the first failure's reason is returned)."""

    def check(value: Any) -> str | None:
        for c in checks:
            reason = c(value)
            if reason is not None:
                return reason
        return None

    return check


def _python_value(value: Any) -> Any:
    # rclpy returns array-typed parameters as array.array / numpy-like sequences
    return (
        list(value)
        if not isinstance(value, str | bytes | bool | int | float) and value is not None
        else value
    )


class NodeParams:
    """Declares, validates and holds a node's parameters.

    Args:
        node: the rclpy node.
        specs: the node's parameters.
        on_change: optional callback ``(name, value)`` called after an accepted run-time change.

    Raises:
        ParameterError: when a start-up value (parameter file, ``--ros-args -p``) is invalid; the message
            names the parameter and the reason.
    """

    def __init__(
        self, node: Node, specs: Sequence[ParamSpec], on_change: Callable[[str, Any], None] | None = None
    ) -> None:
        self._node = node
        self._specs = {spec.name: spec for spec in specs}
        if len(self._specs) != len(specs):
            raise ValueError("duplicate parameter names in specs")
        self._on_change = on_change
        self._declared = False  # on_change fires only for run-time changes, not for declarations
        node.add_on_set_parameters_callback(self._validate_request)
        for spec in specs:
            descriptor = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
            try:
                param = node.declare_parameter(spec.name, spec.default, descriptor)
            except InvalidParameterValueException as exc:
                raise ParameterError(f"{node.get_name()}: invalid parameter: {exc}") from exc
            except InvalidParameterTypeException as exc:
                raise ParameterError(
                    f"{node.get_name()}: parameter {spec.name} has the wrong type ({exc}); "
                    f"default is {spec.default!r}: write {type(spec.default).__name__} values in YAML "
                    "(e.g. 1.0 not 1 for floats)"
                ) from exc
            if param.type_ == Parameter.Type.NOT_SET:
                raise ParameterError(f"{node.get_name()}: parameter {spec.name} has no value")
        self._declared = True
        overrides: Iterable[str] = getattr(node, "_parameter_overrides", {}).keys()
        unknown = undeclared(overrides, self._specs)
        if unknown:
            raise ParameterError(unknown_keys_message(unknown, self._specs, self._where(node, unknown)))
        self.unknown_keys: list[str] = []  # always empty: an unknown key stops the node (kept for readers)

    @staticmethod
    def _where(node: Node, unknown: Sequence[str]) -> str:
        """``"<node> in <file>"`` naming the parameter files on this process's command line that set the
        unknown keys, or where else they can come from."""
        files = sorted(
            {
                str(f)
                for key in unknown
                for f in files_setting(key, node.get_name(), parameter_files(sys.argv))
            }
        )
        source = f"in {', '.join(files)}" if files else "(from --params-file, -p or parameter_overrides)"
        return f"{node.get_name()} {source}"

    def __getitem__(self, name: str) -> Any:
        if name not in self._specs:
            raise KeyError(f"{name} is not a declared parameter; declared: {sorted(self._specs)}")
        return _python_value(self._node.get_parameter(name).value)

    def as_dict(self) -> dict[str, Any]:
        """A snapshot of every value."""
        return {name: self[name] for name in self._specs}

    def _validate_request(self, parameters: list[Parameter]) -> SetParametersResult:
        for param in parameters:
            spec = self._specs.get(param.name)
            if spec is None:
                continue  # ROS built-ins such as use_sim_time
            reason = spec.validate(_python_value(param.value))
            if reason is not None:
                if not reason.startswith(spec.name):
                    reason = f"{spec.name} {reason}"
                return SetParametersResult(successful=False, reason=reason)
        if self._on_change is not None and self._declared:
            # Humble has no post-set callback: tell the node here, after every value was accepted.
            for param in parameters:
                if param.name in self._specs:
                    self._on_change(param.name, _python_value(param.value))
        return SetParametersResult(successful=True)
