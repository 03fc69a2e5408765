"""The demo's three stages over several seeds: mean and spread of every summary figure, against targets.

Examples:
    python bench/demo_stability.py                       # seeds 0, 1, 2 with the demo's defaults
    python bench/demo_stability.py --seeds 0,1 --stages drone

Each seed is one ``robossl demo --seed N`` (another held-out room, terrain map and activity stream; all
stages start from the same cached pretrained checkpoints, made by the first run). Learning budgets are in
frames and optimizer steps (lock-step), so the figures do not depend on the machine's speed; wall times are
reported for information only. Writes ``bench/results/demo_stability.json``; ``robossl demo`` shows its
spread in the summary and report.html when that file exists.

Targets (issue 17), each over the seeds: drone >= 50 % of frames on mono and no more collisions than a
stereo-only flight of the same room and frames; rover mIoU over the last third >= 0.6; HAR macro-F1 on the
unlabelled part >= 0.8; spread (max - min) of each <= 0.15.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import print_table, write_results  # noqa: E402

FIGURES = (  # summary key, target kind, target value
    ("drone_mono_time_fraction", ">=", 0.5),
    ("drone_collisions", "<=stereo_only", None),
    ("drone_stereo_only_collisions", None, None),
    ("drone_mono_absrel_last_third", None, None),
    ("rover_miou_last_third", ">=", 0.6),
    ("har_macro_f1_unlabelled_part", ">=", 0.8),
)
SPREAD_LIMIT = 0.15  # max - min over seeds of each targeted fraction / score
SPREAD_KEYS = ("drone_mono_time_fraction", "rover_miou_last_third", "har_macro_f1_unlabelled_part")


def run_seed(seed: int, out: Path, cache: Path, stages: list[str]) -> dict[str, Any]:
    """One ``robossl demo`` run -> its summary.json (raises with the log tail when it fails)."""
    folder = out / f"seed{seed}"
    command = [
        sys.executable, "-m", "robossl.cli.main", "demo", "--seed", str(seed), "--out", str(folder),
        "--cache-dir", str(cache), "--stages", *stages,
    ]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"demo seed {seed} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    runs = sorted(p for p in folder.iterdir() if p.is_dir())
    summary = json.loads((runs[-1] / "summary.json").read_text())
    summary["bench_wall_seconds"] = round(time.perf_counter() - started, 1)
    summary["run_dir"] = str(runs[-1])
    return dict(summary)


def aggregate(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Per figure: values by seed, mean, min, max, spread, and whether its target holds on every seed."""
    results: dict[str, Any] = {}
    for key, kind, target in FIGURES:
        values = [s[key] for s in summaries if isinstance(s.get(key), (int, float))]
        if not values:
            continue
        entry: dict[str, Any] = {
            "by_seed": values,
            "mean": round(sum(values) / len(values), 4),
            "min": min(values),
            "max": max(values),
            "spread": round(max(values) - min(values), 4),
        }
        if kind == ">=":
            entry["target"] = f">= {target}"
            entry["met_every_seed"] = all(v >= target for v in values)  # type: ignore[operator]
        elif kind == "<=stereo_only":
            stereo = [s.get("drone_stereo_only_collisions") for s in summaries]
            entry["target"] = "<= stereo-only collisions of the same room"
            entry["met_every_seed"] = all(
                isinstance(b, (int, float)) and s[key] <= b for s, b in zip(summaries, stereo) if key in s
            )
        if key in SPREAD_KEYS:
            entry["spread_target"] = f"<= {SPREAD_LIMIT}"
            entry["spread_met"] = entry["spread"] <= SPREAD_LIMIT
        results[key] = entry
    starts = {k: [s.get(k) for s in summaries] for k in summaries[0] if k.endswith("_started_from")}
    results["started_from"] = {k: sorted({str(v) for v in vals}) for k, vals in starts.items()}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--stages", default="drone,rover,har")
    parser.add_argument("--out", type=Path, default=None, help="run folders (default: a temporary folder)")
    parser.add_argument("--cache-dir", type=Path, default=Path("runs/cache"), help="pretrained-start cache")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    stages = [s for s in args.stages.split(",") if s.strip()]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="demo_stability.") as scratch:
        out = args.out or Path(scratch)
        summaries = []
        for seed in seeds:
            print(f"== demo seed {seed}", flush=True)
            summaries.append(run_seed(seed, out, args.cache_dir.resolve(), stages))
            print({k: summaries[-1].get(k) for k, _, _ in FIGURES}, flush=True)
    results = aggregate(summaries)
    rows = [
        {
            "figure": key,
            **{
                k: entry.get(k)
                for k in ("mean", "min", "max", "spread", "target", "met_every_seed", "spread_met")
            },
        }
        for key, entry in results.items()
        if isinstance(entry, dict) and "mean" in entry
    ]
    print_table(rows, ["figure", "mean", "min", "max", "spread", "target", "met_every_seed", "spread_met"])
    path = write_results(
        "demo_stability",
        results,
        seeds=seeds,
        stages=stages,
        summaries=summaries,
        total_seconds=round(time.perf_counter() - started, 1),
        note="budgets are frames / optimizer steps (lock-step); wall seconds are for information only",
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
