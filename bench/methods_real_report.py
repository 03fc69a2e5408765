"""The report of bench/methods_real.py: per-seed scores -> means with 95 % intervals, the README / docs
method table and the learning-curve plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robossl.eval.intervals import t_interval

MARGIN = 0.05  # a method "beats" its random-init encoder by this many macro-F1 points, intervals apart


def architecture_key(method_name: str) -> str:
    """Methods that share this key have the same encoder architecture (and the same random init)."""
    return {"tera": "frame_transformer", "tjepa": "feature_tokens", "collossl": "per_device_imu_cnn"}.get(
        method_name, "imu_cnn"
    )


def interval(values: list[float]) -> dict[str, object]:
    """Mean, half-width of the 95 % t-interval of the mean (None with one value) and the values."""
    mean = float(np.mean(values))
    half = round(t_interval(values).half_width, 4) if len(values) > 1 else None
    return {"mean": round(mean, 4), "ci95": half, "by_seed": [round(v, 4) for v in values]}


def apart(better: dict, worse: dict, margin: float = 0.0) -> bool:
    """``better``'s mean exceeds ``worse``'s by ``margin`` and their 95 % intervals do not overlap."""
    hb, hw = better["ci95"] or 0.0, worse["ci95"] or 0.0
    return better["mean"] - worse["mean"] >= margin and better["mean"] - hb > worse["mean"] + hw


# Method set II (issue 18) -> the method each one extends; reported against it on the same seeds and budget.
BASE_METHODS = {
    "groco": "simclr",
    "bss": "simclr",
    "sie": "vicreg",
    "mugs": "dino",
    "cluster_dino": "dino",
    "halp": "moco",
    "scatsimclr": "simclr",
    "masked_image": "simclr",
}


def add_versus_base(results: dict) -> dict:
    """Add ``versus_base`` to every method entry whose base method is in ``results`` (same dataset): the
    per-seed paired difference of the probe macro-F1 (mean, 95 % interval, values) and whether the
    method's interval lies above the base's. Returns ``results``."""
    for key, entry in results.items():
        if "dataset" not in entry:
            continue
        method, dataset = key.split("/")
        base = BASE_METHODS.get(method)
        base_entry = results.get(f"{base}/{dataset}")
        if base is None or base_entry is None:
            continue
        mine, theirs = entry["probe_macro_f1"]["by_seed"], base_entry["probe_macro_f1"]["by_seed"]
        if len(mine) != len(theirs):
            continue
        entry["versus_base"] = {
            "base": base,
            "paired_difference": interval([a - b for a, b in zip(mine, theirs)]),
            "beats_base": apart(entry["probe_macro_f1"], base_entry["probe_macro_f1"]),
        }
    return results


def aggregate(runs: list[dict], datasets: dict[str, tuple[str, ...]], methods: list[str]) -> dict:
    """Per-seed flat scores -> results with mean / interval per figure (dataset figure = headline mean)."""

    def figure(prefix: str, metric: str, splits: tuple[str, ...]) -> dict | None:
        per_seed = []
        for run in runs:
            values = [run["scores"].get(f"{prefix}/{s}/{metric}") for s in splits]
            if any(v is None for v in values):
                return None
            per_seed.append(float(np.mean(values)))
        return interval(per_seed)

    results: dict[str, dict] = {}
    for dataset, headline in datasets.items():
        base = f"baselines/{dataset}"
        names = (
            "handcrafted_lr",
            "handcrafted_lr_10pct",
            "handcrafted_boosting",
            "supervised_100pct",
            "supervised_10pct",
        )
        baselines = {f"{n}_macro_f1": figure(base, n, headline) for n in names}
        results[base] = baselines
        best: tuple[str, dict] | None = None
        for method_name in methods:
            key = f"{method_name}/{dataset}"
            probe = figure(key, "probe", headline)
            if probe is None:
                continue
            random = figure(f"random_init:{architecture_key(method_name)}/{dataset}", "probe", headline)
            few = figure(key, "probe_10pct", headline)
            assert random is not None and few is not None
            results[key] = {
                "dataset": dataset,
                "probe_macro_f1": probe,
                "random_init_macro_f1": random,
                "beats_random_init": apart(probe, random, MARGIN),
                "probe_10pct_macro_f1": few,
                "random_init_10pct_macro_f1": figure(
                    f"random_init:{architecture_key(method_name)}/{dataset}", "probe_10pct", headline
                ),
                "knn_macro_f1": figure(key, "knn", headline),
            }
            tuned = figure(key, "finetune_10pct", headline)  # None unless the method was fine-tuned
            if tuned is not None:
                results[key]["finetune_10pct_macro_f1"] = tuned
            for label, value in ((method_name, few), (f"{method_name} (fine-tuned)", tuned)):
                if value is not None and (best is None or value["mean"] > best[1]["mean"]):
                    best = (label, value)
        if best is not None and baselines["supervised_10pct_macro_f1"] is not None:
            supervised = baselines["supervised_10pct_macro_f1"]
            results[f"summary/{dataset}"] = {
                "best_ssl_10pct_method": best[0],
                "best_ssl_10pct_macro_f1": best[1],
                "supervised_10pct_macro_f1": supervised,
                "best_ssl_10pct_beats_supervised_10pct": apart(best[1], supervised),
                "methods_beating_random_init": sorted(
                    k.split("/")[0]
                    for k, v in results.items()
                    if v.get("dataset") == dataset and v["beats_random_init"]
                ),
            }
    return add_versus_base(results)


def details_of(runs: list[dict], steps: list[int]) -> dict:
    """Every split's figures (incl. within-subject and the learning curve) with mean / interval."""
    keys = sorted({k for run in runs for k in run["scores"]})
    details: dict[str, dict] = {}
    for key in keys:
        values = [run["scores"][key] for run in runs if key in run["scores"]]
        details[key] = interval(values)
    details["steps"] = steps  # type: ignore[assignment]
    for run in runs:
        for key, info in run["info"].items():
            details.setdefault(f"{key}/training", {})[f"seed{run['seed']}"] = info
    return details


