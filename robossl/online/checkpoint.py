"""Atomic, digest-checked checkpoints that are safe to load from untrusted files.

A checkpoint is a nested structure of tensors, numbers, strings, lists and dicts (model and optimizer
state dicts, step counters, metadata). File layout (robossl checkpoint v2)::

    offset  size  field
    0       16    HEADER_MAGIC  b"ROBOSSL-CKPT-V2\\n"
    16      8     payload length in bytes, unsigned little-endian
    24      32    SHA-256 of the payload
    56      n     payload: ``torch.save({"format": CHECKPOINT_FORMAT, "state": state})``

The digest covers the whole payload and the length field covers truncation or appended bytes, so any
changed, missing or extra byte is refused with :class:`CheckpointCorruptError` before anything is
unpickled. The digest detects accidental corruption (bad flash, killed writers, copy errors); it is not a
signature. Code execution from a crafted file is prevented separately: the payload is read with
``torch.load(weights_only=True)``.

Writing: the file goes to ``.<name>.<8 random chars>.tmp`` in the same folder, is fsynced, and renamed
over the target, so a crash never leaves a half-written checkpoint and never destroys the previous one.
The last ``keep`` checkpoints (default 3, so up to three times the disk space) are kept as ``name.pt``
(newest), ``name.1.pt``, ``name.2.pt``...; older copies are shifted oldest first by hard link (or copy, on
file systems without links) before the rename, so at every moment each name holds a complete checkpoint
and ``kill -9`` at any point loses nothing. :func:`load_latest_good` falls back along that list. A writer holds an ``flock`` on its temp file; temp files that nobody holds are the orphans of
killed writers and are removed by the next :func:`save_checkpoint` or :func:`load_latest_good` of that
checkpoint.

Legacy files (v1, a bare ``torch.save`` zip without header) still load, with a logged warning, unless
``allow_legacy=False``; saving again converts them.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import logging
import os
import re
import secrets
import shutil
import struct
import threading
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "robossl-checkpoint-v2"  # format tag inside the payload
LEGACY_FORMAT = "robossl-checkpoint-v1"  # headerless torch zip written before v2
HEADER_MAGIC = b"ROBOSSL-CKPT-V2\n"
_HEADER = struct.Struct("<16sQ32s")  # magic, payload length, SHA-256 of the payload
HEADER_SIZE = _HEADER.size
_ZIP_MAGIC = b"PK\x03\x04"  # a torch.save file (legacy checkpoints start with it)
DEFAULT_KEEP = 3  # checkpoints kept per target: the newest plus two older ones

# One lock per target so threads of one process never interleave a save with another save or a cleanup.
_locks_guard = threading.Lock()
_locks: dict[Path, threading.Lock] = {}


class CheckpointCorruptError(ValueError):
    """A checkpoint file is damaged or not a robossl checkpoint; ``path`` names it, ``reason`` says why."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"checkpoint {path} is corrupt or not a robossl checkpoint: {reason}. Restore it from a backup, "
            f"or load the newest good older copy with load_latest_good() ({history_path(path, 1).name}, ...)"
        )


def history_path(path: str | os.PathLike[str], index: int) -> Path:
    """``path`` for index 0, else the ``index``-th older copy (``model.pt`` -> ``model.2.pt``)."""
    target = Path(path)
    if index == 0:
        return target
    return target.with_name(f"{target.stem}.{index}{target.suffix}")


def checkpoint_history(path: str | os.PathLike[str]) -> list[Path]:
    """The existing files of a checkpoint, newest first: ``path``, ``path.1``, ... up to the first gap."""
    files = []
    index = 0
    while history_path(path, index).is_file():
        files.append(history_path(path, index))
        index += 1
    return files


def _target_lock(target: Path) -> threading.Lock:
    key = target.absolute()
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _temp_pattern(target: Path) -> re.Pattern[str]:
    # Names made by _locked_temp_file (hex) and by tempfile.mkstemp before v2 ([a-z0-9_]), nothing else.
    return re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}\.tmp")


