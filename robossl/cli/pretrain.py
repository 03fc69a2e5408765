"""Pretrain a self-supervised method on logged data and write atomic, resumable checkpoints.

Examples:
    robossl pretrain --list
    robossl pretrain --method barlow_twins --data ../shared/data/har/actrectut --steps 500
    robossl pretrain --method simclr --data windows.npz --set temperature=0.2 --batch-size 256
    robossl pretrain --method byol --data run.mcap_folder --topic /imu --out runs/byol_imu
    robossl pretrain --method dino --data ../shared/data/terrain/borealtc --steps 2000 --stop-at 500
    robossl pretrain --method dino --data ../shared/data/terrain/borealtc --steps 2000 --resume
    robossl pretrain --method tera --data windows.npz --device cuda
    torchrun --nproc_per_node=2 -m robossl.cli.main pretrain --method simclr --data windows.npz \\
        --gather-distributed        # DDP on CPU (gloo); negatives gathered from both processes

SOURCE is an .npz with ``windows`` (and optional ``labels``/``groups``), an ActRecTut or BorealTC folder,
or a bag (ROS 1 / rosbag2) with ``--topic`` naming an Imu or Image topic. The checkpoint
(``<out>/checkpoint.pt``) holds the method name, its config, the input description, the standardisation
statistics and the learner state (weights, EMA teacher, DINO centre, DirectPred correlation, optimizer,
step, random state); ``--resume`` continues from it exactly. A loss curve is saved as ``<out>/loss.png``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

HELP = "pretrain a self-supervised method on a dataset, .npz or bag (resumable, torchrun-ready)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", help="registered method name (see --list)")
    parser.add_argument("--data", help="SOURCE: .npz of windows, dataset folder, or bag")
    parser.add_argument("--topic", help="bag topic (sensor_msgs/Imu or Image)")
    parser.add_argument("--task", default="gesture", help="ActRecTut task: gesture or walk")
    parser.add_argument("--classes", nargs="+", metavar="CLASS", help="BorealTC class folders (default: all)")
    parser.add_argument("--modality", choices=("image", "imu", "spectrogram", "features"), help="override")
    parser.add_argument("--steps", type=int, default=1000, help="optimizer steps in total")
    parser.add_argument("--batch-size", type=int, default=128, help="samples per step and process")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (AdamW, cosine decay)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="method config override"
    )
    parser.add_argument("--out", default="runs/pretrain", help="output folder")
    parser.add_argument("--checkpoint-every", type=int, default=200, help="steps between checkpoints")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt")
    parser.add_argument(
        "--stop-at", type=int, help="stop (with a checkpoint) at this step; the schedule still spans --steps"
    )
    parser.add_argument(
        "--threads", type=int, help="CPU threads for torch and BLAS (default: library default)"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, batches and views")
    parser.add_argument(
        "--gather-distributed", action="store_true", help="gather negatives/statistics across processes"
    )
    parser.add_argument("--list", action="store_true", help="list methods and exit")


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["temperature=0.2", "num_local_views=4"]`` -> dict with JSON-parsed values (strings as-is)."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def _init_distributed(device: str) -> tuple[bool, int, int]:
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return False, 0, 1
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return True, dist.get_rank(), world


def _save_loss_plot(losses: list[float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(range(len(losses)), losses, linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    if args.threads:
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        with threadpool_limits(args.threads):
            return _run(args)
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    import dataclasses

    import numpy as np
    import torch
    from tqdm import tqdm

    from robossl.methods import Learner, LearnerConfig, available_methods, build_method, make_config
    from robossl.methods.sources import Standardizer, load_source
    from robossl.online.checkpoint import load_checkpoint, save_checkpoint

    if args.list:
        for name, entry in available_methods().items():
            print(f"{name:18s} {','.join(entry.modalities):32s} {entry.paper}")
        return 0
    if not args.method or not args.data:
        print("robossl pretrain: --method and --data are required (see --help)")
        return 2
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("robossl pretrain: --device cuda but torch sees no GPU; use --device cpu")
        return 2
    distributed, rank, world = _init_distributed(args.device)
    device = args.device
    if distributed and device == "cuda":
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    overrides = parse_overrides(args.set)
    if args.gather_distributed:
        fields = {f.name for f in dataclasses.fields(make_config(args.method))}
        if "gather_distributed" not in fields:
            print(f"robossl pretrain: method {args.method} has no cross-process gathering option")
            return 2
        overrides["gather_distributed"] = True
    out = Path(args.out)
    checkpoint_path = out / "checkpoint.pt"

    data = load_source(args.data, args.topic, args.task, args.modality, args.classes)
    standardizer = Standardizer.fit(data.windows, data.spec)
    windows = torch.from_numpy(standardizer(data.windows))
    torch.manual_seed(args.seed)
    method = build_method(args.method, data.spec, **overrides)
    config = make_config(args.method, overrides)
    learner = Learner(
        method,
        LearnerConfig(learning_rate=args.lr, total_steps=args.steps, seed=args.seed),
        device=device,
        distributed=distributed,
    )
    losses: list[float] = []
    if args.resume and checkpoint_path.is_file():
        saved = load_checkpoint(checkpoint_path, map_location=device)
        if saved.get("method") != args.method:
            print(f"robossl pretrain: {checkpoint_path} is a {saved.get('method')} run, not {args.method}")
            return 2
        learner.load_state_dict(saved["learner"])
        losses = list(saved.get("losses", []))
        if rank == 0:
            print(f"resumed {args.method} at step {learner.step_count} from {checkpoint_path}")

    def checkpoint() -> None:
        if rank != 0:
            return
        save_checkpoint(
            checkpoint_path,
            {
                "method": args.method,
                "method_config": dataclasses.asdict(config),
                "input_spec": data.spec.to_dict(),
                "standardizer": standardizer.to_dict(),
                "learner": learner.state_dict(),
                "losses": losses,
                "source": str(args.data),
                "world_size": world,
            },
        )

    batch_size = min(args.batch_size, windows.shape[0])
    progress = tqdm(total=args.steps, initial=learner.step_count, desc=args.method, disable=rank != 0)
    stop_at = min(args.steps, args.stop_at) if args.stop_at else args.steps
    while learner.step_count < stop_at:
        # Batch choice depends only on (seed, step, rank): a resumed run sees the same batches.
        rng = np.random.default_rng([args.seed, learner.step_count, rank])
        metrics = learner.step(windows[rng.choice(windows.shape[0], batch_size, replace=False)])
        losses.append(metrics["loss"])
        progress.update(1)
        progress.set_postfix(loss=f"{metrics['loss']:.4f}")
        if learner.step_count % args.checkpoint_every == 0:
            checkpoint()
    progress.close()
    checkpoint()
    if rank == 0:
        _save_loss_plot(losses, out / "loss.png", f"{args.method} on {Path(args.data).name}")
        print(
            f"{args.method}: {learner.step_count} steps, final loss {losses[-1] if losses else float('nan'):.4f}; checkpoint {checkpoint_path}"
        )
    if distributed:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return 0
