"""Every registered method pretrained on real logged sensor windows, scored by linear probes against strong
non-SSL baselines, over several seeds (mean and 95 % interval).

Datasets (from ../shared/data, via robossl's loaders):
- ``actrectut_gesture``: ActRecTut gesture task, 3 IMUs x 5 channels, 1 s windows (32 samples at 32 Hz),
  hop 0.5 s, 12 classes incl. NULL, 2 subjects. Scored across subjects in both directions (train on one
  subject's labels, test on the other; the dataset figure is the mean of the two directions) and, in the
  details, within subjects (first 70 % of each recording in time -> last 30 %).
- ``borealtc``: BorealTC Husky IMU (6 channels), 1 s windows decimated 100 -> 50 Hz, hop 0.5 s, 5 terrain
  classes; about 30 % of each class's runs held out (one fixed split for every seed).

Protocol (what changed after the probes sat at random-init level; docs/methods.md has the evidence):
- Pretraining is self-supervised, so it uses every window without labels (both subjects, all runs): on a
  robot the unlabelled logs include the conditions to be recognised. Labels are used only by probes and
  baselines, and only those of the training side.
- Standardisation per subject on ActRecTut (statistics of each subject's own windows, no labels), global
  on BorealTC.
- IMU views without the 3-D rotation (it erases the gravity direction; robossl.transforms.imu).
- The probe's L2 strength C is chosen on the last 25 % in time of every training group (subject / run),
  then refitted on all training windows (robossl.eval.selection); the same for the hand-crafted baseline.
- Baselines on the same windows and splits: hand-crafted statistics (mean, std, min, max, mean absolute
  difference per channel) + tuned logistic regression and + gradient boosting; the CNN trained end to end
  from scratch with 100 % and 10 % of the training labels (``--supervised-steps``); each method's
  architecture at random initialisation under the same probe.
- ``--finetune`` methods (default SimCLR and VICReg) are also fine-tuned end to end with the same 10 % of
  the labels, steps and batch as the supervised 10 % baseline (SimCLR's semi-supervised protocol); the
  best SSL figure at 10 % labels is the better of the frozen probe and the fine-tuned encoder.
- Budgets are optimizer steps, never seconds: the figures do not depend on the machine's speed. The
  default 300 steps x 128 windows is about 5 passes over ActRecTut; probes also after ``--probe-at``
  steps give the learning curve (the within-subject split is probed at the end only).
- ``--seeds`` (default 0,1,2) vary initialisation, batches and the 10 % label subsets; ``--jobs`` runs
  seeds in parallel processes (one thread each).

Entries are the registered methods (``--methods`` picks some); method set II (issue 18) entries carry
``versus_base``: the paired per-seed difference to the method they extend (``BASE_METHODS`` in
methods_real_report.py: GroCo and BSS -> SimCLR, SIE -> VICReg, Mugs and cluster-aware DINO -> DINO, HaLP ->
MoCo; ScatSimCLR and masked image modelling -> SimCLR on frames, which the bench does not load yet), so run
them together with their base, e.g. ActRecTut only into its own file:
    flock /tmp/robossl-demo.lock python bench/methods_real.py --datasets actrectut_gesture --jobs 3 \
        --methods simclr,groco,bss,vicreg,sie,dino,mugs,cluster_dino --probe-at "" --name methods_real_set2

Run (about 1 hour on 2 free cores; --jobs 3 runs the three seeds side by side):
    flock /tmp/robossl-bench.lock python bench/methods_real.py --jobs 3
    python bench/methods_real.py --steps 40 --probe-at 20 --seeds 0 --methods simclr,byol    # quick look
Writes bench/results/methods_real.json and methods_real.png:
    {"results": {"<method>/<dataset>": {"probe_macro_f1": {"mean", "ci95", "by_seed"}, "random_init_macro_f1":
     {...}, "probe_10pct_macro_f1": {...}, "beats_random_init": bool, ...},
     "baselines/<dataset>": {...}, "summary/<dataset>": {...}}, "details": {...}}
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from bench._common import print_table, write_results  # noqa: E402
from bench.methods_real_data import DATASETS, Dataset, load_datasets  # noqa: E402
from bench.methods_real_report import (  # noqa: E402
    BASE_METHODS,
    add_versus_base,
    aggregate,
    architecture_key,
    details_of,
    format_interval,
    plot_curves,
    write_tables,
)
from robossl.eval.probes import knn_probe  # noqa: E402
from robossl.eval.selection import tuned_linear_probe, validation_split  # noqa: E402
from robossl.eval.splits import label_subset  # noqa: E402
from robossl.eval.supervised import SupervisedConfig, train_supervised  # noqa: E402
from robossl.methods import InputSpec, Learner, LearnerConfig, available_methods, build_method  # noqa: E402


def probe_scores(features: np.ndarray, ds: Dataset, seed: int, final: bool) -> dict[str, float]:
    """Tuned linear probe on every split, plus (``final``) the 10 %-label probe and kNN -> flat scores.
    Intermediate points of the learning curve probe the headline splits only."""
    labels, groups = ds.data.labels, ds.data.groups
    assert labels is not None and groups is not None
    scores: dict[str, float] = {}
    for split in ds.splits:
        headline = split.name in ds.headline
        if not final and not headline:
            continue
        x_train, y_train, g_train = features[split.train], labels[split.train], groups[split.train]
        x_test, y_test = features[split.test], labels[split.test]
        fit, validation = validation_split(y_train, g_train)
        tuned = tuned_linear_probe(x_train, y_train, x_test, y_test, fit, validation)
        scores[f"{split.name}/probe"] = tuned.result.macro_f1
        scores[f"{split.name}/probe_C"] = tuned.regularization
        if not final or not headline:  # within-subject: the tuned probe only (a diagnostic, not a target)
            continue
        few = label_subset(y_train, 0.1, seed)
        tuned_few = tuned_linear_probe(x_train[few], y_train[few], x_test, y_test, fit[few], validation[few])
        scores[f"{split.name}/probe_10pct"] = tuned_few.result.macro_f1
        scores[f"{split.name}/knn"] = knn_probe(x_train, y_train, x_test, y_test).macro_f1
    return scores


def baseline_scores(ds: Dataset, seed: int, supervised_steps: int) -> dict[str, float]:
    """Non-SSL baselines on the same windows and splits."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    labels = ds.data.labels
    assert labels is not None
    scores: dict[str, float] = {}
    for name, value in probe_scores(ds.features, ds, seed, final=True).items():
        if not name.endswith(("_C", "/knn")):
            scores[name.replace("/probe", "/handcrafted_lr")] = value
    for split in ds.splits:
        y_train, y_test = labels[split.train], labels[split.test]
        boosting = HistGradientBoostingClassifier(max_iter=200, class_weight="balanced", random_state=seed)
        boosting.fit(ds.features[split.train], y_train)
        scores[f"{split.name}/handcrafted_boosting"] = _macro_f1(
            y_test, boosting.predict(ds.features[split.test])
        )
        if split.name not in ds.headline:
            continue  # the within-subject split is a diagnostic: hand-crafted baselines only
        x_train, x_test = ds.data.windows[split.train], ds.data.windows[split.test]
        for fraction, suffix in ((1.0, "supervised_100pct"), (0.1, "supervised_10pct")):
            rows = label_subset(y_train, fraction, seed) if fraction < 1 else np.arange(len(y_train))
            torch.manual_seed(seed)
            backbone = build_method("simclr", ds.data.spec).backbone
            classifier = train_supervised(
                backbone,
                int(backbone.out_dim),  # type: ignore[arg-type]
                x_train[rows],
                y_train[rows],
                SupervisedConfig(steps=supervised_steps, batch_size=64, seed=seed),
            )
            with torch.no_grad():
                predicted = classifier(torch.from_numpy(x_test)).argmax(1).numpy()
            scores[f"{split.name}/{suffix}"] = _macro_f1(y_test, predicted)
    return scores


