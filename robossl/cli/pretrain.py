"""Pretrain a self-supervised method on logged data and write atomic, resumable checkpoints.

Examples:
    robossl pretrain --list
    robossl pretrain --method barlow_twins --data ../shared/data/har/actrectut --steps 500
    robossl pretrain --method simclr --data windows.npz --set temperature=0.2 --batch-size 256
    robossl pretrain --method byol --data run.mcap_folder --topic /imu --out runs/byol_imu
    robossl pretrain --method dino --data ../shared/data/terrain/borealtc --steps 2000 --stop-at 500
    robossl pretrain --method dino --data ../shared/data/terrain/borealtc --steps 2000 --resume
    robossl pretrain --method tera --data windows.npz --device cuda
    robossl pretrain --method simclr --data imu_log.csv --columns time,ax,ay,az,gx,gy,gz
    torchrun --nproc_per_node=2 -m robossl.cli.main pretrain --method simclr --data windows.npz \\
        --gather-distributed        # DDP on CPU (gloo); negatives gathered from both processes

SOURCE is an .npz with ``windows`` (and optional ``labels``/``groups``), an ActRecTut or BorealTC folder,
a bag (ROS 1 / rosbag2) with ``--topic`` naming an Imu or Image topic, or a CSV / Parquet IMU log with
``--columns`` naming its time, accelerometer and gyroscope columns. The checkpoint
(``<out>/checkpoint.pt``) holds the method name, its config, the input description, the standardisation
statistics and the learner state (weights, EMA teacher, DINO centre, DirectPred correlation, optimizer,
step, random state); ``--resume`` continues from it exactly (and refuses a checkpoint of another method,
config or input). A loss curve is saved as ``<out>/loss.png``.

Methods (``--list`` gives each one's modalities and paper): simclr, barlow_twins, vicreg, byol, simsiam,
directpred, dino, instance_triplet, tera, tjepa, collossl; method set II (issue 18): groco, sie, bss, mugs,
cluster_dino, scatsimclr, masked_image, moco (base), halp.

Bad input (a missing or unreadable source, NaN samples, a recording shorter than one window, an unknown
method or setting, a single-device source for collossl) ends with ``robossl pretrain: <what and what to
do>`` and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robossl.cli import run_data_verb
from robossl.errors import CheckpointError, MethodConfigError

if TYPE_CHECKING:
    from robossl.methods import InputSpec

HELP = "pretrain a self-supervised method on a dataset, .npz or bag (resumable, torchrun-ready)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", help="registered method name (see --list)")
    parser.add_argument("--data", help="SOURCE: .npz of windows, dataset folder, or bag")
    parser.add_argument("--topic", help="bag topic (sensor_msgs/Imu or Image)")
    parser.add_argument(
        "--columns",
        help="CSV / Parquet IMU log: its columns for t,ax,ay,az,gx,gy,gz (names or 0-based numbers)",
    )
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
            raise MethodConfigError(f"--set expects KEY=VALUE, got {item!r}")
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
    return run_data_verb("pretrain", args.threads, lambda: _run(args))


def _option_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the numeric options, or None."""
    if args.steps < 1:
        return f"--steps must be >= 1, got {args.steps}"
    if args.batch_size < 2:
        return f"--batch-size must be >= 2 (the objectives compare samples of a batch), got {args.batch_size}"
    if args.lr <= 0:
        return f"--lr must be > 0, got {args.lr}"
    if args.checkpoint_every < 1:
        return f"--checkpoint-every must be >= 1, got {args.checkpoint_every}"
    return None


def _describe(spec: InputSpec) -> str:
    devices = f", {spec.devices} devices" if spec.devices > 1 else ""
    return f"{spec.modality} samples {spec.shape}{devices}"


