"""``robossl pretrain`` / ``robossl probe`` on bad input: a one-line error that names the file, topic or
field and says what to do, a non-zero exit status, and no traceback (issue 23, item 9).

Everything runs through ``robossl.cli.main.main`` in-process on small generated files: ``.npz`` windows,
a rosbag2 written with the project's :class:`robossl.data.bags.BagWriter`, and checkpoints written by a
real two-step ``robossl pretrain``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from robossl.cli.main import main
from robossl.data.bags import BagWriter
from robossl.data.bags.message_builders import build_imu
from robossl.data.bags.typestore import default_typestore
from robossl.online.checkpoint import load_checkpoint, save_checkpoint

SMALL = [
    "--batch-size",
    "8",
    "--threads",
    "1",
    "--set",
    "projection_hidden_dim=16",
    "--set",
    "projection_dim=8",
]


def _windows(n: int = 60, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 32, 4)`` sinusoids whose frequency (1, 3, 6 Hz) is the class."""
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 3 if labels is None else labels
    t = np.arange(32) / 32
    frequency = np.array([1.0, 3.0, 6.0])[labels]
    phase = rng.uniform(0, 6, (n, 1, 4))
    windows = np.sin(2 * np.pi * frequency[:, None, None] * t[None, :, None] + phase)
    return (windows + 0.1 * rng.normal(size=windows.shape)).astype(np.float32), labels


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli_errors")