DATASET_TITLES = {
    "actrectut_gesture": "ActRecTut gesture (cross-subject, both directions)",
    "borealtc": "BorealTC (held-out runs)",
}
TABLE_FILES = ("README.md", "docs/methods.md")
TABLE_START, TABLE_END = "<!-- METHOD TABLE START -->", "<!-- METHOD TABLE END -->"


def format_interval(entry: dict | None) -> str:
    if entry is None:
        return "n/a"
    return f"{entry['mean']:.3f}" + (f" ± {entry['ci95']:.3f}" if entry["ci95"] is not None else "")


def markdown_table(report: dict) -> str:
    """The method table of README.md and docs/methods.md from a methods_real.json report."""
    results, budget = report["results"], report["budget"]
    datasets = [d for d in DATASET_TITLES if f"baselines/{d}" in results]
    lines = []
    for dataset in datasets:
        lines += [
            f"**{DATASET_TITLES[dataset]}**, macro-F1, mean ± 95 % interval over {len(budget['seeds'])} seeds:",
            "",
            "| method | probe | random init | beats random by >= 5 points | probe, 10 % labels | kNN |",
            "|---|---|---|---|---|---|",
        ]
        for key, entry in sorted(results.items()):
            if entry.get("dataset") != dataset:
                continue
            lines.append(
                f"| `{key.split('/')[0]}` | {format_interval(entry['probe_macro_f1'])} | {format_interval(entry['random_init_macro_f1'])} | "
                f"{'yes' if entry['beats_random_init'] else 'no'} | {format_interval(entry['probe_10pct_macro_f1'])} | "
                f"{format_interval(entry['knn_macro_f1'])} |"
            )
        base = results[f"baselines/{dataset}"]
        lines.append(
            f"| *hand-crafted + logistic regression* | {format_interval(base['handcrafted_lr_macro_f1'])} | | | "
            f"{format_interval(base['handcrafted_lr_10pct_macro_f1'])} | |"
        )
        lines.append(
            f"| *hand-crafted + gradient boosting* | {format_interval(base['handcrafted_boosting_macro_f1'])} | | | | |"
        )
        lines.append(
            f"| *CNN from scratch, supervised* | {format_interval(base['supervised_100pct_macro_f1'])} | | | "
            f"{format_interval(base['supervised_10pct_macro_f1'])} | |"
        )
        lines.append("")
    lines.append(
        f"Budget: {budget['steps']} pretraining steps x {budget['batch_size']} windows (probed also after "
        f"{', '.join(map(str, budget['probe_at_steps'][:-1]))}), supervised CNN {budget['supervised_steps']} steps; "
        f"seeds {budget['seeds']}; whole run {report['total_seconds']} s wall on {report['machine']['cores']} cores "
        f"({report['machine']['cpu']}, commit {report['commit']}, {report['date']}). "
        "T-JEPA's input is per-window summary statistics. Learning curves: `bench/results/methods_real.png`."
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


def plot_curves(report: dict, path: Path) -> None:
    """One panel per dataset: headline probe macro-F1 (seed mean) against pretraining steps (0 = random
    init), one line per method, with the hand-crafted and supervised baselines as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results, details, steps = report["results"], report["details"], report["budget"]["probe_at_steps"]
    datasets = [d for d in DATASET_TITLES if f"baselines/{d}" in results]
    names = sorted({k.split("/")[0] for k, v in results.items() if "dataset" in v})
    colours = plt.get_cmap("tab20").colors
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 4.8), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        headline = report["headline_splits"][dataset]
        for i, name in enumerate(names):
            entry = results.get(f"{name}/{dataset}")
            if entry is None:
                continue
            curve = [entry["random_init_macro_f1"]["mean"]]
            for s in steps:
                suffix = "" if s == steps[-1] else f"@{s}"
                curve.append(
                    float(np.mean([details[f"{name}/{dataset}/{h}/probe{suffix}"]["mean"] for h in headline]))
                )
            ax.plot([0, *steps], curve, color=colours[(2 * i) % 20], marker="os^Dv"[i % 5], label=name)
        base = results[f"baselines/{dataset}"]
        for key, style, label in (
            ("handcrafted_lr_macro_f1", ":", "hand-crafted + LR"),
            ("supervised_10pct_macro_f1", "--", "supervised CNN, 10 % labels"),
        ):
            if base.get(key):
                ax.axhline(base[key]["mean"], color="black", linestyle=style, label=label)
        ax.set_title(DATASET_TITLES[dataset], fontsize=10)
        ax.set_xlabel("pretraining steps (0 = random init)")
        ax.set_ylabel("linear-probe macro-F1 (held out, seed mean)")
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.82, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