def _resume_problem(
    saved: dict[str, Any], args: argparse.Namespace, spec: InputSpec, config: dict[str, Any]
) -> str | None:
    """Why the checkpoint of ``--out`` cannot continue this run, or None."""
    from robossl.methods.pretrain_checkpoint import saved_input_spec

    if saved["method"] != args.method:
        return f"is a {saved['method']} run, not {args.method}"
    saved_spec = saved_input_spec(Path(args.out) / "checkpoint.pt", saved)
    # What sizes the weights; rotation groups and channel names only steer the views.
    if (saved_spec.modality, saved_spec.shape, saved_spec.devices) != (
        spec.modality,
        spec.shape,
        spec.devices,
    ):
        return (
            f"was pretrained on {_describe(saved_spec)} from {saved.get('source', 'unknown data')}, but --data "
            f"{args.data} gives {_describe(spec)}"
        )
    # gather_distributed only chooses where negatives come from; a resumed run may change its process count.
    as_saved = json.loads(json.dumps(saved["method_config"]))
    as_now = json.loads(json.dumps(config))
    changed = sorted(
        k
        for k in set(as_saved) | set(as_now)
        if k != "gather_distributed" and as_saved.get(k) != as_now.get(k)
    )
    if changed:
        detail = ", ".join(f"{k}: {as_saved.get(k)!r} there, {as_now.get(k)!r} here" for k in changed)
        return f"has another method config ({detail}); pass the run's --set values"
    return None


def _run(args: argparse.Namespace) -> int:
    import dataclasses

    import numpy as np
    import torch
    from tqdm import tqdm

    from robossl.data.pretrain_sources import Standardizer, load_source
    from robossl.methods import Learner, LearnerConfig, available_methods, build_method, make_config
    from robossl.methods.pretrain_checkpoint import load_learner_state, read_pretrain_checkpoint
    from robossl.online.checkpoint import save_checkpoint

    if args.list:
        for name, entry in available_methods().items():
            print(f"{name:18s} {','.join(entry.modalities):32s} {entry.paper}")
        return 0
    if not args.method or not args.data:
        print("robossl pretrain: --method and --data are required (see --help)", file=sys.stderr)
        return 2
    problem = _option_problem(args)
    if problem:
        print(f"robossl pretrain: {problem}", file=sys.stderr)
        return 2
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("robossl pretrain: --device cuda but torch sees no GPU; use --device cpu", file=sys.stderr)
        return 2
    overrides = parse_overrides(args.set)
    if args.gather_distributed:
        fields = {f.name for f in dataclasses.fields(make_config(args.method))}
        if "gather_distributed" not in fields:
            print(
                f"robossl pretrain: method {args.method} has no cross-process gathering option",
                file=sys.stderr,
            )
            return 2
        overrides["gather_distributed"] = True
    # The method name and settings are checked before a possibly large dataset is read.
    config = make_config(args.method, overrides)
    out = Path(args.out)
    checkpoint_path = out / "checkpoint.pt"

    data = load_source(args.data, args.topic, args.task, args.modality, args.classes, args.columns)
    standardizer = Standardizer.fit(data.windows, data.spec)
    windows = torch.from_numpy(standardizer(data.windows))
    torch.manual_seed(args.seed)
    try:
        method = build_method(args.method, data.spec, **overrides)
    except MethodConfigError as exc:  # the method cannot take these samples (modality, device count)
        raise MethodConfigError(f"{args.method} on {args.data}: {exc}") from exc
    distributed, rank, world = _init_distributed(args.device)
    device = args.device
    if distributed and device == "cuda":
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    learner = Learner(
        method,
        LearnerConfig(learning_rate=args.lr, total_steps=args.steps, seed=args.seed),
        device=device,
        distributed=distributed,
    )
    losses: list[float] = []
    if args.resume and checkpoint_path.is_file():
        fresh = "drop --resume or choose another --out to start a new run"
        try:
            saved = read_pretrain_checkpoint(checkpoint_path, map_location=device)
        except CheckpointError as exc:
            raise CheckpointError(f"cannot resume: {exc}; or {fresh}") from exc
        problem = _resume_problem(saved, args, data.spec, dataclasses.asdict(config))
        if problem:
            raise CheckpointError(f"cannot resume: checkpoint {checkpoint_path} {problem}; or {fresh}")
        load_learner_state(checkpoint_path, saved, learner)
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
