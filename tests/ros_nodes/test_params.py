"""Typed parameters: validation reasons, start-up rejection, unknown YAML keys (real rclpy, in-process)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from robossl_ros.params import ParamSpec, all_of, in_range, non_empty, one_of, positive

SPECS = [
    ParamSpec("rate_hz", 20.0, "rate [Hz]", check=positive),
    ParamSpec("mode", "auto", "mode", check=one_of("auto", "stereo", "mono")),
    ParamSpec("topics", ["a", "b"], "input topics", check=non_empty, read_only=True),
    ParamSpec("fraction", 0.5, "share", check=all_of(positive, in_range(0.0, 1.0))),
    ParamSpec("enabled", True, "switch"),
]


def test_spec_validation_reasons_without_ros() -> None:
    rate, mode, _, fraction, enabled = SPECS
    assert rate.validate(5.0) is None
    assert rate.validate(-1.0) == "must be > 0, got -1.0"
    assert rate.validate(5) is None  # an int is a valid float
    assert rate.validate("fast") == "rate_hz must be float, got str 'fast'"
    assert mode.validate("sideways") == "must be one of ['auto', 'stereo', 'mono'], got 'sideways'"
    assert fraction.validate(1.5) == "must be in [0.0, 1.0], got 1.5"
    assert enabled.validate(1) == "enabled must be bool, got int 1"
    assert SPECS[2].validate([]) == "must not be empty"


@pytest.mark.ros
def test_node_params_reject_bad_values_and_unknown_yaml_keys(tmp_path: Path, monkeypatch) -> None:
    import rclpy
    from rclpy.parameter import Parameter

    from robossl_ros.params import NodeParams, ParameterError

    params_file = tmp_path / "p.yaml"
    params_file.write_text(
        "probe:\n  ros__parameters:\n    rate_hz: 30.0\n    topics: [p, q, r]\n"
        "other:\n  ros__parameters:\n    ignored_elsewhere: 1\n"
        "typo:\n  ros__parameters:\n    rat_hz: 31.0\n    mode: mono\n"
    )
    # As `ros2 run` starts a node: the ROS arguments are the process's command line.
    monkeypatch.setattr(sys, "argv", ["probe", "--ros-args", "--params-file", str(params_file)])
    rclpy.init(args=sys.argv)
    try:
        changes: list[tuple[str, object]] = []
        node = rclpy.create_node("probe")
        params = NodeParams(node, SPECS, on_change=lambda n, v: changes.append((n, v)))
        assert params["rate_hz"] == 30.0 and params["topics"] == ["p", "q", "r"]
        assert params.unknown_keys == []  # keys of other nodes' sections do not count
        # Run-time change: rejected with the reason, value unchanged.
        result = node.set_parameters([Parameter("mode", value="sideways")])[0]
        assert not result.successful and "mode must be one of" in result.reason
        assert params["mode"] == "auto"
        result = node.set_parameters([Parameter("rate_hz", value=-2.0)])[0]
        assert not result.successful and result.reason == "rate_hz must be > 0, got -2.0"
        ok = node.set_parameters([Parameter("mode", value="mono")])[0]
        assert ok.successful and params["mode"] == "mono" and changes == [("mode", "mono")]
        assert not node.set_parameters([Parameter("topics", value=["q"])])[0].successful  # read-only
        node.destroy_node()

        # Start-up: an invalid override refuses to build the node, naming parameter and reason.
        bad = rclpy.create_node("bad", parameter_overrides=[Parameter("fraction", value=2.0)])
        with pytest.raises(ParameterError, match=r"fraction.*must be in \[0.0, 1.0\], got 2.0"):
            NodeParams(bad, SPECS)
        bad.destroy_node()
        wrong_type = rclpy.create_node("wrong_type", parameter_overrides=[Parameter("rate_hz", value=3)])
        with pytest.raises(ParameterError, match="rate_hz has the wrong type"):
            NodeParams(wrong_type, SPECS)
        wrong_type.destroy_node()

        # Start-up: a key no spec declares (a typo) refuses to build the node, naming key, file, suggestion.
        typo = rclpy.create_node("typo")
        with pytest.raises(ParameterError) as refused:
            NodeParams(typo, SPECS)
        assert str(refused.value) == (
            f"typo in {params_file}: unknown parameter 'rat_hz' (did you mean 'rate_hz'?); "
            "known: enabled, fraction, mode, rate_hz, topics"
        )
        typo.destroy_node()
    finally:
        rclpy.try_shutdown()


def test_config_params_take_their_defaults_from_the_config_dataclass() -> None:
    from robossl.pipelines.stereo_mono.config import StereoMonoConfig
    from robossl_ros.params import config_default, config_param, config_values

    spec = config_param(StereoMonoConfig, "trainer.cpu_fraction", "share", name="cpu_fraction")
    assert (spec.name, spec.default, spec.field) == ("cpu_fraction", 0.5, "trainer.cpu_fraction")
    assert config_param(StereoMonoConfig, "replay_capacity", "size").name == "replay_capacity"
    values = config_values({"cpu_fraction": 0.25, "other": 1}, [spec, ParamSpec("other", 1, "node only")])
    assert values == {"trainer": {"cpu_fraction": 0.25}}
    assert StereoMonoConfig.from_dict(values).trainer.cpu_fraction == 0.25
    with pytest.raises(
        ValueError, match=r"StereoMonoConfig has no field 'trainer.cpu_fractio' \(at 'cpu_fractio'\)"
    ):
        config_default(StereoMonoConfig, "trainer.cpu_fractio")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['cpu_fractio'\] in stereo_mono.trainer"):
        StereoMonoConfig.from_dict({"trainer": {"cpu_fractio": 0.25}})


def test_unknown_keys_message_suggests_the_closest_known_name() -> None:
    from robossl_ros.params import unknown_keys_message

    known = ["learning_rate", "batch_size", "cpu_fraction"]
    assert unknown_keys_message(["learnig_rate"], known, "har_node in a.yaml") == (
        "har_node in a.yaml: unknown parameter 'learnig_rate' (did you mean 'learning_rate'?); "
        "known: batch_size, cpu_fraction, learning_rate"
    )
    assert unknown_keys_message(["zzz", "cpu_fractoin"], known, "x") == (
        "x: unknown parameters 'cpu_fractoin' (did you mean 'cpu_fraction'?), 'zzz'; "
        "known: batch_size, cpu_fraction, learning_rate"
    )


def test_parameter_names_and_files_setting_a_key(tmp_path: Path) -> None:
    from robossl_ros.params import files_setting, parameter_files, parameter_names, undeclared

    assert parameter_names({"a": 1, "b": {"c": 2, "d": {"e": 3}}}) == ["a", "b.c", "b.d.e"]
    names = ["rate_hz", "use_sim_time", "qos_overrides./x.depth", "rat_hz"]
    assert undeclared(names, ["rate_hz"]) == ["rat_hz"]
    one, two, broken = tmp_path / "one.yaml", tmp_path / "two.yaml", tmp_path / "broken.yaml"
    one.write_text("/drone/probe:\n  ros__parameters:\n    group:\n      rat_hz: 1.0\n")
    two.write_text("/**:\n  ros__parameters:\n    other: 1\nprobe:\n  ros__parameters:\n    rate: 1\n")
    broken.write_text("probe: [")
    args = ["x", "--ros-args", "--params-file", str(one), "-p", "a:=1", "--params-file", str(two)]
    files = parameter_files(args + ["--params-file", str(broken)])
    assert files == [one, two, broken]
    assert files_setting("group.rat_hz", "probe", files) == [one]
    assert files_setting("other", "probe", files) == [two]  # the wildcard section applies to every node
    assert files_setting("rate", "other_node", files) == []


@pytest.mark.ros
def test_a_node_with_an_unknown_yaml_key_refuses_to_start_and_says_why(tmp_path: Path) -> None:
    import subprocess

    config = tmp_path / "har.yaml"
    config.write_text("har_node:\n  ros__parameters:\n    learnig_rate: 0.01\n    batch_size: 8\n")
    proc = subprocess.run(
        [sys.executable, "-m", "robossl_ros.har_node", "--ros-args", "--params-file", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert (
        f"robossl node failed to start: har_node in {config}: unknown parameter 'learnig_rate' "
        "(did you mean 'learning_rate'?); known: anchor_device, batch_size, " in proc.stderr
    )
    assert "Traceback" not in proc.stderr
