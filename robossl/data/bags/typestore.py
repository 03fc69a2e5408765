"""The ``rosbags`` type store used to decode a bag.

rosbag2: ROS 2 Jazzy's standard types, plus the bag's embedded definitions for types Jazzy does not know
(custom messages). Embedded definitions of standard types are ignored on purpose: some writers embed
placeholder text (the rosbag2 test fixtures store ``"uint8 level"`` for ``rcl_interfaces/msg/Log``).
ROS 1: the definitions embedded in the bag (always present, md5-checked by the ROS 1 format).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from robossl.data.bags.storage import SourceConnection

__all__ = ["build_typestore", "default_typestore"]


def default_typestore() -> Any:
    """A fresh ROS 2 Jazzy type store (safe to extend; each call returns a new one)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_JAZZY)


def _types_from(conn: SourceConnection) -> dict[str, Any]:
    from rosbags.typesys import get_types_from_idl, get_types_from_msg

    if conn.msgdef_format == "msg":
        return dict(get_types_from_msg(conn.msgdef, conn.msgtype))
    types: dict[str, Any] = {}
    separator = "=" * 80 + "\n"
    if conn.msgdef.startswith(separator + "IDL: "):
        for block in conn.msgdef.split(separator)[1:]:
            _, idl = block.split("\n", 1)
            types.update(get_types_from_idl(idl))
    else:
        types.update(get_types_from_idl(conn.msgdef))
    return types


def build_typestore(
    connections: Sequence[SourceConnection], ros1: bool, base: Any = None
) -> tuple[Any, list[str]]:
    """Type store able to decode ``connections``.

    Args:
        connections: every connection of the bag.
        ros1: the bag is a ROS 1 bag.
        base: a user type store to start from (rosbag2 only); default ROS 2 Jazzy.

    Returns:
        ``(typestore, problems)``; ``problems`` names types that cannot be decoded (their messages are
        still readable as raw bytes).
    """
    from rosbags.typesys import Stores, get_typestore

    problems: list[str] = []
    if ros1:
        store = get_typestore(Stores.EMPTY)
        types: dict[str, Any] = {}
        for conn in connections:
            if conn.msgdef_format != "none" and conn.msgtype not in types:
                types.update(_types_from(conn))
        store.register(types)
        return store, problems
    store = base if base is not None else default_typestore()
    extra: dict[str, Any] = {}
    for conn in connections:
        if conn.msgtype in store.fielddefs or conn.msgtype in extra:
            continue
        if conn.msgdef_format == "none" or not conn.msgdef:
            problems.append(
                f"{conn.source_path}: type {conn.msgtype} of topic {conn.topic!r} is not a ROS 2 Jazzy type "
                "and the bag embeds no definition; its messages can only be read raw (decode=False)"
            )
            continue
        try:
            extra.update({k: v for k, v in _types_from(conn).items() if k not in store.fielddefs})
        except Exception as exc:  # rosbags TypesysError on malformed definitions
            problems.append(f"{conn.source_path}: embedded definition of {conn.msgtype} unreadable ({exc})")
    if extra:
        store.register(extra)
    return store, problems
