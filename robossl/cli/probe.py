"""Evaluate a pretrained encoder with a linear probe and a kNN probe on a held-out split.

Examples:
    robossl probe --checkpoint runs/pretrain/checkpoint.pt --data ../shared/data/har/actrectut
    robossl probe --checkpoint runs/dino/checkpoint.pt --data windows.npz --label-fraction 0.1
    robossl probe --checkpoint runs/byol/checkpoint.pt --data ../shared/data/terrain/borealtc --json out.json

The split holds out whole subjects / runs (``groups`` in the data): with 2-3 groups the last one is the
test set; with more, about 30 % of each class's runs. Prints accuracy and macro-F1 and writes them as JSON
(default ``probe.json`` next to the checkpoint). When the test split holds classes that training lacks
(no probe can predict them), a warning names them and macro-F1 over the trained classes is printed and
saved (``macro_f1_trained_classes``) beside the usual scores.

Bad input (a missing, damaged or non-pretrain checkpoint, an unlabelled or unreadable source, a split
that cannot be made) ends with ``robossl probe: <what and what to do>`` and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from robossl.cli import run_data_verb
from robossl.errors import DataSourceError

if TYPE_CHECKING:
    import numpy as np

    from robossl.data.pretrain_sources import WindowSet

HELP = "linear + kNN probe of a pretrained checkpoint (accuracy, macro-F1, JSON)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="checkpoint written by robossl pretrain")
    parser.add_argument("--data", required=True, help="labelled SOURCE (.npz with labels, or dataset folder)")
    parser.add_argument("--topic", help="bag topic (bags carry no labels; only useful with --help)")
    parser.add_argument("--task", default="gesture", help="ActRecTut task: gesture or walk")
    parser.add_argument("--classes", nargs="+", metavar="CLASS", help="BorealTC class folders (default: all)")
    parser.add_argument("--label-fraction", type=float, default=1.0, help="share of training labels used")
    parser.add_argument(
        "--test-fraction", type=float, default=0.3, help="share of runs held out (many groups)"
    )
    parser.add_argument("--k", type=int, default=20, help="neighbours of the kNN probe")
    parser.add_argument("--seed", type=int, default=0, help="split and label-subset seed")
    parser.add_argument(
        "--threads", type=int, help="CPU threads for torch and BLAS (default: library default)"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--json", dest="json_path", help="output JSON (default: <checkpoint dir>/probe.json)")


def run(args: argparse.Namespace) -> int:
    return run_data_verb("probe", args.threads, lambda: _run(args))


def _option_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the numeric options, or None."""
    if not 0 < args.label_fraction <= 1:
        return f"--label-fraction must be in (0, 1], got {args.label_fraction}"
    if not 0 < args.test_fraction < 1:
        return f"--test-fraction must be in (0, 1), got {args.test_fraction}"
    if args.k < 1:
        return f"--k must be >= 1, got {args.k}"
    return None


