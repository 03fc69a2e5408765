"""Typed, validated node parameters.

A node lists its parameters as :class:`ParamSpec` entries (name, typed default, description, optional
check). :class:`NodeParams` declares them all, validates every change in an
``add_on_set_parameters_callback`` (a bad value is rejected with a reason, at start-up and at run time),
and reports parameter-file keys that no spec declares (typos in YAML are otherwise silently ignored by
ROS 2). Checks are plain functions ``value -> reason or None`` so they are testable without ROS.

Example::

    SPECS = [
        ParamSpec("rate_hz", 20.0, "publish rate [Hz]", check=positive),
        ParamSpec("mode", "auto", "switching policy", check=one_of("auto", "stereo", "mono")),
    ]
    params = NodeParams(node, SPECS)
    params["rate_hz"]            # 20.0, or the YAML value
    params.unknown_keys          # ["rat_hz"] when the YAML has a typo

Parameters that configure a pipeline take their default from the pipeline's config dataclass, the one
source of defaults (:func:`config_param`), and :func:`config_values` turns their values back into the nested
dict the config's ``from_dict`` reads::

    spec = config_param(StereoMonoConfig, "trainer.cpu_fraction", "share of one core", name="cpu_fraction")
    StereoMonoConfig.from_dict(config_values(params, SPECS))   # {"trainer": {"cpu_fraction": ...}}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
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
    """A parameter file or override holds a value that a spec rejects."""


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
        self.unknown_keys: list[str] = sorted(
            key for key in overrides if key not in self._specs and not key.startswith(_ROS_BUILTIN)
        )
        if self.unknown_keys:
            node.get_logger().warning(
                f"unknown parameters ignored: {', '.join(self.unknown_keys)}; "
                f"known: {', '.join(sorted(self._specs))}"
            )

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
