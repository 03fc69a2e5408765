"""Evaluate a pretrained encoder with a linear probe and a kNN probe on a held-out split.

Examples:
    robossl probe --checkpoint runs/pretrain/checkpoint.pt --data ../shared/data/har/actrectut
    robossl probe --checkpoint runs/dino/checkpoint.pt --data windows.npz --label-fraction 0.1
    robossl probe --checkpoint runs/byol/checkpoint.pt --data ../shared/data/terrain/borealtc --json out.json

The split holds out whole subjects / runs (``groups`` in the data): with 2-3 groups the last one is the
test set; with more, about 30 % of each class's runs. Prints accuracy and macro-F1 and writes them as JSON
(default ``probe.json`` next to the checkpoint).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

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
    if args.threads:
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        with threadpool_limits(args.threads):
            return _run(args)
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from robossl.eval.probes import knn_probe, linear_probe
    from robossl.eval.splits import held_out_split, label_subset
    from robossl.methods import InputSpec, Learner, build_method
    from robossl.methods.sources import Standardizer, load_source
    from robossl.online.checkpoint import load_checkpoint

    saved = load_checkpoint(args.checkpoint, map_location=args.device)
    spec = InputSpec.from_dict(saved["input_spec"])
    data = load_source(args.data, args.topic, args.task, spec.modality, args.classes)
    if data.labels is None:
        print(f"robossl probe: {args.data} has no labels; probing needs a labelled source")
        return 2
    if data.spec.shape != spec.shape:
        print(f"robossl probe: data samples are {data.spec.shape} but the checkpoint expects {spec.shape}")
        return 2
    method = build_method(saved["method"], spec, **saved["method_config"])
    learner = Learner(method, device=args.device)
    learner.load_state_dict(saved["learner"])
    windows = Standardizer.from_dict(saved["standardizer"])(data.windows)
    features = learner.embed(torch.from_numpy(windows)).numpy()
    train, test = held_out_split(data.labels, data.groups, args.test_fraction, args.seed)
    train_index = np.flatnonzero(train)[label_subset(data.labels[train], args.label_fraction, args.seed)]
    test_index = np.flatnonzero(test)
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
    }
    print(
        f"{'probe':8s} {'accuracy':>9s} {'macro-F1':>9s}  (train {linear.num_train}, test {linear.num_test})"
    )
    for name, value in (("linear", linear), ("knn", knn)):
        print(f"{name:8s} {value.accuracy:9.4f} {value.macro_f1:9.4f}")
    path = Path(args.json_path) if args.json_path else Path(args.checkpoint).with_name("probe.json")
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return 0
