"""Real-data location: ROBOSSL_DATA wins, and a missing folder gives an actionable error."""

from __future__ import annotations

from pathlib import Path

import pytest

from robossl.data import locate


def test_env_var_overrides_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "har").mkdir()
    monkeypatch.setenv("ROBOSSL_DATA", str(tmp_path))
    assert locate.data_root() == tmp_path
    assert locate.require_data("har") == tmp_path / "har"


def test_missing_root_names_the_folder_and_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROBOSSL_DATA", str(tmp_path / "nowhere"))
    assert locate.data_root() is None
    with pytest.raises(FileNotFoundError, match="ROBOSSL_DATA") as info:
        locate.require_data("har")
    assert "nowhere" in str(info.value)


def test_missing_subfolder_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBOSSL_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="'stereo/x' not found"):
        locate.require_data("stereo/x")


def test_real_data_fixture_finds_the_shared_readme(real_data) -> None:
    root = real_data("")
    assert (root / "README.md").is_file()