def finetune_scores(
    backbone: torch.nn.Module, x_all: np.ndarray, ds: Dataset, seed: int, supervised_steps: int
) -> dict[str, float]:
    """The pretrained encoder fine-tuned end to end with 10 % of the labels (the semi-supervised protocol of
    SimCLR, Chen et al. 2020): the same label subset, steps and batch as the supervised-from-scratch 10 %
    baseline, so the two differ only in the initialisation."""
    labels = ds.data.labels
    assert labels is not None
    scores: dict[str, float] = {}
    for split in ds.splits:
        if split.name not in ds.headline:
            continue
        y_train = labels[split.train]
        rows = label_subset(y_train, 0.1, seed)
        torch.manual_seed(seed)
        encoder = copy.deepcopy(backbone)
        classifier = train_supervised(
            encoder,
            int(encoder.out_dim),  # type: ignore[arg-type]
            x_all[split.train][rows],
            y_train[rows],
            SupervisedConfig(steps=supervised_steps, batch_size=64, seed=seed),
        )
        with torch.no_grad():
            predicted = classifier(torch.from_numpy(x_all[split.test])).argmax(1).numpy()
        scores[f"{split.name}/finetune_10pct"] = _macro_f1(labels[split.test], predicted)
    return scores


def _macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float(f1_score(truth, predicted, average="macro", labels=np.unique(truth), zero_division=0))


