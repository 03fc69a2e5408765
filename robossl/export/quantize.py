"""int8 quantisation of exported models with ONNX Runtime's quantisation tools.

Two flavours:

- **dynamic** (:func:`quantize_dynamic_int8`): weights stored as int8, activations quantised on the fly
  per batch. Needs no data; helps most for MatMul/Gemm-heavy models (MLPs, heads).
- **static** (:func:`quantize_static_int8`): weights and activations int8 with activation ranges calibrated
  on logged data fed through a :class:`ArrayCalibrationReader`. QDQ format, which ONNX Runtime's CPU
  kernels fuse into integer convolutions; usually the faster one for CNNs.

Both keep the robossl metadata of the fp32 model and record the quantisation in ``metadata.extra``. Measure
the accuracy change on held-out data with the model's own metric (``bench/edge.py`` does so per model).
"""

from __future__ import annotations

import contextlib
import os
import platform
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robossl.export.metadata import ExportMetadata
from robossl.export.onnx_export import write_metadata

CalibrationSample = np.ndarray | Mapping[str, np.ndarray]


@dataclass
class StaticQuantConfig:
    """Settings of static int8 quantisation (defaults suit x86 CPUs with VNNI and ARM)."""

    per_channel: bool = True  # one weight scale per output channel: better accuracy for CNNs
    # 7-bit weights. None = chosen for the CPU the model is quantised on (see choose_reduce_range); pass
    # True/False when the model will run on another CPU than the one quantising it.
    reduce_range: bool | None = None
    symmetric_activations: bool = False  # uint8 asymmetric activations suit ReLU outputs
    calibrate_method: str = "minmax"  # "minmax", "entropy" or "percentile"
    max_samples: int = 256  # calibration batches read from the data at most
    op_types: tuple[str, ...] = ()  # quantise only these ONNX op types (e.g. ("Conv",)); () = all supported
    exclude_nodes: tuple[str, ...] = ()  # ONNX node names kept in float (accuracy-sensitive layers)


_X86_MACHINES = frozenset({"x86_64", "amd64", "i386", "i686", "x86"})
# CPU flags (Linux /proc/cpuinfo names) with which ONNX Runtime's x86 int8 kernels multiply u8 x s8 in
# 32-bit accumulators. Without them (AVX2 / AVX-512 without VNNI) they use vpmaddubsw, whose 16-bit
# intermediate sums saturate with full 8-bit weights; 7-bit weights (reduce_range) cannot saturate.
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


def cpu_flags(cpuinfo_text: str) -> frozenset[str]:
    """The feature flags of the first processor in a Linux ``/proc/cpuinfo`` text (empty when none)."""
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def choose_reduce_range(machine: str | None = None, cpuinfo_text: str | None = None) -> tuple[bool, str]:
    """Whether static int8 weights should be 7-bit on this CPU, and why.

    Args:
        machine: ``platform.machine()`` of the CPU the model will run on (default: this one).
        cpuinfo_text: its ``/proc/cpuinfo`` (default: read on Linux; unreadable elsewhere).

    Returns:
        ``(reduce_range, reason)``: False on non-x86 CPUs (ARM's int8 dot products do not saturate) and on
        x86 with VNNI; True on x86 without VNNI, and on x86 whose flags cannot be read (the safe choice:
        7-bit weights cost a little resolution, saturation costs much more).
    """
    arch = (machine if machine is not None else platform.machine()).lower()
    if arch not in _X86_MACHINES:
        return False, f"{arch or 'unknown'} CPU: no u8s8 saturation, full 8-bit weights"
    if cpuinfo_text is None:
        try:
            cpuinfo_text = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo_text = ""
    flags = cpu_flags(cpuinfo_text)
    if not flags:
        return True, "x86 CPU whose flags could not be read: 7-bit weights avoid u8s8 saturation"
    found = sorted(flags & VNNI_FLAGS)
    if found:
        return False, f"x86 CPU with {found[0]}: full 8-bit weights"
    return True, "x86 CPU without VNNI: 7-bit weights avoid u8s8 saturation"


def _onnx_model_input_names(path: Path) -> list[str]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    initialisers = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in initialisers]


def _import_calibration_base() -> type:
    from onnxruntime.quantization import CalibrationDataReader

    return CalibrationDataReader


class ArrayCalibrationReader(_import_calibration_base()):  # type: ignore[misc]
    """Feeds logged data to ONNX Runtime's calibrator.

    Args:
        samples: batches for the model's inputs: arrays (single-input models) or dicts name -> array, each
            already normalised like inference input (float32, batched). Any iterable; read lazily.
        input_names: the model's input names.
        max_samples: stop after this many batches.

    Raises:
        ValueError: (while iterating) for a sample with NaN/Inf, a non-float32 dtype or wrong input names.
    """

    def __init__(
        self, samples: Iterable[CalibrationSample], input_names: list[str], max_samples: int = 256
    ) -> None:
        self._source = iter(samples)
        self._names = list(input_names)
        self._left = max_samples
        self.count = 0  # batches handed out so far

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._left <= 0:
            return None
        sample = next(self._source, None)
        if sample is None:
            return None
        self._left -= 1
        feeds = dict(sample) if isinstance(sample, Mapping) else {self._names[0]: sample}
        if sorted(feeds) != sorted(self._names):
            raise ValueError(f"calibration sample has inputs {sorted(feeds)}, the model takes {self._names}")
        for name, value in feeds.items():
            value = np.asarray(value)
            if value.dtype != np.float32:
                raise ValueError(f"calibration input {name!r} is {value.dtype}; give normalised float32 data")
            if not np.isfinite(value).all():
                raise ValueError(
                    f"calibration input {name!r} (sample {self.count}) contains NaN/Inf; drop it"
                )
            feeds[name] = np.ascontiguousarray(value)
        self.count += 1
        return feeds

    def read_all(self) -> list[dict[str, np.ndarray]]:
        """Every remaining batch, validated."""
        items = []
        while (item := self.get_next()) is not None:
            items.append(item)
        return items