def _split(data: WindowSet, args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training samples (after ``--label-fraction``) and of the held-out test samples."""
    import numpy as np

    from robossl.eval.splits import held_out_split, label_subset

    assert data.labels is not None
    if data.groups is not None and len(np.unique(data.groups)) < 2:
        raise DataSourceError(
            f"{args.data}: 'groups' holds a single subject / run ({int(data.groups[0])}), so nothing can be held "
            "out; give the windows of each subject or run its own group id, or remove 'groups' for a "
            "class-stratified random split of windows"
        )
    train, test = held_out_split(data.labels, data.groups, args.test_fraction, args.seed)
    if not test.any():
        raise DataSourceError(
            f"{args.data}: the held-out split is empty (every class has a single sample and no 'groups'); "
            "add 'groups' (subject / run ids) or more labelled samples"
        )
    classes = np.unique(data.labels[train])
    if classes.size < 2:
        raise DataSourceError(
            f"{args.data}: after holding out the test split, training holds only class(es) {classes.tolist()}; "
            "a probe needs >= 2: add labelled runs of other classes, or change --seed / --test-fraction"
        )
    train_index = np.flatnonzero(train)[label_subset(data.labels[train], args.label_fraction, args.seed)]
    return train_index, np.flatnonzero(test)


def _warn_unseen(data: WindowSet, unseen: np.ndarray, test_labels: np.ndarray) -> None:
    """Warn that the test split holds classes training lacks: every probe scores them as errors."""
    names = ", ".join(
        f"{c} ({data.class_names[c]})" if c < len(data.class_names) else str(c) for c in unseen.tolist()
    )
    count = int(sum((test_labels == c).sum() for c in unseen))
    print(
        f"warning: the test split holds {unseen.size} class{'es' if unseen.size != 1 else ''} that training "
        f"lacks: {names} ({count} of {test_labels.size} test samples). No probe can predict them, so they "
        "count as errors in accuracy and macro-F1; 'F1-trained' is macro-F1 over the classes training has. "
        "Hold out groups that leave every class in training (--seed, --test-fraction) or drop those classes.",
        file=sys.stderr,
    )


def _run(args: argparse.Namespace) -> int:
    import torch

    from robossl.data.pretrain_sources import Standardizer, load_source
    from robossl.eval.probes import knn_probe, linear_probe, unseen_classes
    from robossl.methods.pretrain_checkpoint import (
        read_pretrain_checkpoint,
        restore_learner,
        saved_input_spec,
    )

    problem = _option_problem(args)
    if problem:
        print(f"robossl probe: {problem}", file=sys.stderr)
        return 2
    saved = read_pretrain_checkpoint(args.checkpoint, map_location=args.device)
    spec = saved_input_spec(args.checkpoint, saved)
    data = load_source(args.data, args.topic, args.task, spec.modality, args.classes)
    if data.labels is None:
        raise DataSourceError(
            f"{args.data} has no labels; probing needs a labelled source: an .npz with 'labels' (N,) int "
            "class ids (and 'groups' (N,) subject / run ids), or an ActRecTut / BorealTC folder"
        )
    if data.spec.shape != spec.shape:
        raise DataSourceError(
            f"{args.data}: samples are {data.spec.shape} but checkpoint {args.checkpoint} was pretrained on "
            f"{spec.shape}; probe with data cut like the pretraining data"
        )
    learner = restore_learner(args.checkpoint, saved, args.device)
    windows = Standardizer.from_dict(saved["standardizer"])(data.windows)
    features = learner.embed(torch.from_numpy(windows)).numpy()
    train_index, test_index = _split(data, args)
    unseen = unseen_classes(data.labels[train_index], data.labels[test_index])
    if unseen.size:
        _warn_unseen(data, unseen, data.labels[test_index])
    linear = linear_probe(
        features[train_index], data.labels[train_index], features[test_index], data.labels[test_index]
    )
    knn = knn_probe(
        features[train_index], data.labels[train_index], features[test_index], data.labels[test_index], args.k
    )
    result = {
        "checkpoint": str(args.checkpoint),
        "method": saved["method"],
        "data": str(args.data),
        "label_fraction": args.label_fraction,
        "linear": linear.to_dict(),
        "knn": knn.to_dict(),
        "unseen_test_classes": unseen.tolist(),
    }
    extra = f" {'F1-trained':>10s}" if unseen.size else ""
    print(
        f"{'probe':8s} {'accuracy':>9s} {'macro-F1':>9s}{extra}  (train {linear.num_train}, test {linear.num_test})"
    )
    for name, value in (("linear", linear), ("knn", knn)):
        trained = value.macro_f1_trained_classes
        extra = (f" {trained:10.4f}" if trained is not None else f" {'n/a':>10s}") if unseen.size else ""
        print(f"{name:8s} {value.accuracy:9.4f} {value.macro_f1:9.4f}{extra}")
    path = Path(args.json_path) if args.json_path else Path(args.checkpoint).with_name("probe.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return 0