def embed(learner: Learner, x: np.ndarray) -> np.ndarray:
    return learner.embed(torch.from_numpy(x), batch_size=1024).numpy()


def run_seed(
    seed: int,
    methods: list[str],
    steps: list[int],
    batch_size: int,
    supervised_steps: int,
    datasets: tuple[str, ...] = DATASETS,
    boreal_window_s: float = 1.0,
    finetune: tuple[str, ...] = (),
) -> dict:
    """One seed: baselines, random-init probes and every method's pretraining + probes, every dataset;
    the methods in ``finetune`` are also fine-tuned with 10 % of the labels."""
    torch.set_num_threads(1)
    scores: dict[str, float] = {}
    info: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    with threadpool_limits(1):
        for ds in load_datasets(datasets, boreal_window_s):
            started = time.perf_counter()
            for name, value in baseline_scores(ds, seed, supervised_steps).items():
                scores[f"baselines/{ds.name}/{name}"] = value
            print(f"[seed {seed}] {ds.name} baselines ({time.perf_counter() - started:.0f} s)", flush=True)
            random_done: set[str] = set()
            for method_name in methods:
                uses_features = available_methods()[method_name].modalities == ("features",)
                x_all = ds.features if uses_features else ds.data.windows
                spec = InputSpec("features", x_all.shape[1:]) if uses_features else ds.data.spec
                torch.manual_seed(seed)
                try:
                    method = build_method(method_name, spec)
                except ValueError as exc:
                    skipped[f"{method_name}/{ds.name}"] = str(exc)
                    continue
                learner = Learner(method, LearnerConfig(learning_rate=1e-3, total_steps=steps[-1], seed=seed))
                arch = architecture_key(method_name)
                if arch not in random_done:
                    for name, value in probe_scores(embed(learner, x_all), ds, seed, final=True).items():
                        scores[f"random_init:{arch}/{ds.name}/{name}"] = value
                    random_done.add(arch)
                rng = np.random.default_rng(seed)
                x_tensor = torch.from_numpy(x_all)  # every window, no labels: self-supervised
                losses: list[float] = []
                begin = time.perf_counter()
                for target in steps:
                    while len(losses) < target:
                        index = rng.choice(len(x_tensor), min(batch_size, len(x_tensor)), replace=False)
                        losses.append(learner.step(x_tensor[index])["loss"])
                    last = target == steps[-1]
                    for name, value in probe_scores(embed(learner, x_all), ds, seed, final=last).items():
                        suffix = "" if last else f"@{target}"
                        scores[f"{method_name}/{ds.name}/{name}{suffix}"] = value
                key = f"{method_name}/{ds.name}"
                if method_name in finetune:
                    backbone = learner.method.backbone
                    for name, value in finetune_scores(backbone, x_all, ds, seed, supervised_steps).items():
                        scores[f"{key}/{name}"] = value
                info[key] = {
                    "first_loss": round(losses[0], 4),
                    "final_loss": round(float(np.mean(losses[-5:])), 4),
                    "seconds_with_probes": round(time.perf_counter() - begin, 1),
                    "input": "summary features" if uses_features else f"windows {tuple(spec.shape)}",
                }
                headline = np.mean([scores[f"{key}/{s}/probe"] for s in ds.headline])
                print(
                    f"[seed {seed}] {key}: probe {headline:.3f} ({info[key]['seconds_with_probes']} s)",
                    flush=True,
                )
    return {"seed": seed, "scores": scores, "info": info, "skipped": skipped}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=300, help="pretraining steps per method and dataset")
    parser.add_argument("--probe-at", default="100", help="earlier step counts probed too (learning curve)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--supervised-steps", type=int, default=600)
    parser.add_argument("--methods", help="comma-separated subset (default: all registered)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument(
        "--jobs", type=int, default=1, help="seeds run in this many processes (1 thread each)"
    )
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated subset")
    parser.add_argument("--boreal-window-s", type=float, default=1.0, help="BorealTC window, s (hop: half)")
    parser.add_argument(
        "--finetune",
        default="simclr,vicreg",
        help="methods whose pretrained encoder is also fine-tuned with 10 %% of the labels (same steps as the "
        "supervised 10 %% baseline); empty for none",
    )
    parser.add_argument("--name", default="methods_real", help="results file name under bench/results")
    parser.add_argument(
        "--report-only", action="store_true", help="redraw figure and tables from the last results"
    )
    args = parser.parse_args()
    from bench._common import RESULTS_DIR

    if args.report_only:
        path = RESULTS_DIR / f"{args.name}.json"
        report = json.loads(path.read_text())
        if any(
            "versus_base" not in v for k, v in report["results"].items() if k.split("/")[0] in BASE_METHODS
        ):
            add_versus_base(report["results"])  # results written before the comparison existed
            path.write_text(json.dumps(report, indent=2) + "\n")
        plot_curves(report, RESULTS_DIR / f"{args.name}.png")
        write_tables(report)
        return 0
    methods = args.methods.split(",") if args.methods else list(available_methods())
    steps = sorted({int(v) for v in args.probe_at.split(",") if v.strip() and int(v) < args.steps})
    steps.append(args.steps)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    started = time.perf_counter()
    datasets = tuple(name for name in args.datasets.split(",") if name.strip())
    finetune = tuple(name for name in args.finetune.split(",") if name.strip() and name in methods)
    job_args = [
        (
            seed,
            methods,
            steps,
            args.batch_size,
            args.supervised_steps,
            datasets,
            args.boreal_window_s,
            finetune,
        )
        for seed in seeds
    ]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            runs = list(pool.map(run_seed, *zip(*job_args)))
    else:
        runs = [run_seed(*a) for a in job_args]
    headline = {ds.name: ds.headline for ds in load_datasets(datasets, args.boreal_window_s)}
    results = aggregate(runs, headline, methods)
    rows = []
    for key, entry in results.items():
        if "dataset" in entry:
            rows.append(
                {
                    "entry": key,
                    "probe": format_interval(entry["probe_macro_f1"]),
                    "random_init": format_interval(entry["random_init_macro_f1"]),
                    "beats_random": entry["beats_random_init"],
                    "probe_10pct": format_interval(entry["probe_10pct_macro_f1"]),
                    "finetune_10pct": format_interval(entry.get("finetune_10pct_macro_f1")),
                }
            )
        elif key.startswith("baselines/"):
            for name, value in entry.items():
                rows.append({"entry": f"{key}/{name}", "probe": format_interval(value)})
    print_table(rows, ["entry", "probe", "random_init", "beats_random", "probe_10pct", "finetune_10pct"])
    total = time.perf_counter() - started
    path = write_results(
        args.name,
        results,
        details=details_of(runs, steps),
        skipped={k: v for run in runs for k, v in run["skipped"].items()},
        headline_splits=headline,
        budget={
            "steps": args.steps,
            "batch_size": args.batch_size,
            "supervised_steps": args.supervised_steps,
            "probe_at_steps": steps,
            "seeds": seeds,
            "threads_per_seed": 1,
            "datasets": list(datasets),
            "borealtc_window_s": args.boreal_window_s,
            "finetune_10pct_methods": list(finetune),
        },
        total_seconds=round(total, 1),
    )
    report = json.loads(Path(path).read_text())
    plot_curves(report, Path(path).with_suffix(".png"))
    if not args.methods and args.name == "methods_real" and len(seeds) >= 3:
        write_tables(report)
    print(f"total {total:.0f} s wall; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
