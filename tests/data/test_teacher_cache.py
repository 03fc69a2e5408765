"""The teacher-label cache on plain files: hits, invalidation by config and by log, damage, read-only logs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from robossl.data.teacher_cache import (
    TeacherCacheWarning,
    TeacherKey,
    cache_paths,
    cached_labels,
    log_fingerprint,
)


class CountingTeacher:
    """A deterministic 'teacher' over the log's bytes that counts its runs."""

    def __init__(self, log: Path) -> None:
        self.log, self.runs = log, 0

    def __call__(self) -> dict[str, np.ndarray]:
        self.runs += 1
        data = np.frombuffer(self.log.read_bytes(), np.uint8)
        return {"labels": (data % 7).astype(np.int16), "scores": data.astype(np.float32) / 255.0}


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "logs" / "run.mcap"
    path.parent.mkdir()
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    return path


KEY = TeacherKey("toy", {"clusters": 4, "window_s": 0.5})


def test_a_second_pass_reads_identical_labels_without_running_the_teacher(log: Path) -> None:
    teacher = CountingTeacher(log)
    first, hit_first = cached_labels(log, KEY, teacher)
    second, hit_second = cached_labels(log, KEY, teacher)
    assert (hit_first, hit_second, teacher.runs) == (False, True, 1)
    assert set(second) == {"labels", "scores"}
    for name in first:
        assert second[name].dtype == first[name].dtype
        np.testing.assert_array_equal(second[name], first[name])
    assert cache_paths(log, KEY)[0].is_file()
    assert cache_paths(log, KEY)[0].parent == log.parent / "run.mcap.teacher_cache"


def test_another_teacher_config_is_another_cache_entry(log: Path) -> None:
    teacher = CountingTeacher(log)
    cached_labels(log, KEY, teacher)
    _, hit = cached_labels(log, TeacherKey("toy", {"clusters": 5, "window_s": 0.5}), teacher)
    assert (hit, teacher.runs) == (False, 2)
    # the key is canonical: the same settings in another order hit
    _, hit = cached_labels(log, TeacherKey("toy", {"window_s": 0.5, "clusters": 4}), teacher)
    assert (hit, teacher.runs) == (True, 2)


def test_a_changed_log_is_relabelled(log: Path) -> None:
    teacher = CountingTeacher(log)
    before, _ = cached_labels(log, KEY, teacher)
    data = bytearray(log.read_bytes())
    data[10] ^= 0xFF  # same size; the mtime is also pinned so only the bytes tell
    mtime = log.stat().st_mtime_ns
    log.write_bytes(bytes(data))
    os.utime(log, ns=(mtime, mtime))
    after, hit = cached_labels(log, KEY, teacher)
    assert (hit, teacher.runs) == (False, 2)
    assert after["labels"][10] != before["labels"][10]
    _, hit = cached_labels(log, KEY, teacher)
    assert (hit, teacher.runs) == (True, 2)


def test_a_folder_log_fingerprint_covers_every_file(tmp_path: Path) -> None:
    folder = tmp_path / "bag"
    folder.mkdir()
    (folder / "metadata.yaml").write_text("a: 1\n")
    (folder / "bag_0.mcap").write_bytes(b"x" * 3000)
    before = log_fingerprint(folder)
    (folder / "bag_1.mcap").write_bytes(b"y")
    assert log_fingerprint(folder) != before


@pytest.mark.parametrize("damage", ["flip_byte", "rewritten_zip", "truncate", "garbage"])
def test_a_damaged_cache_is_recomputed_with_a_warning(log: Path, damage: str) -> None:
    teacher = CountingTeacher(log)
    good, _ = cached_labels(log, KEY, teacher)
    path = cache_paths(log, KEY)[0]
    data = bytearray(path.read_bytes())
    if damage == "flip_byte":  # inside the stored scores (the zip's CRC-32 or the checksum tells)
        offset = data.index(np.asarray(good["scores"][:8]).tobytes()) + 4
        data[offset] ^= 0x01
    elif damage == "rewritten_zip":  # a well-formed .npz whose arrays no longer match the stored checksum
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name].copy() for name in stored.files}
        arrays["scores"][3] += 1.0
        np.savez(path, **arrays)
        data = bytearray(path.read_bytes())
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data = bytearray(b"not a zip file at all")
    path.write_bytes(bytes(data))
    with pytest.warns(TeacherCacheWarning, match=f"{path}.*recomputing"):
        again, hit = cached_labels(log, KEY, teacher)
    assert (hit, teacher.runs) == (False, 2)
    np.testing.assert_array_equal(again["scores"], good["scores"])
    _, hit = cached_labels(log, KEY, teacher)  # the rewritten file is good again
    assert (hit, teacher.runs) == (True, 2)


def test_recompute_forces_the_teacher(log: Path) -> None:
    teacher = CountingTeacher(log)
    cached_labels(log, KEY, teacher)
    _, hit = cached_labels(log, KEY, teacher, recompute=True)
    assert (hit, teacher.runs) == (False, 2)


def test_an_unwritable_place_beside_the_log_caches_in_the_cache_folder(log: Path, tmp_path: Path) -> None:
    teacher = CountingTeacher(log)
    cache_dir = tmp_path / "cache"
    (log.parent / "run.mcap.teacher_cache").write_text("a file where the cache folder would go")
    _, hit_first = cached_labels(log, KEY, teacher, cache_dir=cache_dir)
    _, hit_second = cached_labels(log, KEY, teacher, cache_dir=cache_dir)
    assert (hit_first, hit_second, teacher.runs) == (False, True, 1)
    assert cache_paths(log, KEY, cache_dir)[1].is_file()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_log_folder_caches_in_the_cache_folder(log: Path, tmp_path: Path) -> None:
    teacher = CountingTeacher(log)
    cache_dir = tmp_path / "cache"
    folder_mode = log.parent.stat().st_mode
    os.chmod(log.parent, stat.S_IRUSR | stat.S_IXUSR)
    try:
        _, hit_first = cached_labels(log, KEY, teacher, cache_dir=cache_dir)
        _, hit_second = cached_labels(log, KEY, teacher, cache_dir=cache_dir)
    finally:
        os.chmod(log.parent, folder_mode)
    assert (hit_first, hit_second, teacher.runs) == (False, True, 1)
    beside, elsewhere = cache_paths(log, KEY, cache_dir)
    assert not beside.exists() and elsewhere.is_file() and cache_dir in elsewhere.parents


def test_object_arrays_are_refused(log: Path) -> None:
    with pytest.raises(TypeError, match="pickle"):
        cached_labels(log, KEY, lambda: {"bad": np.array([{"a": 1}], dtype=object)})
