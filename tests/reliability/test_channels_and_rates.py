"""Issue 23 items 7 and 8: IMU channels chosen by name, and BorealTC loaders that read rates and columns.

Item 7: recordings built from bags put the gyroscope first while ColloSSL's device selection read channels
0-2 as the accelerometer, so device selection ran on the gyroscope. Item 8: the BorealTC reader assumed
100 Hz, one exact column order and a fixed class list, and its run split refused a class with one run.

Bags are written with the project's own :class:`~robossl.data.bags.writer.BagWriter`; BorealTC trees are small
CSV folders written in ``tmp_path`` in the dataset's layout.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from robossl.data.bags.message_builders import build_imu
from robossl.data.bags.writer import BagWriter
from robossl.data.datasets.borealtc import WindowConfig, load_borealtc, make_windows, split_by_run
from robossl.data.recording import MultiDeviceRecording
from robossl.data.streams import multi_device_recording
from robossl.losses.collossl import ColloSSLObjectiveConfig
from robossl.losses.device_selection import accelerometer_norm, select_devices
from robossl.pipelines.collossl.windows import WindowConfig as ColloWindowConfig
from robossl.pipelines.collossl.windows import window_recording

torch.set_num_threads(1)

GRAVITY = 9.81
GYRO_FIRST = ("gyro_x", "gyro_y", "gyro_z", "acc_x", "acc_y", "acc_z")


# ------------------------------------------------------------------------------------------ item 7


def _static_imu_bag(path: Path, topics: list[str], rate_hz: float = 50.0, seconds: float = 4.0) -> None:
    """Two IMUs lying still: specific force = gravity (+ small noise, a slight tilt), gyro ~ 0."""
    rng = np.random.default_rng(0)
    with BagWriter(path) as bag:
        for k in range(int(rate_hz * seconds)):
            stamp = 1_000_000_000 + int(round(k * 1e9 / rate_hz))
            for d, topic in enumerate(topics):
                tilt = np.array([0.03 * d, -0.02, 1.0])
                accel = GRAVITY * tilt / np.linalg.norm(tilt) + 0.01 * rng.normal(size=3)
                gyro = 0.002 * rng.normal(size=3)
                bag.write(topic, stamp, build_imu(bag.typestore, stamp, topic.strip("/"), gyro, accel))


def test_bag_recording_feeds_device_selection_the_accelerometer(tmp_path: Path) -> None:
    from robossl.pipelines.collossl.protocol import collossl_config

    topics = ["/left_hip/imu", "/right_wrist/imu"]
    _static_imu_bag(tmp_path / "still", topics)
    recording = multi_device_recording(tmp_path / "still", topics)
    windows = window_recording(recording, ColloWindowConfig(length_s=1.0, overlap_s=0.5))
    config = collossl_config(windows, anchor=0, base=ColloSSLObjectiveConfig())
    stacked = torch.from_numpy(windows.stacked())  # (D, W, L, C)
    for d, device in enumerate(windows.device_names):
        names = recording.channel_names[device]
        assert [names[c] for c in config.acc_channels] == ["acc_x", "acc_y", "acc_z"]
        acc_norm = accelerometer_norm(stacked[d], config.acc_channels)
        assert float(acc_norm.mean()) == pytest.approx(GRAVITY, abs=0.05), device
        gyro = [names.index(n) for n in ("gyro_x", "gyro_y", "gyro_z")]
        assert float(stacked[d][..., gyro].norm(dim=-1).mean()) < 0.01
    # the bag layout now matches every other HAR loader and the live har_node: accelerometer first
    assert recording.channel_names["left_hip"][:3] == ("acc_x", "acc_y", "acc_z")


def _gyro_first_recording(channel_names: tuple[str, ...] = GYRO_FIRST) -> MultiDeviceRecording:
    """Three devices, gyroscope first: the anchor and ``twin`` share their accelerometer signal, ``decoy``
    shares the anchor's gyroscope signal exactly but has a very different accelerometer."""
    rng = np.random.default_rng(1)
    count, rate = 640, 32.0
    t = np.arange(count) / rate
    acc = np.stack([np.sin(2 * np.pi * t), np.cos(2 * np.pi * t), GRAVITY + 0 * t], axis=1)
    gyro = np.stack([np.sin(5 * t), 0 * t, 0.1 + 0 * t], axis=1)
    decoy_acc = 4 * np.stack([np.sin(7 * t), np.cos(3 * t), GRAVITY + np.sin(t)], axis=1)

    def device(a: np.ndarray, g: np.ndarray) -> np.ndarray:
        columns = {f"acc_{x}": a[:, i] for i, x in enumerate("xyz")}
        columns |= {f"gyro_{x}": g[:, i] for i, x in enumerate("xyz")}
        columns["mag_z"] = np.full(count, 40.0)
        stacked = np.stack([columns[n] for n in channel_names], axis=1)
        return (stacked + 0.01 * rng.normal(size=stacked.shape)).astype(np.float32)

    devices = {
        "anchor": device(acc, gyro),
        "decoy": device(decoy_acc, gyro),
        "twin": device(acc, 3 * np.stack([np.cos(9 * t), np.sin(4 * t), 0 * t], axis=1)),
    }
    return MultiDeviceRecording(
        name="gyro_first",
        subject="s1",
        devices=devices,
        labels=np.zeros(count, dtype=np.int64),
        sample_rate_hz=rate,
        class_names=("null",),
        channel_names={name: channel_names for name in devices},
    )