@pytest.fixture(scope="module")
def windows_npz(folder: Path) -> Path:
    windows, labels = _windows()
    path = folder / "windows.npz"
    np.savez(path, windows=windows, labels=labels, groups=(np.arange(60) // 5) % 3)
    return path


@pytest.fixture(scope="module")
def checkpoint(folder: Path, windows_npz: Path) -> Path:
    argv = ["pretrain", "--method", "simclr", "--data", str(windows_npz), "--steps", "2"]
    assert main([*argv, "--out", str(folder / "run"), *SMALL]) == 0
    return folder / "run" / "checkpoint.pt"


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI; assert a non-zero status and no traceback; return stdout + stderr."""
    code = main(argv)
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert code != 0, output
    assert "Traceback" not in output
    return output


def _pretrain(data: Path, folder: Path, *extra: str, method: str = "simclr") -> list[str]:
    out = str(folder / f"out_{method}")
    return ["pretrain", "--method", method, "--data", str(data), "--steps", "2", "--out", out, *extra]


def _probe(checkpoint: Path, data: Path, folder: Path, *extra: str) -> list[str]:
    json_path = str(folder / "probe.json")
    return ["probe", "--checkpoint", str(checkpoint), "--data", str(data), "--json", json_path, *extra]


# --------------------------------------------------------------------------------------------- pretrain
def test_pretrain_on_a_missing_data_path_names_it_and_the_option(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = _fails(_pretrain(folder / "nope.npz", folder), capsys)
    assert output.startswith("robossl pretrain: ")
    assert "nope.npz does not exist" in output and "--data" in output


def test_pretrain_on_an_empty_folder_names_it_and_lists_what_it_reads(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = folder / "empty_folder"
    empty.mkdir()
    output = _fails(_pretrain(empty, folder), capsys)
    assert f"{empty} is empty" in output and ".npz" in output and "--topic" in output


def test_pretrain_on_a_corrupt_npz_names_the_file_and_how_to_write_one(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt = folder / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip archive")
    output = _fails(_pretrain(corrupt, folder), capsys)
    assert f"{corrupt} is not a readable .npz" in output and "numpy.savez" in output


@pytest.mark.parametrize(
    ("arrays", "expected"),
    [
        ({"data": np.zeros((3, 4))}, "it needs 'windows'"),
        ({"windows": np.zeros((0, 32, 4), np.float32)}, "'windows' holds 0 samples"),
        ({"windows": np.zeros((1, 32, 4), np.float32)}, "'windows' holds 1 sample"),
        ({"windows": np.zeros(5, np.float32)}, "'windows' is (5,)"),
    ],
    ids=["no_windows_array", "zero_windows", "one_window", "scalar_samples"],
)
def test_pretrain_on_an_unusable_npz_names_the_array(
    arrays: dict[str, np.ndarray], expected: str, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = folder / "unusable.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    output = _fails(_pretrain(path, folder), capsys)
    assert str(path) in output and expected in output


def test_pretrain_on_nan_windows_counts_them_and_says_to_drop_them(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    windows, _ = _windows()
    windows[[7, 9, 30]] = np.nan
    path = folder / "some_nan.npz"
    np.savez(path, windows=windows)
    output = _fails(_pretrain(path, folder, *SMALL), capsys)
    assert f"{path}: 'windows' holds NaN or inf in 3 of 60 samples (first at index 7)" in output
    assert "drop or impute" in output
    all_nan = folder / "all_nan.npz"
    np.savez(all_nan, windows=np.full_like(windows, np.nan))
    assert "in 60 of 60 samples" in _fails(_pretrain(all_nan, folder, *SMALL), capsys)


def test_pretrain_with_an_unknown_method_lists_the_registered_ones(
    windows_npz: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = _fails(_pretrain(windows_npz, folder, method="simclrr"), capsys)
    assert "unknown method 'simclrr'" in output and "'simclr'" in output and "--list" in output


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("temprature=0.1", "valid keys: ['gather_distributed'"),
        ("oops", "--set expects KEY=VALUE, got 'oops'"),
        ("temperature=warm", "config key 'temperature' of method 'simclr' must be a number, got 'warm'"),
        (
            "projection_dim=true",
            "config key 'projection_dim' of method 'simclr' must be an integer, got True",
        ),
    ],
)
def test_pretrain_with_a_bad_set_names_the_key(
    setting: str, expected: str, windows_npz: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = _fails(_pretrain(windows_npz, folder, "--set", setting), capsys)
    assert expected in output


def test_collossl_on_a_single_device_source_says_how_to_pair_devices(
    windows_npz: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = _fails(_pretrain(windows_npz, folder, method="collossl"), capsys)
    assert str(windows_npz) in output
    assert "1 device" in output and "4 channels" in output
    assert "--set num_devices=" in output and "ActRecTut" in output


def test_pretrain_with_a_modality_that_does_not_fit_names_the_shape(
    windows_npz: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = _fails(_pretrain(windows_npz, folder, "--modality", "image"), capsys)
    assert str(windows_npz) in output and "(32, 4)" in output and "--modality" in output


def test_pretrain_on_a_bag_topic_shorter_than_one_window_names_the_topic(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = default_typestore()
    bag = folder / "short_bag"
    with BagWriter(bag, storage="mcap") as writer:
        for i in range(20):
            stamp = 1_700_000_000_000_000_000 + i * 10_000_000
            nan_or_value = float("nan") if i % 4 == 0 else float(i)
            writer.write(
                "/imu", stamp, build_imu(store, stamp, "imu", [nan_or_value, 0.0, 0.0], [0.0, 0.0, 9.81])
            )
    output = _fails(_pretrain(bag, folder, "--topic", "/imu"), capsys)
    assert f"topic '/imu' in {bag}" in output
    assert "15 finite samples (5 dropped as NaN/inf)" in output and "one window of 64" in output


def test_resume_from_a_run_on_other_inputs_says_to_choose_another_out(
    checkpoint: Path, windows_npz: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def resume(data: Path, projection_dim: int) -> list[str]:
        argv = ["pretrain", "--method", "simclr", "--data", str(data), "--steps", "4", "--resume"]
        return [*argv, "--out", str(checkpoint.parent), *SMALL[:-1], f"projection_dim={projection_dim}"]

    windows, labels = _windows()
    other = folder / "six_channels.npz"
    np.savez(other, windows=np.concatenate([windows, windows[..., :2]], axis=2), labels=labels)
    output = _fails(resume(other, 8), capsys)
    assert str(checkpoint) in output and "(32, 4)" in output and "(32, 6)" in output and "--out" in output
    output = _fails(resume(windows_npz, 4), capsys)
    assert str(checkpoint) in output and "projection_dim" in output and "--out" in output
    assert load_checkpoint(checkpoint)["learner"]["step"] == 2  # the refused runs left it alone


def test_resume_from_a_corrupt_checkpoint_names_it(
    windows_npz: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = folder / "corrupt_run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"junk")
    argv = ["pretrain", "--method", "simclr", "--data", str(windows_npz), "--out", str(out), "--resume"]
    output = _fails(argv, capsys)
    assert str(out / "checkpoint.pt") in output and "--out" in output


# ------------------------------------------------------------------------------------------------ probe
def test_probe_of_a_missing_or_corrupt_checkpoint_names_the_file(
    windows_npz: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = _fails(_probe(folder / "none.pt", windows_npz, folder), capsys)
    assert output.startswith("robossl probe: ") and "none.pt does not exist" in output
    corrupt = folder / "corrupt.pt"
    corrupt.write_bytes(b"junk")
    output = _fails(_probe(corrupt, windows_npz, folder), capsys)
    assert str(corrupt) in output and "run `robossl pretrain` again" in output


def test_probe_of_a_checkpoint_not_written_by_pretrain_names_the_missing_field(
    checkpoint: Path, windows_npz: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = load_checkpoint(checkpoint)
    online = folder / "online.pt"
    save_checkpoint(online, {"learner": saved["learner"]})
    output = _fails(_probe(online, windows_npz, folder), capsys)
    assert str(online) in output and "'input_spec'" in output and "robossl pretrain" in output


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({"method": "nosuch"}, "names method 'nosuch'"),
        ({"method": "byol"}, "'byol'"),
        ({"method_config": {"projection_dim": 4, "projection_hidden_dim": 16}}, "does not match"),
    ],
    ids=["unknown_method", "other_method", "other_config"],
)
def test_probe_of_a_checkpoint_that_does_not_match_its_method_names_it(
    edit: dict[str, object],
    expected: str,
    checkpoint: Path,
    windows_npz: Path,
    folder: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    edited = folder / "edited.pt"
    save_checkpoint(edited, {**load_checkpoint(checkpoint), **edit})
    output = _fails(_probe(edited, windows_npz, folder), capsys)
    assert f"checkpoint {edited}" in output and expected in output and "robossl pretrain" in output


def test_probe_with_a_single_group_names_the_groups_array(
    checkpoint: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    windows, labels = _windows()
    path = folder / "one_group.npz"
    np.savez(path, windows=windows, labels=labels, groups=np.zeros(60, np.int64))
    output = _fails(_probe(checkpoint, path, folder), capsys)
    assert f"{path}: 'groups' holds a single subject / run" in output and "remove 'groups'" in output


def test_probe_on_nan_windows_names_the_file(
    checkpoint: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    windows, labels = _windows()
    windows[3, 0, 0] = np.inf
    path = folder / "probe_nan.npz"
    np.savez(path, windows=windows, labels=labels)
    output = _fails(_probe(checkpoint, path, folder), capsys)
    assert f"{path}: 'windows' holds NaN or inf in 1 of 60 samples (first at index 3)" in output


def test_probe_with_an_out_of_range_label_fraction_names_the_option(
    checkpoint: Path, windows_npz: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = _fails(_probe(checkpoint, windows_npz, folder, "--label-fraction", "2"), capsys)
    assert "--label-fraction must be in (0, 1], got 2.0" in output


def test_probe_warns_about_test_classes_missing_from_training_and_scores_the_others(
    checkpoint: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    groups = (np.arange(60) // 5) % 3
    labels = np.where(groups == 2, np.arange(60) % 3, np.arange(60) % 2)  # class 2 only in the held-out group
    windows, _ = _windows(labels=labels)
    path = folder / "unseen.npz"
    np.savez(path, windows=windows, labels=labels, groups=groups)
    assert main(_probe(checkpoint, path, folder, "--k", "3", "--threads", "1")) == 0
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert "warning: the test split holds 1 class that training lacks: 2 (8 of 20 test samples)" in output
    result = json.loads((folder / "probe.json").read_text())
    assert result["unseen_test_classes"] == [2]
    test_labels = labels[groups == 2]
    for probe in ("linear", "knn"):
        score = result[probe]
        # Classes 0 and 1 are the present ones: their macro-F1 can only be higher than the one that also
        # averages in class 2's F1 of 0 (no probe can predict a class it never saw).
        assert score["macro_f1_trained_classes"] > score["macro_f1"]
        assert score["macro_f1"] == pytest.approx(score["macro_f1_trained_classes"] * 2 / 3)
        assert score["num_test"] == test_labels.size
        assert f"{score['macro_f1_trained_classes']:.4f}" in output
