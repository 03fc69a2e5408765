"""Training-step throughput of robossl's SimCLR, Barlow Twins, BYOL and DINO against the same step with
the ``lightly`` library's loss, plus view-generation throughput.

For each method both learners share everything but the objective: the same backbone (ColloSSL's IMU
CNN), heads, batch, views, optimizer and seed; the "lightly" learner swaps in ``lightly.loss``'s
NTXentLoss / BarlowTwinsLoss / NegativeCosineSimilarity / DINOLoss. Timing alternates blocks of steps
between the two (so load changes on a shared machine hit both alike) and reports the median samples/s;
``ratio_vs_lightly`` = median over adjacent block pairs of robossl samples/s / lightly samples/s (target
>= 1.0). On a CPU the clock is this process's CPU time (one thread), so other programs on a shared machine
do not bias either side; on a GPU it is synchronised wall-clock time. View generation compares
robossl's batched tensor image views with lightly's per-image ``SimCLRTransform`` (PIL + torchvision),
and reports robossl's IMU views alone. Because the objective is a small share of a training step, the
step ratios sit near 1.0; ``loss_only`` times the objective alone (forward + backward on fixed embeddings:
NT-Xent 256x128, Barlow Twins 256x512, BYOL 512x128, DINO 4 student / 2 teacher views x 256 x 1024).

lightly cannot be installed beside the project's CPU torch (it needs torchvision), so this script runs in
a separate virtual environment and re-executes itself there when ``lightly`` is missing::

    python3.11 -m venv /work/lightly-venv
    /work/lightly-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 numpy
    /work/lightly-venv/bin/pip install --no-deps lightly
    /work/lightly-venv/bin/pip install lightning-utilities   # lightly.transforms needs it
    /work/lightly-venv/bin/pip install --no-deps -e .      # robossl itself (optional: the script also
                                                           # puts the checkout on sys.path)
    LIGHTLY_VENV=/work/lightly-venv flock /tmp/robossl-bench.lock python bench/methods_speed.py
    LIGHTLY_VENV=/work/lightly-venv python bench/methods_speed.py --device cuda   # on a GPU machine

Never add lightly to the project's dependencies. Writes bench/results/methods_speed.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ensure_lightly() -> None:
    try:
        import lightly.loss  # noqa: F401
    except ImportError:
        venv = os.environ.get("LIGHTLY_VENV")
        python = Path(venv) / "bin" / "python" if venv else None
        if python is None or not python.exists():
            sys.exit(
                "lightly is not importable here; create the benchmark venv (see this file's docstring) and set LIGHTLY_VENV"
            )
        if Path(sys.prefix).resolve() == Path(str(venv)).resolve():
            raise
        os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


if __name__ == "__main__":
    _ensure_lightly()
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402


def _lightly_variant(name: str, method: nn.Module) -> nn.Module:
    """The same method module with lightly's loss in place of robossl's objective."""
    from lightly.loss import BarlowTwinsLoss, DINOLoss, NegativeCosineSimilarity, NTXentLoss

    from robossl.methods.bootstrap import BootstrapMethod, normalized_embedding_std
    from robossl.methods.dino import DINOMethod, teacher_entropy

    if name == "simclr":
        method.objective = NTXentLoss(temperature=0.5)  # type: ignore[assignment]
        return method
    if name == "barlow_twins":
        method.objective = BarlowTwinsLoss(lambda_param=5e-3)  # type: ignore[assignment]
        return method
    if name == "byol":
        criterion = NegativeCosineSimilarity()

        class LightlyBYOL(BootstrapMethod):
            def forward(self, batch, generator=None):  # type: ignore[no-untyped-def]
                views = torch.cat([self.views(batch, generator), self.views(batch, generator)])
                z = self.projector(self.backbone(views))
                p_a, p_b = self.predictor(z).chunk(2)
                with torch.no_grad():
                    t_a, t_b = self.teacher(views).chunk(2)  # type: ignore[misc]
                loss = 0.5 * (criterion(p_a, t_b) + criterion(p_b, t_a))
                # the same collapse monitor robossl's method returns: only the objective differs
                return loss, {"loss": loss.detach(), "embedding_std": normalized_embedding_std(z)}

        method.__class__ = LightlyBYOL
        return method
    if name == "dino":
        assert isinstance(method, DINOMethod)
        # a submodule, so the learner moves lightly's centre buffer to the training device with the method
        method.lightly_loss = DINOLoss(
            output_dim=int(method.loss.center.numel()), warmup_teacher_temp_epochs=0
        )

        class LightlyDINO(DINOMethod):
            def forward(self, batch, generator=None):  # type: ignore[no-untyped-def]
                global_views = torch.cat([self.views(batch, generator), self.views(batch, generator)])
                local = torch.cat([self.views.local(batch, generator) for _ in range(self.num_local_views)])
                student = torch.cat([self.head(self.backbone(global_views)), self.head(self.backbone(local))])
                with torch.no_grad():
                    teacher = self.teacher(global_views)
                loss = self.lightly_loss(
                    list(teacher.chunk(2)), list(student.chunk(2 + self.num_local_views)), epoch=0
                )
                # robossl's collapse monitor on the first global view, for parity
                entropy = teacher_entropy(teacher[: batch.shape[0]])
                return loss, {"loss": loss.detach(), "teacher_entropy": entropy}

        method.__class__ = LightlyDINO
        return method
    raise ValueError(name)


def _throughput(learner, batch: torch.Tensor, steps: int, device: torch.device) -> float:  # type: ignore[no-untyped-def]
    """Samples/s of ``steps`` training steps: process CPU time on a CPU (robust to other processes
    competing for the cores), wall-clock time with synchronisation on a GPU."""
    clock = time.process_time if device.type == "cpu" else time.perf_counter
    if device.type == "cuda":
        torch.cuda.synchronize()
    begin = clock()
    for _ in range(steps):
        learner.step(batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch.shape[0] * steps / (clock() - begin)


def _median_interval(values: list[float], resamples: int = 2000) -> tuple[float, float]:
    """Percentile-bootstrap 95 % interval of the median (seeded: the same data gives the same interval)."""
    import random

    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def bench_steps(args: argparse.Namespace, device: torch.device) -> dict[str, dict[str, float]]:
    from robossl.methods import InputSpec, Learner, LearnerConfig, build_method

    spec = InputSpec("imu", (32, 15), rotation_groups=((0, 1, 2), (5, 6, 7), (10, 11, 12)))
    batch = torch.randn(args.batch_size, *spec.shape, generator=torch.Generator().manual_seed(0)).to(device)
    results = {}
    for name in ("simclr", "barlow_twins", "byol", "dino"):
        samples: dict[str, list[float]] = {"robossl": [], "lightly": []}
        # Two rounds with the learners built in opposite orders: which one is built (and allocated) first
        # shifted the ratio by ~0.3 % in an A/A check, as much as a loss that is 0.2 % of a step can gain.
        for build_order in (("robossl", "lightly"), ("lightly", "robossl")):
            learners = {}
            for impl in build_order:
                torch.manual_seed(0)
                method = build_method(name, spec)
                if impl == "lightly":
                    method = _lightly_variant(name, method)  # type: ignore[assignment]
                learners[impl] = Learner(method, LearnerConfig(seed=0), device=device)  # type: ignore[arg-type]
                for _ in range(args.warmup):
                    learners[impl].step(batch)
            for block in range(args.blocks // 2):
                # ABBA order: drift within a pair hits both sides alike on average
                order = ("robossl", "lightly") if block % 2 == 0 else ("lightly", "robossl")
                for impl in order:
                    samples[impl].append(_throughput(learners[impl], batch, args.steps, device))
            del learners
        ours, theirs = statistics.median(samples["robossl"]), statistics.median(samples["lightly"])
        # Ratio of adjacent blocks, then the median: load drift between blocks cancels in each pair.
        block_ratios = [a / b for a, b in zip(samples["robossl"], samples["lightly"])]
        ratio = statistics.median(block_ratios)
        low, high = _median_interval(block_ratios)
        results[name] = {
            "robossl_samples_per_s": round(ours, 1),
            "lightly_samples_per_s": round(theirs, 1),
            "ratio_vs_lightly": round(ratio, 4),
            "ratio_95ci": [round(low, 4), round(high, 4)],
            "block_ratios": [round(r, 4) for r in block_ratios],
        }
        print(
            f"{name:13s} robossl {ours:9.1f}/s  lightly {theirs:9.1f}/s  ratio {ratio:.4f} "
            f"(95% CI {low:.4f}-{high:.4f})",
            flush=True,
        )
    return results


def bench_losses(args: argparse.Namespace, device: torch.device) -> dict[str, dict[str, float]]:
    """Forward + backward of the objective alone on fixed embeddings (the only part that differs)."""
    from lightly.loss import BarlowTwinsLoss, DINOLoss, NegativeCosineSimilarity, NTXentLoss

    from robossl.losses.barlow_twins import barlow_twins_loss
    from robossl.losses.dino import DINOLoss as RobosslDINOLoss
    from robossl.losses.negative_cosine import negative_cosine_similarity
    from robossl.losses.nt_xent import nt_xent_loss

    g = torch.Generator().manual_seed(0)
    n = args.batch_size

    def leaf(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g).to(device).requires_grad_(True)

    a128, b128, a512, b512 = leaf(n, 128), leaf(n, 128), leaf(n, 512), leaf(n, 512)
    p2, t2 = leaf(2 * n, 128), torch.randn(2 * n, 128, generator=g).to(device)
    student, teacher = leaf(4, n, 1024), torch.randn(2, n, 1024, generator=g).to(device)
    ours_dino = RobosslDINOLoss(1024).to(device)
    lightly_dino = DINOLoss(1024, warmup_teacher_temp_epochs=0).to(device)
    lightly_cos, lightly_nt, lightly_bt = NegativeCosineSimilarity(), NTXentLoss(0.5), BarlowTwinsLoss(5e-3)
    cases = {
        "simclr": (lambda: nt_xent_loss(a128, b128, 0.5), lambda: lightly_nt(a128, b128)),
        "barlow_twins": (lambda: barlow_twins_loss(a512, b512), lambda: lightly_bt(a512, b512)),
        "byol": (
            lambda: negative_cosine_similarity(p2, t2.roll(n, dims=0)),
            lambda: 0.5 * (lightly_cos(p2[:n], t2[n:]) + lightly_cos(p2[n:], t2[:n])),
        ),
        "dino": (
            lambda: ours_dino(student, teacher),
            lambda: lightly_dino(list(teacher.unbind(0)), list(student.unbind(0)), epoch=0),
        ),
    }
    clock = time.process_time if device.type == "cpu" else time.perf_counter
    results = {}
    for name, (ours_fn, lightly_fn) in cases.items():
        times: dict[str, list[float]] = {"robossl": [], "lightly": []}
        for block in range(args.blocks + 1):
            order = ((ours_fn, "robossl"), (lightly_fn, "lightly"))
            for fn, impl in order if block % 2 == 0 else order[::-1]:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                begin = clock()
                for _ in range(10):
                    fn().backward()
                if device.type == "cuda":
                    torch.cuda.synchronize()
                if block:  # block 0 is warm-up
                    times[impl].append((clock() - begin) / 10)
        ratio = statistics.median(b / a for a, b in zip(times["robossl"], times["lightly"]))
        results[name] = {
            "robossl_ms": round(1e3 * statistics.median(times["robossl"]), 3),
            "lightly_ms": round(1e3 * statistics.median(times["lightly"]), 3),
            "speedup_vs_lightly": round(ratio, 3),
        }
        print(
            f"loss {name:13s} robossl {results[name]['robossl_ms']:8.3f} ms  lightly "
            f"{results[name]['lightly_ms']:8.3f} ms  speedup {ratio:.3f}",
            flush=True,
        )
    return results


def bench_views(args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    import numpy as np
    from lightly.transforms import SimCLRTransform
    from PIL import Image

    from robossl.transforms import ImageViewConfig, ImageViews, ImuViewConfig, ImuViews

    generator = torch.Generator(device=device).manual_seed(0)
    images = torch.rand(args.batch_size, 3, 96, 96, generator=torch.Generator().manual_seed(0)).to(device)
    views = ImageViews(ImageViewConfig(output_size=(64, 64)))
    views(images, generator)

    def timed(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
        if device.type == "cuda":
            torch.cuda.synchronize()
        begin = time.perf_counter()
        for _ in range(repeats):
            fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - begin

    ours = args.batch_size * 5 / timed(lambda: views(images, generator), 5)
    pil = [Image.fromarray((img.permute(1, 2, 0).cpu().numpy() * 255).astype(np.uint8)) for img in images]
    transform = SimCLRTransform(input_size=64)
    transform(pil[0])
    theirs = len(pil) / timed(lambda: [transform(p) for p in pil], 1) * 2  # SimCLRTransform returns 2 views
    ours_two_views = ours  # one call = one view per image; lightly's call yields two views per image
    imu = torch.randn(args.batch_size, 32, 15, generator=torch.Generator().manual_seed(0)).to(device)
    imu_views = ImuViews(ImuViewConfig(rotation_groups=((0, 1, 2), (5, 6, 7), (10, 11, 12))))
    imu_rate = args.batch_size * 20 / timed(lambda: imu_views(imu, generator), 20)
    print(
        f"image views   robossl {ours_two_views:9.1f} views/s  lightly SimCLRTransform {theirs:9.1f} views/s"
    )
    print(f"imu views     robossl {imu_rate:9.1f} views/s")
    return {
        "image_views_per_s_robossl": round(ours_two_views, 1),
        "image_views_per_s_lightly_simclr_transform": round(theirs, 1),
        "image_views_ratio_vs_lightly": round(ours_two_views / theirs, 2),
        "imu_views_per_s_robossl": round(imu_rate, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=2, help="steps per timed block")
    parser.add_argument("--blocks", type=int, default=40, help="alternating timed blocks per implementation")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--tag", default="", help="suffix of the results file (e.g. b1024)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    import lightly

    from bench._common import Target, print_table, print_targets, write_results

    steps = bench_steps(args, device)
    losses = bench_losses(args, device)
    views = bench_views(args, device)
    print_table(
        [{"method": k, **{f: v for f, v in r.items() if f != "block_ratios"}} for k, r in steps.items()]
    )
    # robossl's learners at least as fast as lightly's for the same method, backbone and batch
    targets = [
        Target(f"{k} training samples/s vs lightly (x)", r["ratio_vs_lightly"], ">=", 1.0)
        for k, r in steps.items()
    ]
    print_targets(targets)
    suffix = ("" if device.type == "cpu" else f"_{device.type}") + (f"_{args.tag}" if args.tag else "")
    path = write_results(
        f"methods_speed{suffix}",
        steps,
        targets=targets,
        loss_only=losses,
        views=views,
        lightly_version=lightly.__version__,
        setup={
            "backbone": "ImuConvEncoder (ColloSSL 3-conv)",
            "input": [32, 15],
            "batch_size": args.batch_size,
            "threads": args.threads,
            "device": str(device),
            "timing": f"{args.blocks} alternating (ABBA) blocks of {args.steps} steps per implementation, half "
            "with each learner built first; "
            "samples/s = median over blocks; ratio = median of adjacent-block ratios with a bootstrap 95 % CI; "
            + ("process CPU time (1 thread)" if device.type == "cpu" else "wall clock, synchronised"),
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
