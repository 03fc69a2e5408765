"""Which storage files a bag path means: a ``.bag`` / ``.mcap`` / ``.db3`` file, or a rosbag2 folder.

A rosbag2 folder is read through its ``metadata.yaml`` (the files it lists; a listed file that is missing is
reported and skipped). A folder whose ``metadata.yaml`` is missing (a recording killed before it closed) or,
with salvage on, unreadable, is read from the ``.mcap`` / ``.db3`` files it holds. Used by
:class:`robossl.data.bags.reader.BagReader`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from robossl.data.bags.storage import BagError

__all__ = ["MISSING", "storage_files"]

MISSING = "listed in metadata.yaml but missing"  # marks the problems that count a missing storage file


def storage_files(paths: Sequence[Path], problems: list[str], salvage: bool) -> list[Path]:
    """Storage files (``.bag``, ``.mcap``, ``.db3``) behind the given paths."""
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise BagError(path, "does not exist")
        if path.is_file():
            files.append(path)
            continue
        meta = path / "metadata.yaml"
        if not meta.is_file():
            found = _storage_files(path)
            problems.append(
                f"{meta}: missing (recording interrupted before it closed?); reading {_names(found)} found "
                "in the folder"
            )
            files.extend(found)
            continue
        try:
            files.extend(_files_from_metadata(meta, problems))
        except _UnreadableMetadata as exc:
            if not salvage:
                raise BagError(
                    meta,
                    f"is not a valid rosbag2 metadata file ({exc}); fix or remove it, or read the bag with "
                    "salvage on (the CLI without --strict) to read the storage files in the folder",
                ) from exc
            found = _storage_files(path)
            problems.append(
                f"{meta}: not a valid rosbag2 metadata file ({exc}); reading {_names(found)} found in the folder"
            )
            files.extend(found)
    return files


def _storage_files(folder: Path) -> list[Path]:
    found = sorted(p for p in folder.iterdir() if p.suffix in (".mcap", ".db3"))
    if not found:
        raise BagError(
            folder, "is a folder without a readable metadata.yaml and without .mcap/.db3 files; not a bag"
        )
    return found


def _names(files: list[Path]) -> str:
    return f"{len(files)} storage file(s) ({', '.join(f.name for f in files)})"


class _UnreadableMetadata(Exception):
    """metadata.yaml cannot be parsed as a rosbag2 metadata file."""


def _files_from_metadata(meta: Path, problems: list[str]) -> list[Path]:
    try:
        text = meta.read_bytes().decode("utf-8")
        info = yaml.safe_load(text)["rosbag2_bagfile_information"]
        storage = str(info.get("storage_identifier", ""))
        relative = [str(p) for p in info.get("relative_file_paths", [])]
        compression = str(info.get("compression_mode", "") or "")
    except UnicodeDecodeError as exc:
        raise _UnreadableMetadata(f"not UTF-8 text: {exc}") from exc
    except RecursionError as exc:  # PyYAML recurses once per nesting level
        raise _UnreadableMetadata("nested too deeply to parse") from exc
    except (yaml.YAMLError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise _UnreadableMetadata(f"{type(exc).__name__}: {exc}".replace("\n", " ")) from exc
    if storage not in ("mcap", "sqlite3"):
        raise BagError(meta, f"unknown storage identifier {storage!r}; robossl reads 'mcap' and 'sqlite3'")
    if compression not in ("", "none", "NONE"):
        # compressed per file or per message: rosbags' directory reader decompresses (needs metadata.yaml)
        return [meta.parent]
    files = []
    for rel in relative:
        candidates = [meta.parent / rel, meta.parent / Path(rel).name]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            problems.append(f"{meta.parent / Path(rel).name}: {MISSING}; skipped")
        else:
            files.append(found)
    if not files:
        raise BagError(meta, "lists no storage file that exists")
    return files
