"""Switching policy: stereo flight, mono flight, training-wheel take-overs, all transitions logged."""

from __future__ import annotations

import logging
import math

import pytest

from robossl.pipelines.stereo_mono.switching import FlightMode, SwitchingConfig, SwitchingPolicy

CONFIG = dict(min_learning_frames=10, min_quality_count=5, min_dwell_frames=2)


def run(policy, frames, stereo=3.0, quality=0.1, count=100, learned=100, mono=math.inf):
    modes = []
    for _ in range(frames):
        modes.append(policy.update(policy.frame * 0.1, stereo, quality, count, learned, mono))
    return modes


def test_starts_on_stereo_and_switches_when_mono_is_good(caplog):
    policy = SwitchingPolicy(SwitchingConfig(**CONFIG))
    with caplog.at_level(logging.INFO):
        assert run(policy, 1, learned=5) == [FlightMode.STEREO]  # too few frames learned
        assert run(policy, 1, quality=0.3)[-1] is FlightMode.STEREO  # quality not good enough
        assert run(policy, 3)[-1] is FlightMode.MONO
    assert len(policy.transitions) == 1
    transition = policy.transitions[0]
    assert (transition.source, transition.target) == (FlightMode.STEREO, FlightMode.MONO)
    assert "AbsRel 0.100 < 0.25" in transition.reason
    assert "stereo -> mono" in caplog.text


def test_imminent_collision_hands_control_to_stereo_until_clear():
    policy = SwitchingPolicy(SwitchingConfig(**CONFIG))
    run(policy, 5)
    assert policy.mode is FlightMode.MONO
    assert run(policy, 1, stereo=0.4)[-1] is FlightMode.STEREO
    assert "imminent collision" in policy.transitions[-1].reason
    assert run(policy, 5, stereo=0.7)[-1] is FlightMode.STEREO  # not yet beyond release distance
    assert run(policy, 3, stereo=2.0)[-1] is FlightMode.MONO


def test_stereo_takes_over_whenever_its_avoidance_would_react_and_monos_would_not():
    """Take-over at stereo < imminent (>= the controller's avoidance distance) unless mono is as cautious."""
    config = SwitchingConfig(**CONFIG, imminent_distance_m=1.15, avoid_distance_m=1.0)
    policy = SwitchingPolicy(config)
    run(policy, 5)
    assert policy.mode is FlightMode.MONO
    # stereo at 1.1 m: stereo's controller would cruise one more frame; mono (1.05 m) is nearer: no switch
    assert run(policy, 1, stereo=1.1, mono=1.05)[-1] is FlightMode.MONO
    # mono reads farther than stereo but already below the avoidance distance: the robot turns anyway
    assert run(policy, 1, stereo=0.7, mono=0.95)[-1] is FlightMode.MONO
    # stereo below the take-over distance, mono farther and above the avoidance distance: training wheels,
    # on the first such frame (no dwell)
    assert run(policy, 1, stereo=1.12, mono=1.3)[-1] is FlightMode.STEREO
    assert "stereo 1.12 m < 1.15 m, mono reads 1.30 m" in policy.transitions[-1].reason
    # unknown mono never counts as agreeing
    policy = SwitchingPolicy(config)
    run(policy, 5)
    assert run(policy, 1, stereo=0.9, mono=math.inf)[-1] is FlightMode.STEREO


def test_mono_resumes_after_takeover_when_it_agrees_or_the_way_is_clear():
    config = SwitchingConfig(
        **CONFIG, imminent_distance_m=1.15, release_distance_m=1.4, takeover_dwell_frames=2
    )
    policy = SwitchingPolicy(config)
    run(policy, 5)
    run(policy, 1, stereo=0.9, mono=1.5)
    assert policy.mode is FlightMode.STEREO
    # mono now sees the obstacle as near as stereo, but stereo keeps control for takeover_dwell_frames
    assert run(policy, 1, stereo=0.9, mono=0.85) == [FlightMode.STEREO]
    assert run(policy, 1, stereo=0.9, mono=0.85) == [FlightMode.MONO]
    # hysteresis: after another take-over, a disagreeing mono waits until stereo reads >= release distance
    run(policy, 1, stereo=0.9, mono=1.5)
    assert run(policy, 4, stereo=1.3, mono=1.8)[-1] is FlightMode.STEREO
    assert run(policy, 1, stereo=1.45, mono=1.8)[-1] is FlightMode.MONO
    # a quality-based exit is not a take-over: mono agreeing does not shorten it
    policy = SwitchingPolicy(config)
    run(policy, 5)
    run(policy, 5, quality=0.5)
    assert policy.mode is FlightMode.STEREO
    assert run(policy, 6, stereo=0.9, mono=0.8, quality=0.5)[-1] is FlightMode.STEREO


def test_quality_hysteresis():
    policy = SwitchingPolicy(SwitchingConfig(**CONFIG))
    run(policy, 5)
    assert run(policy, 5, quality=0.3)[-1] is FlightMode.MONO  # between enter and exit: stay
    assert run(policy, 1, quality=0.4)[-1] is FlightMode.STEREO
    assert "> 0.35" in policy.transitions[-1].reason


def test_unknown_quality_never_switches_to_mono():
    policy = SwitchingPolicy(SwitchingConfig(**CONFIG))
    assert run(policy, 20, quality=float("nan"), count=0)[-1] is FlightMode.STEREO
    assert run(policy, 20, quality=0.1, count=2)[-1] is FlightMode.STEREO


@pytest.mark.parametrize(
    ("name", "mode"), [("stereo_only", FlightMode.STEREO), ("mono_only", FlightMode.MONO)]
)
def test_baseline_policies_are_pinned(name, mode):
    policy = SwitchingPolicy(SwitchingConfig(policy=name, **CONFIG))
    assert set(run(policy, 10) + run(policy, 5, stereo=0.1, quality=5.0)) == {mode}
    assert policy.transitions == []
    assert policy.mono_time_fraction == (1.0 if mode is FlightMode.MONO else 0.0)


def test_bad_thresholds_rejected():
    with pytest.raises(ValueError, match="quality_exit"):
        SwitchingConfig(quality_enter=0.3, quality_exit=0.2)
    with pytest.raises(ValueError, match="unknown switching policy"):
        SwitchingConfig(policy="mono")
    with pytest.raises(ValueError, match="must be >= avoid_distance_m"):
        SwitchingConfig(imminent_distance_m=0.5, avoid_distance_m=1.0)
    with pytest.raises(ValueError, match="hysteresis"):
        SwitchingConfig(imminent_distance_m=1.2, release_distance_m=1.0)
