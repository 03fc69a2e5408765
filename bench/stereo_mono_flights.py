"""Closed-loop section of the stereo -> mono bench (bench/stereo_mono.py): pretraining, flights, aggregation.

A student is pretrained offline on stereo flights in training rooms, then every held-out room is flown under
stereo_only, mono_only and persistent. :func:`aggregate` pools each condition; :func:`paired_by_room` pairs
the conditions by room (persistent and mono_only minus stereo_only, 95 % t-interval over rooms and a paired
bootstrap) and says which of fewer / no detectable difference / more each interval shows.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from stereo_mono_offline import one_thread_worker

from robossl.eval.intervals import PairedDifference, paired_difference

SIM_SETTINGS: dict[str, Any] = {
    "sgbm": {"num_disparities": 48},
    "student": {"input_height": 64, "input_width": 96},
    "trainer": {"batch_size": 8, "publish_every_steps": 25},
    "inference_backend": "onnxruntime",
}


def pretrain_job(job: tuple[int, float, int, str, float]) -> dict[str, Any]:
    """Offline pretraining (runs in a worker process)."""
    rooms, seconds, steps, checkpoint, camera_hz = job
    one_thread_worker()
    return pretrain(rooms, seconds, steps, Path(checkpoint), camera_hz)


def pretrain(rooms: int, seconds: float, steps: int, checkpoint: Path, camera_hz: float) -> dict[str, Any]:
    import torch
    from tqdm import tqdm

    from robossl.pipelines.stereo_mono import StereoMonoConfig, StereoMonoPipeline
    from robossl_sim.closed_loop import FlightConfig, pretrain_student
    from robossl_sim.worlds.drone_room import DroneRoom

    torch.manual_seed(0)
    settings = {
        **SIM_SETTINGS,
        "switching": {"policy": "stereo_only"},
        "run_mono_in_stereo_mode": False,
        "replay_capacity": 2000,
    }
    with DroneRoom(0) as room:
        calibration = room.calibration
    pipeline = StereoMonoPipeline(StereoMonoConfig.from_dict(settings), calibration)
    start = time.perf_counter()
    with tqdm(total=steps, desc="pretraining student", mininterval=30) as bar:
        losses = pretrain_student(
            pipeline,
            list(range(rooms)),
            seconds,
            steps,
            flight=FlightConfig(camera_hz=camera_hz),
            progress=lambda _: bar.update(),
        )
    pipeline.save(checkpoint, include_replay=False)
    return {
        "rooms": rooms,
        "seconds_per_room": seconds,
        "labelled_frames": pipeline.frames_labelled,
        "steps": steps,
        "losses": losses,
        "wall_s": time.perf_counter() - start,
    }


def run_condition(job: tuple[str, int, float, str, float, int]) -> dict[str, Any]:
    """One flight (runs in a worker process)."""
    condition, seed, minutes, checkpoint, camera_hz, steps_per_second = job
    one_thread_worker()
    import torch

    from robossl.pipelines.stereo_mono import StereoMonoConfig, StereoMonoPipeline
    from robossl_sim.closed_loop import FlightConfig, fly
    from robossl_sim.worlds.drone_room import DroneRoom

    torch.manual_seed(seed)
    policy = condition
    settings = {
        **SIM_SETTINGS,
        # the training wheels take over frame by frame whenever stereo's avoidance would react and mono's
        # would not, so the quality gate only has to catch a student that is bad overall
        "switching": {
            "policy": policy,
            "min_learning_frames": 25,
            "min_quality_count": 10,
            "quality_enter": 0.3,
            "quality_exit": 0.4,
        },
        "run_mono_in_stereo_mode": condition != "stereo_only",
    }
    start = time.perf_counter()
    with DroneRoom(seed, "heldout") as room:
        pipeline = StereoMonoPipeline(StereoMonoConfig.from_dict(settings), room.calibration)
        if condition != "stereo_only":
            pipeline.load(checkpoint)
        learning = condition == "persistent"
        flight = FlightConfig(
            duration_s=60.0 * minutes,
            camera_hz=camera_hz,
            train_steps=steps_per_second if learning else 0,
            train_every_frames=max(1, int(round(camera_hz))),  # steps_per_second steps every simulated second
            seed=seed,
        )
        log = fly(room, pipeline, flight)
        layout = room.layout
    summary = log.summary()
    return {
        "condition": condition,
        "seed": seed,
        "summary": summary,
        "log": log,
        "layout": layout,
        "wall_s": time.perf_counter() - start,
    }


def aggregate(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for condition in ("stereo_only", "mono_only", "persistent"):
        mine = [r for r in runs if r["condition"] == condition]
        collisions = sum(r["summary"]["collisions"] for r in mine)
        distance = sum(r["summary"]["distance_m"] for r in mine)
        mono = float(np.mean([r["summary"]["mono_time_fraction"] for r in mine]))
        mono_absrel = float(np.nanmean([r["summary"]["mono_absrel"] for r in mine]))
        stereo_absrel = float(np.nanmean([r["summary"]["stereo_absrel"] for r in mine]))
        results[condition] = {
            "collisions_per_100m": 100.0 * collisions / max(distance, 1e-6),
            "mono_time_fraction": mono,
            # stereo_only never runs the student: its depth error is the stereo teacher's (confident pixels)
            "absrel": stereo_absrel if condition == "stereo_only" else mono_absrel,
            "absrel_of": "stereo (confident pixels)" if condition == "stereo_only" else "mono (all pixels)",
            "stereo_absrel_confident": stereo_absrel,
            "collisions": collisions,
            "distance_m": distance,
            "transitions": float(sum(r["summary"]["transitions"] for r in mine)),
            # diagnosis: collisions while mono flew, and those that stereo saw coming (< avoid distance)
            "collisions_on_mono": float(sum(r["summary"]["collisions_on_mono"] for r in mine)),
            "collisions_stereo_warned": float(sum(r["summary"]["collisions_stereo_warned"] for r in mine)),
            "per_seed": [
                {
                    "seed": r["seed"],
                    "wall_s": r["wall_s"],
                    **{k: v for k, v in r["summary"].items() if k != "transitions"},
                }
                for r in mine
            ],
        }
    return results


def verdict(difference: PairedDifference, treatment: str, control: str) -> dict[str, str]:
    """Which of: significantly fewer, no detectable difference, significantly more (per interval)."""
    words = {
        -1: f"{treatment} significantly fewer",
        0: "no detectable difference",
        1: f"{treatment} significantly more",
    }
    return {"verdict": words[difference.t.sign()], "bootstrap_verdict": words[difference.bootstrap.sign()]}


def paired_by_room(runs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-room collisions of every condition, and each condition minus stereo_only paired by room."""
    summary = {(r["condition"], r["seed"]): r["summary"] for r in runs}
    rooms = sorted({r["seed"] for r in runs})
    table = []
    for room in rooms:
        row: dict[str, Any] = {"room": room}
        for condition in ("stereo_only", "mono_only", "persistent"):
            s = summary[(condition, room)]
            row[f"{condition}_collisions"] = int(s["collisions"])
            row[f"{condition}_per_100m"] = s["collisions_per_100m"]
        row["persistent_mono_fraction"] = summary[("persistent", room)]["mono_time_fraction"]
        table.append(row)
    paired: dict[str, Any] = {"rooms": rooms}
    for treatment in ("persistent", "mono_only"):
        for metric in ("collisions_per_100m", "collisions"):
            difference = paired_difference(
                [summary[(treatment, room)][metric] for room in rooms],
                [summary[("stereo_only", room)][metric] for room in rooms],
            )
            paired[f"{treatment}_minus_stereo_only/{metric}"] = {
                **difference.as_dict(),
                **verdict(difference, treatment, "stereo_only"),
            }
    return table, paired
