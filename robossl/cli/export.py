"""Export a trained model (a robossl checkpoint) to one ONNX file for ONNX Runtime on the robot.

Examples:
    robossl export --checkpoint runs/depth.pt --out depth.onnx
    robossl export --checkpoint runs/terrain_seg.pt --out seg.onnx --model-kind terrain.segmentation
    robossl export --checkpoint enc.pt --out enc.onnx --input-shape 3,96,96 --quantize dynamic
    robossl export --checkpoint runs/depth.pt --out depth.onnx --quantize static --calibration frames.npy
    robossl export --checkpoint emb.pt --out emb.onnx --quantize static --calibration clips.npy --int8-ops Conv
    robossl export --checkpoint enc.pt --out enc.onnx --quantize static --calibration w.npy --reduce-range
    robossl export --list-kinds

The output is a single .onnx file (no .onnx.data) with a dynamic batch axis and metadata inside (input
shapes, normalisation, class names, checkpoint SHA-256, training and export dates, robossl version). The
export is checked against torch on an example input (max abs difference <= --tolerance). With --quantize an
int8 copy is written next to it as <out>.int8.onnx; static quantisation is calibrated on --calibration, a
.npy array (N, ...) of logged, already normalised inputs (one sample per row). Static int8 weights are
7-bit on x86 CPUs without VNNI (8-bit dot products saturate there) and 8-bit elsewhere, detected on the
exporting CPU; --reduce-range / --no-reduce-range chooses for another target CPU. The choice is stored in
the model's metadata.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "export a checkpoint to a single-file ONNX model (optionally int8)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, help="robossl checkpoint file (save_checkpoint format)")
    parser.add_argument("--out", type=Path, help="output .onnx file")
    parser.add_argument(
        "--model-kind", default=None, help="model kind (default: detected from the checkpoint)"
    )
    parser.add_argument("--list-kinds", action="store_true", help="list the known model kinds and exit")
    parser.add_argument(
        "--input-shape",
        default=None,
        help="input shape without batch, e.g. 1,128,160 (default: from checkpoint)",
    )
    parser.add_argument(
        "--static-batch", action="store_true", help="fix the batch axis to the example's size"
    )
    parser.add_argument("--exporter", choices=("auto", "dynamo", "legacy"), default="auto")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max abs ONNX-vs-torch difference")
    parser.add_argument("--quantize", choices=("none", "dynamic", "static"), default="none")
    parser.add_argument("--calibration", type=Path, default=None, help=".npy of normalised inputs (static)")
    parser.add_argument(
        "--int8-ops",
        default="",
        help="static: quantise only these op types, e.g. Conv (default: all supported)",
    )
    parser.add_argument(
        "--reduce-range",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="int8: 7-bit weights (needed on x86 CPUs without VNNI). Default: chosen for this CPU; "
        "set it when the model will run on another CPU",
    )


def _parse_shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(p) for p in text.replace("x", ",").split(",") if p.strip())
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise ValueError(f"--input-shape must be positive integers like 1,128,160, got {text!r}")
    return shape


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from robossl.export.complexity import count_macs_onnx, count_parameters
    from robossl.export.kinds import available_kinds, load_deployable
    from robossl.export.onnx_export import export_onnx

    if args.list_kinds:
        for name, kind in sorted(available_kinds().items()):
            print(f"{name:32s} {kind.description}")
        return 0
    if args.checkpoint is None or args.out is None:
        print("robossl export: --checkpoint and --out are required (or --list-kinds)", file=sys.stderr)
        return 2
    if args.quantize == "static" and args.calibration is None:
        print("robossl export: --quantize static needs --calibration FILE.npy", file=sys.stderr)
        return 2
    steps = ["load checkpoint", "export + parity check"] + (
        [f"int8 {args.quantize}"] if args.quantize != "none" else []
    )
    progress = tqdm(total=len(steps), desc="export", unit="step", file=sys.stderr)
    try:
        progress.set_postfix_str(steps[0])
        deployable = load_deployable(args.checkpoint, args.model_kind, _parse_shape(args.input_shape))
        progress.update()
        progress.set_postfix_str(steps[1])
        report = export_onnx(
            deployable.module,
            deployable.example_inputs,
            args.out,
            deployable.metadata,
            dynamic_batch=not args.static_batch,
            exporter=args.exporter,
            tolerance=args.tolerance,
        )
        progress.update()
        int8_path = None
        if args.quantize != "none":
            progress.set_postfix_str(steps[2])
            int8_path = _quantize(args, report.path)
            progress.update()
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        progress.close()
        print(f"robossl export: {exc}", file=sys.stderr)
        return 1
    progress.close()
    meta = report.metadata
    macs = count_macs_onnx(report.path)
    print(f"model kind   {meta.model_kind}")
    for spec in meta.inputs:
        print(f"input        {spec.name} {_shape(spec.shape)} {spec.dtype}  {spec.description}")
    for spec in meta.outputs:
        print(f"output       {spec.name} {_shape(spec.shape)} {spec.dtype}  {spec.description}")
    if meta.class_names:
        print(f"classes      {', '.join(meta.class_names)}")
    print(f"parameters   {count_parameters(deployable.module):,}")
    print(f"MACs (B=1)   {macs.total:,}")
    print(f"parity       max |onnx - torch| = {report.max_abs_diff:.2e} ({report.exporter} exporter)")
    print(f"checkpoint   sha256 {meta.checkpoint_sha256[:16]}..., trained {meta.trained_at}")
    print(f"wrote        {report.path} ({report.path.stat().st_size / 1e6:.2f} MB)")
    if int8_path is not None:
        print(f"wrote        {int8_path} ({int8_path.stat().st_size / 1e6:.2f} MB, int8 {args.quantize})")
    return 0


def _quantize(args: argparse.Namespace, fp32_path: Path) -> Path:
    import numpy as np

    from robossl.export.quantize import StaticQuantConfig, quantize_dynamic_int8, quantize_static_int8

    target = fp32_path.with_suffix(".int8.onnx")
    if args.quantize == "dynamic":
        return quantize_dynamic_int8(fp32_path, target, args.reduce_range)
    data = np.load(args.calibration)
    if not isinstance(data, np.ndarray) or data.ndim < 2:
        raise ValueError(f"{args.calibration} must hold one (N, ...) array of normalised inputs")
    samples = (data[i : i + 1].astype(np.float32) for i in range(len(data)))
    ops = tuple(op.strip() for op in args.int8_ops.split(",") if op.strip())
    config = StaticQuantConfig(op_types=ops, reduce_range=args.reduce_range)
    return quantize_static_int8(fp32_path, target, samples, config)


def _shape(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("B" if d is None else str(d) for d in shape) + ")"