def test_device_selection_finds_the_accelerometer_by_name_in_any_column_order() -> None:
    from robossl.pipelines.collossl.protocol import collossl_config

    windows = window_recording(_gyro_first_recording(), ColloWindowConfig(length_s=1.0, overlap_s=0.5))
    config = collossl_config(windows, anchor=0, base=ColloSSLObjectiveConfig())
    assert config.acc_channels == (3, 4, 5)
    batch = [torch.from_numpy(w) for w in windows.stacked()]
    selection = select_devices(batch, 0, "closest", acc_channels=config.acc_channels)
    assert windows.device_names[selection.positives[0]] == "twin"
    # reading channels 0-2 (the old positional default) picks the gyroscope twin instead
    wrong = select_devices(batch, 0, "closest", acc_channels=(0, 1, 2))
    assert windows.device_names[wrong.positives[0]] == "decoy"


def test_recording_without_accelerometer_is_refused_naming_the_channel() -> None:
    from robossl.pipelines.collossl.protocol import collossl_config

    recording = _gyro_first_recording(("gyro_x", "gyro_y", "gyro_z", "acc_x", "acc_y", "mag_z"))
    windows = window_recording(recording, ColloWindowConfig(length_s=1.0, overlap_s=0.5))
    with pytest.raises(ValueError, match="acc_z") as info:
        collossl_config(windows, anchor=0, base=ColloSSLObjectiveConfig())
    assert "mag_z" in str(info.value)  # the message lists what the recording has


def test_registered_collossl_method_reads_accelerometer_by_name() -> None:
    from robossl.methods import InputSpec, build_method

    spec = InputSpec("imu", (32, 12), devices=2, channel_names=GYRO_FIRST)
    method = build_method("collossl", spec)
    assert method.objective.config.acc_channels == (3, 4, 5)
    restored = InputSpec.from_dict(spec.to_dict())
    assert restored.channel_names == GYRO_FIRST
    no_acc = InputSpec("imu", (32, 6), devices=2, channel_names=("gyro_x", "gyro_y", "gyro_z"))
    with pytest.raises(ValueError, match="acc_x"):
        build_method("collossl", no_acc)


def test_online_learner_reads_accelerometer_by_name() -> None:
    from robossl.pipelines.collossl.online import ColloSSLOnlineLearner, OnlineLearnerConfig

    learner = ColloSSLOnlineLearner(
        OnlineLearnerConfig(
            device_names=("wrist", "hip"), anchor_device="wrist", channels=6, channel_names=GYRO_FIRST
        )
    )
    assert learner.objective.config.acc_channels == (3, 4, 5)
    with pytest.raises(ValueError, match="acc_x"):
        OnlineLearnerConfig(
            device_names=("wrist", "hip"), anchor_device="wrist", channels=3, channel_names=GYRO_FIRST[:3]
        )


