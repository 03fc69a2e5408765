"""Lock-step rounds of terrain_node (robossl_ros.lockstep): a round after every n-th image, once the audio and
poses stamped up to that image are in; forced by the next image or the settle deadline."""

from __future__ import annotations

import time

import pytest

from robossl_ros.lockstep import InputReach, LockstepRounds


def test_input_reach_covers_an_image_once_the_last_chunk_and_pose_before_it_are_in() -> None:
    reach = InputReach()
    assert not reach.covers(1.0)
    reach.audio(0.5, 0.25)  # a chunk ending at 0.75 s: the next one would end at 1.0, not after 1.0
    reach.pose(0.8)
    reach.pose(0.9)  # poses every 0.1 s: the next at 1.0, not after
    assert not reach.covers(1.0)
    reach.audio(0.75, 0.25)  # ends at 1.0: the one after would end at 1.25 > 1.0
    assert not reach.covers(1.0)  # the pose at 1.0 may still come
    reach.pose(1.0)
    assert reach.covers(1.0) and not reach.covers(1.2)


def test_rounds_after_every_nth_image_wait_for_their_inputs() -> None:
    rounds: list[int] = []
    wakes: list[float] = []
    lockstep = LockstepRounds(2, lambda: rounds.append(len(rounds)), lambda: wakes.append(1.0), settle_s=30.0)
    lockstep.reach.audio(0.0, 1.0)
    lockstep.reach.pose(0.9)
    assert lockstep.image_done(1.0, images_seen=1) is False  # not the 2nd image: the caller reports it
    assert lockstep.image_done(2.0, images_seen=2) is True  # round armed, inputs up to 2.0 not yet in
    lockstep.run_due()
    assert rounds == []
    lockstep.reach.audio(1.0, 1.0)
    lockstep.reach.pose(1.9)
    lockstep.reach.pose(2.0)
    lockstep.run_due()  # now covered: the round runs once
    lockstep.run_due()
    assert rounds == [0] and lockstep.settle_timeouts == 0


def test_a_waiting_round_runs_at_the_next_image_or_after_the_settle_time() -> None:
    rounds: list[str] = []
    woken: list[bool] = []
    lockstep = LockstepRounds(1, lambda: rounds.append("round"), lambda: woken.append(True), settle_s=0.05)
    assert lockstep.image_done(1.0, images_seen=1) is True  # nothing arrived: the round waits
    assert lockstep.image_done(2.0, images_seen=2) is True  # the next image forces the waiting one
    assert rounds == ["round"] and lockstep.settle_timeouts == 1
    deadline = time.monotonic() + 5
    while not woken and time.monotonic() < deadline:
        time.sleep(0.01)
    assert woken  # the ingest thread is asked to look again
    lockstep.run_due()  # past the deadline: runs without its inputs
    assert rounds == ["round", "round"] and lockstep.settle_timeouts == 2
    with pytest.raises(ValueError, match="images_per_round must be >= 1"):
        LockstepRounds(0, lambda: None, lambda: None)
