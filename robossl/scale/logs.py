"""Which logs to read: a list of bags, or folders holding bags.

A path is a log when it is a bag file (``.mcap``, ``.db3``, ``.bag``) or a rosbag2 folder (it holds a
``metadata.yaml`` or storage files directly). Any other folder is searched one level down for logs, in name
order; teacher-cache folders (``*.teacher_cache``) are never logs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from robossl.data.teacher_cache import SUFFIX
from robossl.errors import DataSourceError, DataSourceNotFoundError

BAG_SUFFIXES = (".mcap", ".db3", ".bag")


def is_log(path: Path) -> bool:
    """True for a bag file or a rosbag2 folder."""
    if path.name.endswith(SUFFIX):
        return False
    if path.is_file():
        return path.suffix in BAG_SUFFIXES
    if path.is_dir():
        if (path / "metadata.yaml").is_file():
            return True
        return any(p.is_file() and p.suffix in (".mcap", ".db3") for p in path.iterdir())
    return False


def discover_logs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The logs named by ``paths`` (files, rosbag2 folders, or folders of those), without duplicates.

    Raises:
        DataSourceNotFoundError: a path does not exist.
        DataSourceError: a path is neither a log nor a folder with logs.
    """
    found: list[Path] = []
    for item in paths:
        path = Path(item)
        if not path.exists():
            raise DataSourceNotFoundError(f"{path}: no such log or folder")
        if is_log(path):
            found.append(path)
            continue
        if path.is_dir():
            inside = [p for p in sorted(path.iterdir()) if is_log(p)]
            if inside:
                found.extend(inside)
                continue
        raise DataSourceError(
            f"{path}: not a log (a .mcap / .db3 / .bag file or a rosbag2 folder) nor a folder of logs; "
            "ROS 1 bags, rosbag2 folders and single storage files are read"
        )
    unique = list(dict.fromkeys(p.absolute() for p in found))
    return unique