def _locked_temp_file(target: Path) -> tuple[int, Path]:
    """Create ``.<name>.<random>.tmp`` next to ``target`` and hold an exclusive flock on it."""
    while True:
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        fcntl.flock(fd, fcntl.LOCK_EX)
        # A cleaner in another process may have taken the lock first and unlinked the fresh file.
        try:
            if os.stat(tmp).st_ino == os.fstat(fd).st_ino:
                return fd, tmp
        except FileNotFoundError:
            pass
        os.close(fd)


def remove_orphan_temp_files(path: str | os.PathLike[str]) -> list[Path]:
    """Delete the temp files that killed writers of checkpoint ``path`` left behind; return them.

    Only ``.<name>.<8 chars>.tmp`` files next to ``path`` are candidates, and only those no live writer
    holds locked. Nothing else in the folder is touched.
    """
    target = Path(path)
    if not target.parent.is_dir():
        return []
    pattern = _temp_pattern(target)
    removed = []
    for candidate in target.parent.iterdir():
        if not pattern.fullmatch(candidate.name):
            continue
        try:
            fd = os.open(candidate, os.O_RDONLY)
        except OSError:
            continue  # gone already, or not ours to open
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # a live writer holds it
        try:
            candidate.unlink()
            removed.append(candidate)
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)
    if removed:
        size = "orphan temp file" if len(removed) == 1 else "orphan temp files"
        log.info("removed %d %s of killed checkpoint writes next to %s", len(removed), size, target)
    return removed


def _fsync_dir(folder: Path) -> None:
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _copy_over(target: Path, source: Path, destination: Path) -> None:
    """Make ``destination`` a copy of ``source`` (hard link, else copy) without a moment where either is
    missing; the temp name follows ``target``'s orphan pattern."""
    fd = os.open(source, os.O_RDONLY)
    try:
        # Locking the source's inode first means the hard link is born locked: no cleaner can take it.
        fcntl.flock(fd, fcntl.LOCK_EX)
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        copy_fd = -1
        try:
            os.link(source, tmp)
        except OSError:  # file systems without hard links (FAT/exFAT SD cards): a locked copy instead
            copy_fd, tmp = _locked_temp_file(target)
        try:
            if copy_fd >= 0:
                shutil.copyfile(source, tmp)
                os.fsync(copy_fd)  # same inode: copyfile reopened the locked temp file by name
            os.replace(tmp, destination)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            if copy_fd >= 0:
                os.close(copy_fd)
    finally:
        os.close(fd)


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any], keep: int = DEFAULT_KEEP) -> Path:
    """Write ``state`` atomically to ``path`` (parents are created), keeping ``keep`` checkpoints.

    The previous checkpoints move to ``name.1.pt`` ... ``name.<keep-1>.pt``; ``keep=1`` keeps none. Orphan
    temp files of killed earlier writes are removed first. Returns ``path``.

    Raises:
        TypeError: when ``state`` is not a dict.
        ValueError: when ``keep`` is below 1.
    """
    if not isinstance(state, dict):
        raise TypeError(f"checkpoint state must be a dict, got {type(state).__name__}")
    if keep < 1:
        raise ValueError(f"keep={keep}: a checkpoint keeps at least its newest file; use keep >= 1")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "state": state}, buffer)
    payload = buffer.getbuffer()
    header = _HEADER.pack(HEADER_MAGIC, len(payload), hashlib.sha256(payload).digest())
    with _target_lock(target):
        remove_orphan_temp_files(target)
        fd, tmp = _locked_temp_file(target)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(header)
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
                if keep > 1 and target.is_file():
                    # Shift by copying oldest first, so every name always holds a complete checkpoint.
                    for index in range(keep - 1, 0, -1):
                        newer = history_path(target, index - 1)
                        if newer.is_file():
                            _copy_over(target, newer, history_path(target, index))
                os.replace(tmp, target)  # still locked: a cleaner never takes a temp file mid-write
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    _fsync_dir(target.parent)
    return target