def _read_metadata(path: Path) -> ExportMetadata | None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return ExportMetadata.from_props({p.key: p.value for p in model.metadata_props})


def _restore_metadata(source: Path, target: Path, how: str, **extra: str) -> None:
    meta = _read_metadata(source)
    if meta is not None:
        meta.extra = {**meta.extra, "quantization": how, **extra}
        write_metadata(target, meta)


@contextlib.contextmanager
def _working_directory(folder: Path) -> Iterator[None]:
    """Run ONNX Runtime's quantisation tools inside ``folder``: they write scratch files (symbolic shape
    inference models, uuid-named external-data files) into the current directory and leave some behind.
    Changes the process's working directory, so quantise from one thread at a time."""
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def _preprocess(source: Path, scratch: Path) -> Path:
    """Shape inference + graph optimisation that ONNX Runtime recommends before quantising."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = scratch / "prepared.onnx"
    # Symbolic shape inference fails on some graphs (e.g. Resize with scales); plain ONNX inference then.
    for skip_symbolic in (False, True):
        try:
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=skip_symbolic)
            return prepared
        except Exception:  # ORT's pre-processing raises bare Exception; the next option may still work
            continue
    return source


def quantize_dynamic_int8(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    reduce_range: bool | None = None,
) -> Path:
    """Dynamic int8 quantisation (int8 weights, activations quantised at run time) -> ``target``.

    ``reduce_range``: 7-bit weights; None chooses for this CPU (:func:`choose_reduce_range`), as for static.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if reduce_range is None:
        reduce_range, range_reason = choose_reduce_range()
    else:
        range_reason = "set explicitly"
    src, dst = Path(source).resolve(), Path(target).resolve()
    if not src.is_file():
        raise FileNotFoundError(f"ONNX model {src} does not exist")
    dst.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix=".quant.", dir=dst.parent) as scratch,
        _working_directory(Path(scratch)),
    ):
        prepared = _preprocess(src, Path(scratch))
        quantize_dynamic(str(prepared), str(dst), weight_type=QuantType.QInt8, reduce_range=reduce_range)
    _restore_metadata(
        src,
        dst,
        "int8-dynamic (weights QInt8, activations per batch)",
        int8_reduce_range=str(reduce_range).lower(),
        int8_reduce_range_reason=range_reason,
    )
    return dst


def quantize_static_int8(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    calibration: Iterable[CalibrationSample],
    config: StaticQuantConfig | None = None,
) -> Path:
    """Static int8 quantisation (QDQ) calibrated on ``calibration`` batches -> ``target``.

    Args:
        source: fp32 ``.onnx`` file.
        target: output file.
        calibration: logged data, normalised like inference input (see :class:`ArrayCalibrationReader`).
            A few dozen representative frames/windows are enough; more than ``config.max_samples`` batches
            are not read.
        config: quantisation settings. With ``reduce_range=None`` the weight range is chosen for the CPU
            running this function (:func:`choose_reduce_range`); the choice and its reason are stored in
            ``metadata.extra["int8_reduce_range"]`` / ``["int8_reduce_range_reason"]``.

    Raises:
        ValueError: when the calibration data is empty or invalid.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    cfg = config or StaticQuantConfig()
    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    if cfg.calibrate_method not in methods:
        raise ValueError(f"calibrate_method must be one of {sorted(methods)}, got {cfg.calibrate_method!r}")
    if cfg.reduce_range is None:
        reduce_range, range_reason = choose_reduce_range()
    else:
        reduce_range, range_reason = cfg.reduce_range, "set explicitly"
    src, dst = Path(source).resolve(), Path(target).resolve()
    if not src.is_file():
        raise FileNotFoundError(f"ONNX model {src} does not exist")
    reader = ArrayCalibrationReader(calibration, _onnx_model_input_names(src), cfg.max_samples)
    # Materialise so an empty source is reported clearly instead of as a calibrator crash.
    batches = reader.read_all()
    if not batches:
        raise ValueError("static quantisation needs calibration data; got an empty iterable")
    dst.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix=".quant.", dir=dst.parent) as scratch,
        _working_directory(Path(scratch)),
    ):
        prepared = _preprocess(src, Path(scratch))
        quantize_static(
            str(prepared),
            str(dst),
            ArrayCalibrationReader(batches, reader._names, len(batches)),
            quant_format=QuantFormat.QDQ,
            per_channel=cfg.per_channel,
            reduce_range=reduce_range,
            activation_type=QuantType.QInt8 if cfg.symmetric_activations else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=methods[cfg.calibrate_method],
            op_types_to_quantize=list(cfg.op_types) or None,
            nodes_to_exclude=list(cfg.exclude_nodes) or None,
            extra_options={"ActivationSymmetric": cfg.symmetric_activations},
        )
    _restore_metadata(
        src,
        dst,
        f"int8-static QDQ ({cfg.calibrate_method}, {len(batches)} calibration batches)",
        int8_reduce_range=str(reduce_range).lower(),
        int8_reduce_range_reason=range_reason,
    )
    return dst
