"""`robossl convert` writes a readable bag and reports its counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from robossl.cli.main import main
from robossl.data.bags import BagReader


@pytest.mark.data
def test_convert_euroc_cli(real_data, tmp_path: Path, capsys) -> None:
    source = real_data("stereo/euroc_v1_01_easy_micro")
    assert (
        main(["convert", "euroc", str(source), str(tmp_path / "bag"), "--max-frames", "3", "--no-imu"]) == 0
    )
    assert "/cam0/image_raw: 3 messages" in capsys.readouterr().out
    with BagReader(tmp_path / "bag") as bag:
        assert {t: s.count for t, s in bag.topics.items()} == {
            "/cam0/camera_info": 3,
            "/cam0/image_raw": 3,
            "/cam1/camera_info": 3,
            "/cam1/image_raw": 3,
        }


def test_convert_reports_bad_source(tmp_path: Path, capsys) -> None:
    assert main(["convert", "euroc", str(tmp_path), str(tmp_path / "out")]) == 2
    assert "not a EuRoC sequence" in capsys.readouterr().err
