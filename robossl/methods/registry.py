"""Methods registered by name: ``build_method("barlow_twins", spec, lambda_offdiagonal=1e-2)``.

A registration is a factory ``(spec, config) -> SSLMethod``, a dataclass config type whose fields are the
method's hyperparameters (paper defaults, edge-sized widths), and the modalities it supports. Unknown
configuration keys raise a :class:`robossl.errors.MethodConfigError` (a ``ValueError``) that lists the valid
ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from robossl.errors import MethodConfigError
from robossl.methods.base import MODALITIES, InputSpec, SSLMethod


@dataclass(frozen=True)
class MethodEntry:
    name: str  # registry key
    factory: Callable[[InputSpec, Any], SSLMethod]  # builds the method from spec and config
    config_type: type  # dataclass of hyperparameters
    modalities: tuple[str, ...]  # input modalities it supports
    paper: str  # citation shown in docs and CLI listings


_REGISTRY: dict[str, MethodEntry] = {}
# Values a config field annotated with these names accepts (configs use postponed annotations), and how
# to say so.
_ACCEPTED_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "int": ((int,), "an integer"),
    "float": ((int, float), "a number"),
    "bool": ((bool,), "true or false"),
    "str": ((str,), "a string"),
}


def register_method(
    name: str, config_type: type, paper: str, modalities: tuple[str, ...] = MODALITIES
) -> Callable[[Callable[[InputSpec, Any], SSLMethod]], Callable[[InputSpec, Any], SSLMethod]]:
    """Decorator registering a factory under ``name``."""

    def decorate(factory: Callable[[InputSpec, Any], SSLMethod]) -> Callable[[InputSpec, Any], SSLMethod]:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} is already registered")
        _REGISTRY[name] = MethodEntry(name, factory, config_type, modalities, paper)
        return factory

    return decorate


def available_methods() -> dict[str, MethodEntry]:
    """All registered methods by name."""
    return dict(sorted(_REGISTRY.items()))


def make_config(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """The method's config dataclass with ``overrides`` applied (lists become tuples)."""
    entry = _entry(name)
    overrides = dict(overrides or {})
    fields = {f.name: f for f in dataclasses.fields(entry.config_type)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise MethodConfigError(
            f"unknown config keys for method {name!r}: {unknown}; valid keys: {sorted(fields)}"
        )
    for key, value in overrides.items():
        check = _ACCEPTED_TYPES.get(str(fields[key].type))
        if check is None:  # a field of another type (tuple, ...): its factory checks it
            continue
        accepted, description = check
        # bool is an int to Python, but num_devices=true is a typo, not a number.
        if not isinstance(value, accepted) or (bool not in accepted and isinstance(value, bool)):
            raise MethodConfigError(
                f"config key {key!r} of method {name!r} must be {description}, got {value!r}"
            )
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return entry.config_type(**overrides)


def build_method(name: str, spec: InputSpec, **overrides: Any) -> SSLMethod:
    """Build method ``name`` for inputs described by ``spec``; ``overrides`` set config fields."""
    entry = _entry(name)
    if spec.modality not in entry.modalities:
        raise MethodConfigError(
            f"method {name!r} supports modalities {entry.modalities}, not {spec.modality!r}; "
            "choose a method for this modality (robossl pretrain --list shows them)"
        )
    config = make_config(name, overrides)
    try:
        return entry.factory(spec, config)
    except MethodConfigError:
        raise
    except ValueError as exc:  # the value checks of objectives and heads (say what to fix, lightly-style)
        raise MethodConfigError(
            f"method {name!r} cannot be built for {spec.modality} samples {spec.shape}: {exc}"
        ) from exc


def _entry(name: str) -> MethodEntry:
    if name not in _REGISTRY:
        raise MethodConfigError(
            f"unknown method {name!r}; available: {sorted(_REGISTRY)} (robossl pretrain --list describes them)"
        )
    return _REGISTRY[name]