def _read_payload(source: Path, data: bytes, allow_legacy: bool) -> tuple[bytes, bool]:
    """Check the header and digest of a file's bytes; return (payload, whether the file is legacy)."""
    if data.startswith(_ZIP_MAGIC):
        if not allow_legacy:
            raise CheckpointCorruptError(
                source, "it has no integrity digest (written before checkpoint v2) and allow_legacy=False"
            )
        log.warning(
            "checkpoint %s has no integrity digest (written before robossl checkpoint v2): corruption "
            "cannot be detected; save it again to add one",
            source,
        )
        return data, True
    if len(data) < HEADER_SIZE:
        raise CheckpointCorruptError(source, f"{len(data)} bytes, shorter than the {HEADER_SIZE}-byte header")
    magic, length, digest = _HEADER.unpack_from(data)
    if magic != HEADER_MAGIC:
        raise CheckpointCorruptError(source, f"header starts with {magic!r}, expected {HEADER_MAGIC!r}")
    payload = data[HEADER_SIZE:]
    if len(payload) != length:
        raise CheckpointCorruptError(
            source, f"payload is {len(payload)} bytes but the header says {length} (truncated or appended to)"
        )
    if hashlib.sha256(payload).digest() != digest:
        raise CheckpointCorruptError(source, "SHA-256 of the payload differs from the digest in the header")
    return payload, False


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu", allow_legacy: bool = True
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (digest checked, ``weights_only=True``).

    Args:
        path: the checkpoint file.
        map_location: device the tensors are loaded to.
        allow_legacy: accept headerless v1 checkpoints (no digest) with a logged warning.

    Raises:
        FileNotFoundError: when the file does not exist.
        CheckpointCorruptError: (a ``ValueError``) when the file is damaged (digest, length or header
            mismatch), unreadable or unsafe for ``weights_only``, or not a robossl checkpoint.
    """
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"checkpoint {source} does not exist")
    payload, legacy = _read_payload(source, source.read_bytes(), allow_legacy)
    try:
        loaded = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt / unsafe files
        raise CheckpointCorruptError(
            source, f"unreadable or unsafe to load ({type(exc).__name__}: {str(exc)[:300]})"
        ) from exc
    tag = LEGACY_FORMAT if legacy else CHECKPOINT_FORMAT
    if not isinstance(loaded, dict) or loaded.get("format") != tag:
        raise CheckpointCorruptError(source, f"no format tag {tag!r} in the payload")
    state = loaded.get("state")
    if not isinstance(state, dict):
        raise CheckpointCorruptError(source, f"its state is a {type(state).__name__}, not a dict")
    return state


def load_latest_good(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> tuple[dict[str, Any], Path]:
    """Load ``path``, or when it is corrupt the newest good older copy (``name.1.pt``, ...).

    For loading at start-up: orphan temp files of killed writes are removed first, and a fall-back is
    logged as a warning naming the corrupt files. Returns ``(state, file actually loaded)``.

    Raises:
        FileNotFoundError: when ``path`` does not exist (older copies alone are not loaded: deleting the
            newest file is how a model is reset).
        CheckpointCorruptError: when ``path`` and every older copy are corrupt (all are named).
    """
    target = Path(path)
    if not target.is_file():
        raise FileNotFoundError(f"checkpoint {target} does not exist")
    with _target_lock(target):
        remove_orphan_temp_files(target)
    failures: list[CheckpointCorruptError] = []
    for candidate in checkpoint_history(target):
        try:
            state = load_checkpoint(candidate, map_location)
        except CheckpointCorruptError as exc:
            failures.append(exc)
            continue
        if failures:
            log.warning(
                "fell back to checkpoint %s, the newest good one: %s",
                candidate,
                "; ".join(f"{exc.path} is corrupt ({exc.reason})" for exc in failures),
            )
        return state, candidate
    reasons = "; ".join(f"{exc.path.name}: {exc.reason}" for exc in failures)
    raise CheckpointCorruptError(
        target,
        f"it and all {len(failures) - 1} older copies are corrupt ({reasons}); move them away to start fresh",
    )
