"""Errors in what a user handed robossl: a data file, a topic, a checkpoint, a method name or setting.

Each is raised where the problem is detected, with a message that names the file, topic or field and says
what to do. They subclass ``ValueError`` / ``FileNotFoundError``, so library callers can keep catching those;
the ``robossl`` command's verbs catch :class:`InputError` and print ``robossl <verb>: <message>`` with exit
status 2 instead of a traceback. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class InputError(Exception):
    """Base of the errors below: the input is at fault, not robossl."""


class DataSourceError(InputError, ValueError):
    """A data source (``.npz``, dataset folder, bag topic) cannot be read or is unsuitable."""


class DataSourceNotFoundError(InputError, FileNotFoundError):
    """A data source path does not exist."""


class MethodConfigError(InputError, ValueError):
    """An unknown method, an unknown or malformed setting, or a method that cannot take these inputs."""


class CheckpointError(InputError, ValueError):
    """A checkpoint is missing, unreadable, not of the expected kind, or does not fit the run."""
