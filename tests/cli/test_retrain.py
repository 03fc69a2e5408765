"""`robossl retrain`: labels cached by the first run and read by the next, forced recompute, the node's
checkpoint format, and named errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from robossl.cli.main import main
from robossl.pipelines.stereo_mono.config import StereoMonoConfig
from robossl.pipelines.stereo_mono.log_training import calibration_from_log
from robossl.pipelines.stereo_mono.pipeline import StereoMonoPipeline
from tests.data.stereo_log import write_stereo_log

SMALL = """
stereo_mono:
  student: {input_height: 64, input_width: 96, width: 0.5}
  min_confident_fraction: 0.5
"""


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    for seed in range(2):
        write_stereo_log(tmp_path / "flights" / f"flight_{seed}", frames=4, seed=seed)
    config = tmp_path / "stereo_mono.yaml"
    config.write_text(SMALL)
    return tmp_path / "flights", config


def retrain(folder: Path, config: Path, out: Path, *extra: str) -> list[str]:
    argv = ["retrain", str(folder), "--config", str(config), "--out", str(out), "--steps", "2"]
    return argv + ["--batch-size", "4", "--threads", "1", *extra]


def test_second_run_reads_the_cached_labels_and_writes_a_loadable_checkpoint(setup, tmp_path, capsys) -> None:
    folder, config = setup
    out = tmp_path / "student.pt"
    assert main(retrain(folder, config, out)) == 0
    assert (
        "2 log(s): 0 with cached teacher labels, 2 labelled now; 8 labelled frame(s)"
        in capsys.readouterr().out
    )
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".teacher_cache")) == [
        "flight_0.teacher_cache",
        "flight_1.teacher_cache",
    ]
    assert main(retrain(folder, config, out)) == 0
    assert "2 log(s): 2 with cached teacher labels, 0 labelled now" in capsys.readouterr().out
    assert main(retrain(folder, config, out, "--recompute-teacher")) == 0
    assert "0 with cached teacher labels, 2 labelled now" in capsys.readouterr().out
    pipeline_config = StereoMonoConfig.from_dict(
        {"student": {"input_height": 64, "input_width": 96, "width": 0.5}}
    )
    pipeline = StereoMonoPipeline(pipeline_config, calibration_from_log(folder / "flight_0", _topics()))
    assert pipeline.load(out) == out
    assert pipeline.learner.steps == 2


def _topics():
    from robossl.pipelines.stereo_mono.log_training import StereoLogTopics

    return StereoLogTopics()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--steps", "0"], "--steps must be >= 1"),
        (["--left", "/cam0/image_raw"], "flight_0: has no topic(s) ['/cam0/image_raw']"),
        (["--left-info", "/nothing"], "/nothing"),
    ],
)
def test_bad_input_is_named_with_status_2(setup, tmp_path, capsys, extra, message) -> None:
    folder, config = setup
    assert main(retrain(folder, config, tmp_path / "s.pt", *extra)) == 2
    error = capsys.readouterr().err
    assert error.startswith("robossl retrain: ") and message in error


def test_a_missing_log_and_a_bad_config_are_named(setup, tmp_path, capsys) -> None:
    folder, config = setup
    assert main(retrain(tmp_path / "nowhere", config, tmp_path / "s.pt")) == 2
    assert "nowhere: no such log or folder" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("stereo_mono: {sgbm: {num_disparities: 20}}\n")
    assert main(retrain(folder, bad, tmp_path / "s.pt")) == 2
    assert "bad.yaml: num_disparities must be a positive multiple of 16" in capsys.readouterr().err
