"""Teacher-label cache: a log's teacher output computed once, stored beside the log, reused by later passes.

A teacher (SGBM stereo, terrain clustering, HAR pseudo-labelling) is the expensive part of a first pass over
a log; retraining epochs and re-runs only need its output. :func:`cached_labels` returns the arrays from the
cache when the cache still matches, and otherwise computes, stores and returns them::

    key = TeacherKey("stereo_sgbm", {"sgbm": {...}, "student_size": [128, 160]})
    arrays, hit = cached_labels("flight_bag", key, compute=lambda: label_every_pair(...))

Where: ``<log's folder>/<log name>.teacher_cache/<teacher>-<key digest>.npz`` beside the log (a rosbag2
folder, a ``.mcap`` / ``.db3`` / ``.bag`` file); when the log's folder is not writable, in ``cache_dir``
(default ``$ROBOSSL_CACHE_DIR`` or ``~/.cache/robossl/teacher``), in a subfolder named after the log's
absolute path. The file name carries the digest of the teacher's name and settings, so another teacher
config uses another file and never a stale one.

What invalidates it:
- the teacher config: another digest, another file (the old file stays until deleted);
- the log: a fingerprint of every file of the log (relative name, size, modification time in ns, and a
  SHA-256 of its first and last MiB) is stored in the file and compared on load. This is cheap on large
  logs, and misses only an edit in the middle of a file > 2 MiB that keeps its size *and* modification
  time (``touch`` the log, or pass ``recompute=True`` / ``--recompute-teacher``, after such surgery);
- damage: the file stores a SHA-256 of all its arrays (name, dtype, shape, bytes); a file that does not
  open, lacks a field or fails the checksum is recomputed with a warning naming it, never trusted.

Files are ``.npz`` read with ``allow_pickle=False`` (never pickle) and written atomically (temporary file in
the same folder, fsync, rename), so a crash leaves the old cache or none, not half a file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PathLike = str | os.PathLike[str]
CACHE_FORMAT = 1  # bump when the file layout changes: older files are then recomputed
SUFFIX = ".teacher_cache"  # folder beside a log holding its caches
_META = "__meta__"
_EDGE_BYTES = 1 << 20  # bytes hashed at the head and at the tail of each log file
_log = logging.getLogger(__name__)


class TeacherCacheWarning(UserWarning):
    """A cache file was damaged or unwritable; the labels were recomputed (or not stored)."""


@dataclass(frozen=True)
class TeacherKey:
    """What a cache entry depends on besides the log: the teacher and every setting that changes its output."""

    teacher: str  # teacher name, e.g. "stereo_sgbm"; part of the file name (letters, digits, _ and -)
    config: Mapping[str, Any] = field(default_factory=dict)  # JSON-serialisable settings

    def __post_init__(self) -> None:
        if not self.teacher or not all(c.isalnum() or c in "_-" for c in self.teacher):
            raise ValueError(f"teacher name must be letters, digits, '_' or '-', got {self.teacher!r}")

    def digest(self) -> str:
        """SHA-256 (hex) of the teacher name, its config (canonical JSON) and the cache format."""
        text = json.dumps(
            {"teacher": self.teacher, "config": self.config, "format": CACHE_FORMAT},
            sort_keys=True,
            default=_json_default,
        )
        return hashlib.sha256(text.encode()).hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"teacher config value {value!r} ({type(value).__name__}) is not JSON-serialisable")


def _log_files(log: Path) -> list[Path]:
    if log.is_file():
        return [log]
    if log.is_dir():
        return sorted(p for p in log.rglob("*") if p.is_file())
    raise FileNotFoundError(f"{log}: log not found; pass an existing bag file or rosbag2 folder")


def log_fingerprint(log: PathLike) -> str:
    """SHA-256 (hex) over each file of the log: relative name, size, mtime (ns), first and last MiB."""
    root = Path(log)
    digest = hashlib.sha256()
    for path in _log_files(root):
        stat = path.stat()
        name = path.name if path == root else path.relative_to(root).as_posix()
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        with open(path, "rb") as handle:
            digest.update(handle.read(_EDGE_BYTES))
            if stat.st_size > _EDGE_BYTES:
                handle.seek(max(_EDGE_BYTES, stat.st_size - _EDGE_BYTES))
                digest.update(handle.read(_EDGE_BYTES))
    return digest.hexdigest()


def arrays_checksum(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 (hex) of the arrays' names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """``$ROBOSSL_CACHE_DIR``, else ``$XDG_CACHE_HOME/robossl/teacher``, else ``~/.cache/robossl/teacher``."""
    if os.environ.get("ROBOSSL_CACHE_DIR"):
        return Path(os.environ["ROBOSSL_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "robossl" / "teacher"


def cache_paths(log: PathLike, key: TeacherKey, cache_dir: PathLike | None = None) -> tuple[Path, Path]:
    """(beside the log, in the cache folder): the two places the cache file of ``log`` and ``key`` can be."""
    log_path = Path(log).absolute()
    name = f"{key.teacher}-{key.digest()[:20]}.npz"
    beside = log_path.parent / f"{log_path.name}{SUFFIX}" / name
    tag = hashlib.sha256(os.fsencode(log_path)).hexdigest()[:16]
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return beside, folder / f"{log_path.name}-{tag}" / name


def _writable_folder(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def save_arrays(path: Path, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    """Write ``arrays`` and ``meta`` (with the arrays' checksum added) atomically to ``path`` (.npz)."""
    if _META in arrays:
        raise ValueError(f"array name {_META!r} is reserved for the cache's own metadata")
    record = {**meta, "checksum": arrays_checksum(arrays)}
    payload: dict[str, Any] = {
        **arrays,
        _META: np.frombuffer(json.dumps(record, sort_keys=True).encode(), np.uint8),
    }
    handle = tempfile.NamedTemporaryFile(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            np.savez(handle, **payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class DamagedCacheError(ValueError):
    """A cache file does not open, lacks its metadata or fails its checksum."""


def load_arrays(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and metadata of a cache file, checksum verified.

    Raises:
        DamagedCacheError: the file does not open as an .npz, lacks metadata, or fails the checksum.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        meta = json.loads(arrays.pop(_META).tobytes().decode())
    except (
        OSError,
        EOFError,
        ValueError,
        KeyError,
        zipfile.BadZipFile,
        zlib.error,
        UnicodeDecodeError,
    ) as exc:
        raise DamagedCacheError(
            f"{path}: not a readable teacher cache ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(meta, dict) or "checksum" not in meta:
        raise DamagedCacheError(f"{path}: teacher cache without a checksum in its metadata")
    if arrays_checksum(arrays) != meta["checksum"]:
        raise DamagedCacheError(f"{path}: teacher cache fails its checksum (damaged on disk)")
    return arrays, meta


def cached_labels(
    log: PathLike,
    key: TeacherKey,
    compute: Callable[[], Mapping[str, np.ndarray]],
    recompute: bool = False,
    cache_dir: PathLike | None = None,
) -> tuple[dict[str, np.ndarray], bool]:
    """The teacher's arrays for ``log``: from the cache when it matches, else ``compute()`` (then stored).

    Args:
        log: the bag file or rosbag2 folder the teacher reads.
        key: the teacher and its settings.
        compute: runs the teacher over the log; returns named arrays (numbers, not objects).
        recompute: ignore an existing cache and overwrite it (``--recompute-teacher``).
        cache_dir: the fallback folder used when the log's folder is read-only (see :func:`default_cache_dir`).

    Returns:
        ``(arrays, hit)``: ``hit`` is True when the arrays came from the cache.
    """
    fingerprint = log_fingerprint(log)
    digest = key.digest()
    candidates = cache_paths(log, key, cache_dir)
    if not recompute:
        for path in candidates:
            if not path.is_file():
                continue
            try:
                arrays, meta = load_arrays(path)
            except DamagedCacheError as exc:
                warnings.warn(f"{exc}; recomputing the teacher labels", TeacherCacheWarning, stacklevel=2)
                continue
            if meta.get("key") == digest and meta.get("log") == fingerprint:
                return arrays, True
            _log.info("%s: cache of another log version or teacher; recomputing", path)
    arrays = {name: np.asarray(value) for name, value in compute().items()}
    if any(a.dtype.hasobject for a in arrays.values()):
        raise TypeError(f"teacher {key.teacher}: labels must be numeric arrays (object arrays need pickle)")
    meta = {"key": digest, "log": fingerprint, "teacher": key.teacher, "format": CACHE_FORMAT}
    meta["config"] = json.loads(json.dumps(key.config, default=_json_default))
    for path in candidates:
        if not _writable_folder(path.parent):
            continue
        try:
            save_arrays(path, arrays, meta)
            return arrays, False
        except OSError as exc:  # e.g. disk full: labels are still usable, only not kept
            _log.info("%s: cannot write the teacher cache (%s)", path, exc)
    warnings.warn(
        f"teacher cache for {os.fspath(log)} could not be written beside the log or in {candidates[1].parent}; "
        "set ROBOSSL_CACHE_DIR (or --cache-dir) to a writable folder",
        TeacherCacheWarning,
        stacklevel=2,
    )
    return arrays, False
