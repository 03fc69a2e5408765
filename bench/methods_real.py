"""Every registered method pretrained on real logged sensor windows, scored by a linear probe.

Datasets (from ../shared/data, via robossl's loaders):
- ``actrectut_gesture``: ActRecTut gesture task, 3 IMUs x 5 channels, 1 s windows (32 samples at 32 Hz),
  hop 0.5 s, 12 classes incl. NULL; train on subject 1, test on subject 2 (leave-one-subject-out).
- ``borealtc``: BorealTC Husky IMU (6 channels), 1 s windows decimated 100 -> 50 Hz, hop 0.5 s, 5 terrain
  classes; about 30 % of each class's runs held out.

Per method and dataset: pretrain on the training split only (fixed budget: ``--steps`` optimizer steps of
``--batch-size`` windows), then a linear probe (logistic regression, all training labels) on frozen
features of the held-out subject/runs -> macro-F1. Baselines in the same run: the same architecture at
random initialisation (same probe), and supervised end-to-end training of that architecture with 10 % of the
training labels (``--supervised-steps`` steps). T-JEPA works on feature vectors, so its input is per-window
summary statistics (mean, std, min, max, mean absolute difference per channel) and its baselines use the
same input. ColloSSL needs several IMUs side by side, so it runs on ActRecTut only (BorealTC has one IMU);
its probe sees every device's encoding concatenated, and its supervised baseline is the all-device CNN.
The probe also runs part-way (``--probe-at``, default after 100 and 300 of the 600 steps), which gives a
learning curve per method: ``details[...]["probe_macro_f1_by_steps"]`` and ``methods_real.png``. (At 100
steps every method sat within a few points of its random-init encoder; on the single held-out ActRecTut
subject longer pretraining can also lower the probe, so the curve is reported, not only the end point.)

Run (about 25 minutes on 2 free cores; one thread):
    flock /tmp/robossl-bench.lock python bench/methods_real.py
    python bench/methods_real.py --steps 20 --probe-at 10 --methods simclr,byol    # quick look
Writes bench/results/methods_real.json and methods_real.png:
    {"results": {"<method>/<dataset>": {"dataset", "probe_macro_f1", "random_init_macro_f1",
                 "supervised_10pct_macro_f1", "pretrain_seconds"}}, "details": {...}}
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from bench._common import print_table, write_results  # noqa: E402
from robossl.eval.probes import knn_probe, linear_probe  # noqa: E402
from robossl.eval.splits import held_out_split, label_subset  # noqa: E402
from robossl.eval.supervised import SupervisedConfig, train_supervised  # noqa: E402
from robossl.methods import InputSpec, Learner, LearnerConfig, available_methods, build_method  # noqa: E402
from robossl.methods.sources import (  # noqa: E402
    Standardizer,
    WindowSet,
    load_actrectut_windows,
    load_borealtc_windows,
)


def summary_features(windows: np.ndarray) -> np.ndarray:
    """``(N, T, C)`` -> ``(N, 5 C)``: mean, std, min, max, mean |first difference| per channel."""
    diffs = np.abs(np.diff(windows, axis=1)).mean(1)
    return np.concatenate([windows.mean(1), windows.std(1), windows.min(1), windows.max(1), diffs], axis=1)


def load_datasets() -> dict[str, WindowSet]:
    gesture = load_actrectut_windows(None, "gesture", length=32, hop=16)
    boreal = load_borealtc_windows(None, window_s=1.0, hop_s=0.5)
    decimated = boreal.windows[:, ::2]  # 100 Hz -> 50 Hz: half the cost, vibration up to 25 Hz kept
    boreal = WindowSet(
        np.ascontiguousarray(decimated),
        InputSpec("imu", decimated.shape[1:], boreal.spec.rotation_groups),
        boreal.labels,
        boreal.groups,
        boreal.class_names,
        boreal.group_names,
    )
    return {"actrectut_gesture": gesture, "borealtc": boreal}


def embed(learner: Learner, x: np.ndarray) -> np.ndarray:
    return learner.embed(torch.from_numpy(x), batch_size=1024).numpy()


def architecture_key(method_name: str) -> str:
    """Methods that share this key have the same encoder architecture (and the same random init)."""
    return {"tera": "frame_transformer", "tjepa": "feature_tokens", "collossl": "per_device_imu_cnn"}.get(
        method_name, "imu_cnn"
    )


def supervised_key(method_name: str) -> str:
    """The supervised baseline's encoder: the method's own input kind (windows, frames, features)."""
    return {"tera": "tera", "tjepa": "tjepa"}.get(method_name, "simclr")


DATASET_TITLES = {"actrectut_gesture": "ActRecTut gesture", "borealtc": "BorealTC"}
MODALITY_NAMES = {"image": "image", "imu": "IMU", "spectrogram": "spectrogram", "features": "feature vectors"}
TABLE_FILES = ("README.md", "docs/methods.md")
TABLE_START, TABLE_END = "<!-- METHOD TABLE START -->", "<!-- METHOD TABLE END -->"


def markdown_table(report: dict) -> str:
    """The method table of README.md and docs/methods.md from a methods_real.json report."""
    results, details, skipped = report["results"], report["details"], report.get("skipped", {})
    datasets = sorted({entry["dataset"] for entry in results.values()})
    budget = report["budget"]
    steps = " / ".join(str(s) for s in budget["probe_at_steps"])
    header = ["method", "paper", "modality"]
    for dataset in datasets:
        title = DATASET_TITLES.get(dataset, dataset)
        header += [f"{title}: probe after {steps} steps", f"{title}: random init / supervised 10 %"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    methods = available_methods()
    for name in sorted({key.split("/")[0] for key in [*results, *skipped]}):
        entry_info = methods.get(name)
        modality = ", ".join(MODALITY_NAMES.get(m, m) for m in entry_info.modalities) if entry_info else ""
        row = [f"`{name}`", entry_info.paper if entry_info else "", modality]
        for dataset in datasets:
            key = f"{name}/{dataset}"
            if key not in results:
                row += ["n/a (" + skipped.get(key, "not run").split(";")[0] + ")", ""]
                continue
            curve = list(details[key]["probe_macro_f1_by_steps"].values())
            row.append(" / ".join(f"{v:.3f}" for v in curve[:-1]) + f" / **{curve[-1]:.3f}**")
            entry = results[key]
            row.append(f"{entry['random_init_macro_f1']:.3f} / {entry['supervised_10pct_macro_f1']:.3f}")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append(
        f"Budget: {budget['steps']} steps x {budget['batch_size']} windows (probed after {steps}), supervised "
        f"baseline {budget['supervised_steps']} steps; whole run {report['total_seconds']} s wall / "
        f"{report['total_cpu_seconds']} s CPU on {report['machine']['cores']} cores "
        f"({report['machine']['cpu']}, commit {report['commit']}, {report['date']}). "
        "T-JEPA's input is per-window summary statistics; its baselines use the same input. "
        "Learning curves: `bench/results/methods_real.png`."
    )
    return "\n".join(lines)


def write_tables(report: dict) -> None:
    """Replace the method table between the markers in README.md and docs/methods.md."""
    table = markdown_table(report)
    root = Path(__file__).resolve().parents[1]
    for name in TABLE_FILES:
        path = root / name
        text = path.read_text()
        begin, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
        path.write_text(text[:begin] + "\n" + table + "\n" + text[end:])
        print(f"updated the method table in {name}")


def plot_curves(results: dict, details: dict, path: Path) -> None:
    """One panel per dataset: linear-probe macro-F1 against pretraining steps (0 = random init), one line
    per method (the same colour and marker in every panel), the supervised 10 %-label baseline dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({entry["dataset"] for entry in results.values()})
    names = sorted({key.split("/")[0] for key in results})
    colours = plt.get_cmap("tab20").colors
    style = {name: (colours[(2 * i) % 20 + (2 * i) // 20], "os^Dv"[i % 5]) for i, name in enumerate(names)}
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 4.8), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for key, entry in sorted(results.items()):
            if entry["dataset"] != dataset:
                continue
            name = key.split("/")[0]
            curve = details[key]["probe_macro_f1_by_steps"]
            colour, marker = style[name]
            ax.plot(
                [0, *map(int, curve)],
                [entry["random_init_macro_f1"], *curve.values()],
                color=colour,
                marker=marker,
                label=name,
            )
        supervised = results.get(f"simclr/{dataset}", next(iter(results.values())))[
            "supervised_10pct_macro_f1"
        ]
        ax.axhline(supervised, color="black", linestyle="--", label="supervised, 10 % labels")
        ax.set_title(DATASET_TITLES.get(dataset, dataset))
        ax.set_xlabel("pretraining steps (0 = random init)")
        ax.set_ylabel("linear-probe macro-F1 (held out)")
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.85, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=600, help="pretraining steps per method and dataset")
    parser.add_argument(
        "--probe-at",
        default="100,300",
        help="comma-separated earlier step counts at which the linear probe also runs (learning curve)",
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--supervised-steps", type=int, default=600)
    parser.add_argument("--methods", help="comma-separated subset (default: all registered)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="redraw the figure and rewrite the README/docs method tables from the last results; run nothing",
    )
    args = parser.parse_args()
    if args.report_only:
        import json

        from bench._common import RESULTS_DIR

        report = json.loads((RESULTS_DIR / "methods_real.json").read_text())
        plot_curves(report["results"], report["details"], RESULTS_DIR / "methods_real.png")
        write_tables(report)
        return 0
    torch.set_num_threads(1)
    methods = args.methods.split(",") if args.methods else list(available_methods())
    budgets = sorted({int(v) for v in args.probe_at.split(",") if v.strip() and int(v) < args.steps})
    budgets.append(args.steps)
    started, started_cpu = time.perf_counter(), time.process_time()
    results: dict[str, dict[str, object]] = {}
    details: dict[str, dict[str, object]] = {}
    skipped: dict[str, str] = {}
    rows = []
    with threadpool_limits(1):
        for dataset_name, data in load_datasets().items():
            assert data.labels is not None
            train, test = held_out_split(data.labels, data.groups, 0.3, args.seed)
            standardizer = Standardizer.fit(data.windows[train], data.spec)
            windows = standardizer(data.windows)
            features = summary_features(windows)
            features = Standardizer.fit(features[train], InputSpec("features", features.shape[1:]))(features)
            y_train, y_test = data.labels[train], data.labels[test]
            few = label_subset(y_train, 0.1, args.seed)
            random_init: dict[str, float] = {}
            supervised: dict[str, float] = {}
            for name in methods:
                uses_features = available_methods()[name].modalities == ("features",)
                x_all = features if uses_features else windows
                spec = InputSpec("features", x_all.shape[1:]) if uses_features else data.spec
                x_train, x_test = x_all[train], x_all[test]
                torch.manual_seed(args.seed)
                try:
                    method = build_method(name, spec)
                except ValueError as exc:
                    skipped[f"{name}/{dataset_name}"] = str(exc)
                    print(f"{name}/{dataset_name}: skipped ({exc})", flush=True)
                    continue
                learner = Learner(
                    method, LearnerConfig(learning_rate=1e-3, total_steps=args.steps, seed=args.seed)
                )
                key = architecture_key(name)
                if key not in random_init:
                    random_init[key] = linear_probe(
                        embed(learner, x_train), y_train, embed(learner, x_test), y_test
                    ).macro_f1
                baseline = supervised_key(name)
                if baseline not in supervised:
                    torch.manual_seed(args.seed)
                    backbone = build_method(baseline, spec).backbone
                    classifier = train_supervised(
                        backbone,
                        int(backbone.out_dim),  # type: ignore[arg-type]
                        x_train[few],
                        y_train[few],
                        SupervisedConfig(steps=args.supervised_steps, batch_size=64, seed=args.seed),
                    )
                    with torch.no_grad():
                        predicted = classifier(torch.from_numpy(x_test)).argmax(1).numpy()
                    supervised[baseline] = float(
                        f1_score(y_test, predicted, average="macro", labels=np.unique(y_test))
                    )
                rng = np.random.default_rng(args.seed)
                x_train_tensor = torch.from_numpy(x_train)
                pretrain_seconds = pretrain_cpu_seconds = 0.0
                losses: list[float] = []
                curve: dict[str, float] = {}
                for target in budgets:
                    # Pretraining time excludes the intermediate probes.
                    begin, begin_cpu = time.perf_counter(), time.process_time()
                    while len(losses) < target:
                        index = rng.choice(
                            len(x_train_tensor), min(args.batch_size, len(x_train_tensor)), replace=False
                        )
                        losses.append(learner.step(x_train_tensor[index])["loss"])
                    pretrain_seconds += time.perf_counter() - begin
                    pretrain_cpu_seconds += time.process_time() - begin_cpu
                    f_train, f_test = embed(learner, x_train), embed(learner, x_test)
                    probe = linear_probe(f_train, y_train, f_test, y_test)
                    curve[str(target)] = round(probe.macro_f1, 4)
                probe_few = linear_probe(f_train[few], y_train[few], f_test, y_test)
                knn = knn_probe(f_train, y_train, f_test, y_test)
                entry = f"{name}/{dataset_name}"
                random_f1, supervised_f1 = random_init[key], supervised[baseline]
                results[entry] = {
                    "dataset": dataset_name,
                    "probe_macro_f1": round(probe.macro_f1, 4),
                    "random_init_macro_f1": round(random_f1, 4),
                    "supervised_10pct_macro_f1": round(supervised_f1, 4),
                    "pretrain_seconds": round(pretrain_seconds, 2),
                }
                details[entry] = {
                    "probe_accuracy": round(probe.accuracy, 4),
                    "probe_10pct_labels_macro_f1": round(probe_few.macro_f1, 4),
                    "knn_macro_f1": round(knn.macro_f1, 4),
                    "pretrain_cpu_seconds": round(pretrain_cpu_seconds, 2),
                    "probe_macro_f1_by_steps": curve,
                    "first_loss": round(losses[0], 4),
                    "final_loss": round(float(np.mean(losses[-5:])), 4),
                    "input": "summary features" if uses_features else f"windows {tuple(spec.shape)}",
                    "num_train": int(train.sum()),
                    "num_test": int(test.sum()),
                }
                rows.append(
                    {"entry": entry, **results[entry], "knn_macro_f1": details[entry]["knn_macro_f1"]}
                )
                print(
                    f"{entry}: probe {probe.macro_f1:.3f} random {random_f1:.3f} supervised10% {supervised_f1:.3f} "
                    f"({pretrain_seconds:.1f} s)",
                    flush=True,
                )
    print_table(
        rows,
        [
            "entry",
            "probe_macro_f1",
            "knn_macro_f1",
            "random_init_macro_f1",
            "supervised_10pct_macro_f1",
            "pretrain_seconds",
        ],
    )
    total = time.perf_counter() - started
    path = write_results(
        "methods_real",
        results,
        details=details,
        skipped=skipped,
        budget={
            "steps": args.steps,
            "batch_size": args.batch_size,
            "supervised_steps": args.supervised_steps,
            "probe_at_steps": budgets,
            "threads": 1,
        },
        total_seconds=round(total, 1),
        total_cpu_seconds=round(time.process_time() - started_cpu, 1),
        note="wall-clock seconds include waiting for CPU on a shared machine; cpu seconds are this process's",
    )
    plot_curves(results, details, Path(path).with_suffix(".png"))
    if not args.methods:  # a full run: the README's and docs' method tables follow it
        import json

        write_tables(json.loads(Path(path).read_text()))
    print(f"total {total:.0f} s wall, {time.process_time() - started_cpu:.0f} s CPU; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