def test_simclr_rotation_turns_the_accelerometer_found_by_name() -> None:
    from robossl.transforms.imu_multitask import rotate

    x = torch.randn(8, 16, 6, generator=torch.Generator().manual_seed(0))
    out = rotate(x, torch.Generator().manual_seed(1), channels=(3, 4, 5))
    torch.testing.assert_close(out[..., :3], x[..., :3])  # gyroscope (first) untouched
    torch.testing.assert_close(out[..., 3:].norm(dim=-1), x[..., 3:].norm(dim=-1))  # a rotation
    assert not torch.allclose(out[..., 3:], x[..., 3:])


# ------------------------------------------------------------------------------------------ item 8

IMU_COLUMNS = ("wx", "wy", "wz", "ax", "ay", "az")
PRO_COLUMNS = ("curL", "curR", "velL", "velR")
IMU_CONSTANTS = {"wx": 0.1, "wy": -0.2, "wz": 0.3, "ay": 2.0, "az": GRAVITY}
PRO_CONSTANTS = {"curL": 1.5, "curR": 2.5, "velL": 0.4, "velR": 0.6}


def _ax(t: np.ndarray) -> np.ndarray:
    return np.sin(2 * np.pi * t)  # 1 Hz: far below every Nyquist rate used here


def _write_run(
    folder: Path,
    run: str,
    rate_hz: float = 100.0,
    seconds: float = 6.0,
    imu_columns: tuple[str, ...] = IMU_COLUMNS,
    pro_columns: tuple[str, ...] = PRO_COLUMNS,
    ax: Callable[[np.ndarray], np.ndarray] = _ax,
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(round(seconds * rate_hz))) / rate_hz
    values = {"time": t, "ax": ax(t), "temperature": np.full_like(t, 21.0)}
    values |= {k: np.full_like(t, v) for k, v in IMU_CONSTANTS.items()}
    table = np.stack([values[c] for c in ("time", *imu_columns)], axis=1)
    np.savetxt(
        folder / f"imu_{run}.csv", table, delimiter=",", header=",".join(("time", *imu_columns)), comments=""
    )
    tp = np.arange(int(seconds * 6.5)) / 6.5
    pro = {"time": tp} | {k: np.full_like(tp, v) for k, v in PRO_CONSTANTS.items()}
    table = np.stack([pro[c] for c in ("time", *pro_columns)], axis=1)
    np.savetxt(
        folder / f"pro_{run}.csv", table, delimiter=",", header=",".join(("time", *pro_columns)), comments=""
    )


def test_borealtc_50hz_log_gives_windows_of_the_requested_seconds(tmp_path: Path) -> None:
    _write_run(tmp_path / "SNOW", "00", rate_hz=50.0)
    _write_run(tmp_path / "SNOW", "01", rate_hz=100.0)
    windows = make_windows(load_borealtc(tmp_path, ("SNOW",)), WindowConfig(window_s=1.0, hop_s=0.5))
    assert windows.imu.shape[1:] == (100, 6)
    for run_id in (0, 1):
        mine = windows.run_ids == run_id
        np.testing.assert_allclose(np.diff(windows.start_times[mine]), 0.5, atol=1e-9)
        # each window holds one second of signal at 100 Hz, whatever the log's rate
        expected = _ax(windows.start_times[mine][:, None] + np.arange(100)[None, :] / 100.0)
        np.testing.assert_allclose(windows.imu[mine][..., 3], expected, atol=5e-3)
    # 50 Hz log ends at 5.98 s, the 100 Hz one at 5.99 s: 1 s windows every 0.5 s
    assert np.bincount(windows.run_ids).tolist() == [10, 11]
    assert windows.source_rates_hz == pytest.approx({"SNOW/00": 50.0, "SNOW/01": 100.0})


def test_borealtc_200hz_log_is_low_passed_before_it_is_thinned(tmp_path: Path) -> None:
    def ax_with_80hz(t: np.ndarray) -> np.ndarray:  # 80 Hz would alias to 20 Hz at 100 Hz
        return _ax(t) + 0.5 * np.sin(2 * np.pi * 80 * t)

    _write_run(tmp_path / "SNOW", "00", rate_hz=200.0, ax=ax_with_80hz)
    windows = make_windows(load_borealtc(tmp_path, ("SNOW",)), WindowConfig(window_s=1.0, hop_s=0.5))
    inner = slice(1, -1)  # the filter's edge transients sit in the first and last windows
    expected = _ax(windows.start_times[inner, None] + np.arange(100)[None, :] / 100.0)
    np.testing.assert_allclose(windows.imu[inner][..., 3], expected, atol=0.05)
    assert windows.source_rates_hz["SNOW/00"] == pytest.approx(200.0)


