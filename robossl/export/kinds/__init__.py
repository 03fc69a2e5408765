"""Deployable model kinds: checkpoint contents -> module + example input + metadata.

Importing this package registers every built-in kind. Add a kind by writing a module here that calls
:func:`register_kind` and importing it below.
"""

from robossl.export.kinds import backbones, collossl, pretrain, stereo_mono, terrain  # noqa: F401  (each registers its kinds)
from robossl.export.kinds.registry import (
    Deployable,
    ModelKind,
    available_kinds,
    detect_kind,
    load_deployable,
    register_kind,
)

__all__ = ["Deployable", "ModelKind", "available_kinds", "detect_kind", "load_deployable", "register_kind"]
