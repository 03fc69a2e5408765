"""Fly the simulated drone room in closed loop with the stereo -> mono pipeline.

Examples:
    robossl fly --policy stereo_only --duration 60
    robossl fly --policy persistent --pretrain-rooms 4 --pretrain-steps 300 --plot flight.png
    robossl fly --policy mono_only --checkpoint student.pt --split heldout --seed 2 --json

Pretraining (``--pretrain-rooms``) flies stereo in training rooms, trains the student, and can be saved with
``--save-checkpoint``; ``--checkpoint`` loads a pipeline checkpoint instead. Prints a summary (collisions
per 100 m, time on mono, mono AbsRel vs simulator ground truth) and every switching transition.
"""

from __future__ import annotations

import argparse
import json

HELP = "fly the MuJoCo drone room in closed loop (stereo / mono / persistent switching)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", choices=["persistent", "stereo_only", "mono_only"], default="persistent")
    parser.add_argument("--seed", type=int, default=0, help="room seed")
    parser.add_argument("--split", choices=["train", "heldout"], default="heldout", help="room set")
    parser.add_argument("--duration", type=float, default=120.0, help="simulated seconds")
    parser.add_argument("--camera-hz", type=float, default=5.0, help="frames per simulated second")
    parser.add_argument("--checkpoint", help="pipeline checkpoint to start from (from --save-checkpoint)")
    parser.add_argument("--pretrain-rooms", type=int, default=0, help="training rooms to fly on stereo first")
    parser.add_argument(
        "--pretrain-steps", type=int, default=300, help="student steps after pretraining flight"
    )
    parser.add_argument("--save-checkpoint", help="write the pipeline checkpoint here after flying")
    parser.add_argument("--no-learning", action="store_true", help="freeze the student during the flight")
    parser.add_argument("--plot", help="save a top-down picture of the flight (PNG)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("MUJOCO_GL", "egl")
    import logging

    import torch
    from tqdm import tqdm

    from robossl.pipelines.stereo_mono import StereoMonoConfig, StereoMonoPipeline
    from robossl_sim.closed_loop import FlightConfig, fly, pretrain_student
    from robossl_sim.worlds.drone_room import DroneRoom

    torch.set_num_threads(1)
    logging.basicConfig(level=logging.WARNING)
    settings = {
        "sgbm": {"num_disparities": 48},
        "student": {"input_height": 64, "input_width": 96},
        "switching": {"policy": args.policy},
        "run_mono_in_stereo_mode": args.policy != "stereo_only",
    }
    flight = FlightConfig(
        duration_s=args.duration, camera_hz=args.camera_hz, train_steps=0 if args.no_learning else 1
    )
    with DroneRoom(args.seed, args.split) as room:
        pipeline = StereoMonoPipeline(StereoMonoConfig.from_dict(settings), room.calibration)
        if args.checkpoint:
            pipeline.load(args.checkpoint)
        if args.pretrain_rooms:
            trainer = StereoMonoPipeline(
                StereoMonoConfig.from_dict(
                    {**settings, "switching": {"policy": "stereo_only"}, "replay_capacity": 2000}
                ),
                room.calibration,
            )
            with tqdm(total=args.pretrain_steps, desc="pretraining student") as bar:
                pretrain_student(
                    trainer,
                    list(range(args.pretrain_rooms)),
                    40.0,
                    args.pretrain_steps,
                    progress=lambda _: bar.update(),
                )
            pipeline.learner.load_state_dict(trainer.learner.state_dict())
            pipeline.trainer.slot.publish(pipeline.learner.inference_model())
        frames = int(round(args.duration * args.camera_hz))
        with tqdm(total=frames, desc=f"flying {args.policy}") as bar:
            log = fly(room, pipeline, flight, progress=lambda _: bar.update())
        summary = log.summary()
        if args.save_checkpoint:
            pipeline.save(args.save_checkpoint, include_replay=False)
        if args.plot:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            from robossl_sim.flight_plot import draw_flight

            figure, axes = plt.subplots(figsize=(4, 4))
            draw_flight(axes, room.layout, log, f"{args.policy}, {args.split} room {args.seed}")
            figure.savefig(args.plot, dpi=120, bbox_inches="tight")
    if args.json:
        print(json.dumps({**summary, "transitions": log.transitions}, indent=2))
    else:
        for line in log.transitions:
            print(line)
        for key, value in summary.items():
            print(f"{key:>22}: {value:.4g}")
    return 0