def test_borealtc_reads_columns_by_name_in_any_order(tmp_path: Path) -> None:
    _write_run(
        tmp_path / "ICE",
        "00",
        imu_columns=("az", "ay", "temperature", "ax", "wz", "wy", "wx"),
        pro_columns=("velR", "velL", "curR", "curL"),
    )
    (run,) = load_borealtc(tmp_path, ("ICE",))
    for i, name in enumerate(IMU_COLUMNS):
        if name == "ax":
            np.testing.assert_allclose(run.imu[:, i], _ax(run.imu_time), atol=1e-12)
        else:
            np.testing.assert_allclose(run.imu[:, i], IMU_CONSTANTS[name])
    for i, name in enumerate(PRO_COLUMNS):
        np.testing.assert_allclose(run.pro[:, i], PRO_CONSTANTS[name])


def test_borealtc_missing_column_is_named_with_its_file(tmp_path: Path) -> None:
    _write_run(tmp_path / "ICE", "00", imu_columns=("wx", "wy", "ax", "ay", "az"))
    with pytest.raises(ValueError, match=r"imu_00\.csv.* no column 'wz'"):
        load_borealtc(tmp_path, ("ICE",))


def test_borealtc_classes_come_from_the_folders_or_the_cli(tmp_path: Path) -> None:
    from robossl.cli.main import main

    for run in ("00", "01"):
        _write_run(tmp_path / "GRAVEL", run, seconds=3.0)
        _write_run(tmp_path / "SNOW", run, seconds=3.0)
    (tmp_path / "MIXED").mkdir()
    _write_run(tmp_path / "MIXED_PRO_ONLY", "00", seconds=3.0)
    (tmp_path / "MIXED_PRO_ONLY" / "imu_00.csv").unlink()  # like the real MIXED: no IMU file
    runs = load_borealtc(tmp_path)
    assert sorted({r.terrain for r in runs}) == ["GRAVEL", "SNOW"]
    assert make_windows(runs).class_names == ("GRAVEL", "SNOW")
    assert {r.terrain for r in load_borealtc(tmp_path, ("GRAVEL",))} == {"GRAVEL"}
    # CLI: with --classes GRAVEL the broken SNOW runs are never read
    for run in ("00", "01"):
        (tmp_path / "SNOW" / f"imu_{run}.csv").write_text("time,wx\n0.0,oops\n")
    out = tmp_path / "run"
    argv = ["pretrain", "--method", "simclr", "--data", str(tmp_path), "--steps", "1", "--batch-size", "4"]
    assert main([*argv, "--out", str(out), "--classes", "GRAVEL"]) == 0
    assert (out / "checkpoint.pt").is_file()


def test_run_split_holds_out_the_end_of_a_one_run_class(tmp_path: Path) -> None:
    for run in ("00", "01", "02"):
        _write_run(tmp_path / "SNOW", run, seconds=4.0)
    _write_run(tmp_path / "GRAVEL", "00", seconds=12.0)
    windows = make_windows(
        load_borealtc(tmp_path, ("SNOW", "GRAVEL")), WindowConfig(window_s=1.0, hop_s=0.25)
    )
    train, test = split_by_run(windows, test_fraction=0.3, seed=0)
    gravel = windows.labels == windows.class_names.index("GRAVEL")
    assert (train & gravel).any() and (test & gravel).any()
    assert not (train & test).any()
    # no sample is in both: every training window of the run ends before the first test window starts
    last_train_end = windows.start_times[train & gravel].max() + 1.0
    assert last_train_end <= windows.start_times[test & gravel].min() + 1e-9
    share = (test & gravel).sum() / gravel.sum()
    assert 0.2 <= share <= 0.4
    snow = ~gravel
    test_runs = set(windows.run_ids[test & snow].tolist())
    assert test_runs and not test_runs & set(windows.run_ids[train & snow].tolist())  # whole runs held out
