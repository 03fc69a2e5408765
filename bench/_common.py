"""The bench harness: lock, machine/date/commit header, results JSON, and the table of declared targets.

A benchmark is its measurement plus a list of :class:`Target` s::

    with bench_lock():                       # timing sections: no other benchmark times meanwhile
        results = measure()
    targets = [Target("ORT fp32 / torch speedup", results["speedup"], ">=", 1.5, "issue #10")]
    print_targets(targets)                   # one row per target: value, op, target, ratio, met
    write_results("edge", results, targets=targets)

:func:`write_results` writes ``bench/results/<name>.json`` as ``{"benchmark", "machine", "date", "commit",
"results", "targets": {name: {"value", "op", "target", "ratio", "met", "source"}}, ...}``.
Run speed benchmarks one at a time: ``flock /tmp/robossl-bench.lock python bench/<name>.py`` (the lock is
taken again inside, unless the parent process is that ``flock``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
BENCH_LOCK = Path("/tmp/robossl-bench.lock")
_OPS = (">", ">=", "<", "<=", "==")


@contextlib.contextmanager
def bench_lock(path: Path = BENCH_LOCK) -> Iterator[None]:
    """Hold the shared bench lock (unless our parent is ``flock`` on it already, which would deadlock)."""
    try:
        parent = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().split(b"\0")
    except OSError:
        parent = []
    if parent and parent[0].endswith(b"flock") and str(path).encode() in parent:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def rerun_in_sandbox() -> None:
    """Re-execute this script inside ``robossl-sandbox`` (a private network namespace) unless already there.

    ROS 2 benches start DDS; inside the sandbox it can only reach loopback.
    """
    from robossl.netsafe import is_private_netns

    if not is_private_netns():
        argv = [sys.executable, "-m", "robossl.netsafe.sandbox", "--", sys.executable, *sys.argv]
        os.execv(sys.executable, argv)


@dataclass(frozen=True)
class Target:
    """One acceptance target of a benchmark: ``value op threshold`` (e.g. p99 latency <= 60 ms)."""

    name: str  # what is measured, with its unit where it has one
    value: float | None  # the measurement (None: not measured in this run: "n/a", neither met nor missed)
    op: str  # ">=" / ">" (higher is better), "<=" / "<" (lower is better) or "==" (exact, e.g. zero drops)
    threshold: float  # the target value
    source: str = ""  # where the target comes from, e.g. "issue #7"
    # more about the value, added to its JSON entry (e.g. the interval a bound comes from, and its verdict)
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"target {self.name!r}: op must be one of {_OPS}, got {self.op!r}")
        clash = sorted(set(self.details) & {"value", "op", "target", "ratio", "met", "source"})
        if clash:
            raise ValueError(
                f"target {self.name!r}: details may not replace the entry's own keys {clash}; rename them"
            )

    @property
    def met(self) -> bool | None:
        """Whether the value meets the target; None when it was not measured."""
        if self.value is None:
            return None
        compare = {
            ">": self.value > self.threshold,
            ">=": self.value >= self.threshold,
            "<": self.value < self.threshold,
            "<=": self.value <= self.threshold,
            "==": self.value == self.threshold,
        }
        return compare[self.op]

    @property
    def ratio(self) -> float | None:
        """``value / threshold`` (None when unmeasured or the threshold is 0)."""
        if self.value is None or self.threshold == 0:
            return None
        return self.value / self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "op": self.op,
            "target": self.threshold,
            "ratio": self.ratio,
            "met": self.met,
            "source": self.source,
            **self.details,
        }


def targets_json(targets: Sequence[Target]) -> dict[str, dict[str, Any]]:
    """``{name: {"value", "op", "target", "ratio", "met", "source"}}``; names must be unique."""
    names = [t.name for t in targets]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"target names must be unique; repeated: {repeated}")
    return {t.name: t.as_dict() for t in targets}


def target_rows(targets: Sequence[Target]) -> list[dict[str, Any]]:
    """Rows for :func:`print_table`: target, value, op, threshold, ratio, met (``yes`` / ``NO``)."""
    return [
        {
            "target": t.name,
            "value": "-" if t.value is None else t.value,
            "op": t.op,
            "threshold": t.threshold,
            "ratio": "-" if t.ratio is None else t.ratio,
            "met": {True: "yes", False: "NO", None: "n/a"}[t.met],
        }
        for t in targets
    ]


def print_targets(targets: Sequence[Target]) -> None:
    """Print the targets as a table, with a line counting the met ones."""
    print()
    print_table(target_rows(targets))
    measured = [t for t in targets if t.met is not None]
    print(
        f"targets met: {sum(bool(t.met) for t in measured)}/{len(measured)} measured ({len(targets)} declared)"
    )


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "hostname": platform.node(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def commit() -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=10,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "") if sha else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def header(name: str) -> dict[str, Any]:
    """``{"benchmark", "machine", "date", "commit"}``: what every results file starts with."""
    return {
        "benchmark": name,
        "machine": machine(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit(),
    }


def write_results(
    name: str,
    results: dict[str, Any],
    targets: Sequence[Target] = (),
    results_dir: Path | None = None,
    **extra: Any,
) -> Path:
    """Write ``<results_dir or bench/results>/<name>.json`` (header, results, targets, extra) and return its path.

    ``targets`` are :class:`Target` s; a list of hand-written entries (benches not yet declaring targets) is
    written as given.
    """
    folder = RESULTS_DIR if results_dir is None else results_dir
    folder.mkdir(parents=True, exist_ok=True)
    payload = {**header(name), "results": results, **extra}
    if targets:
        declared = all(isinstance(t, Target) for t in targets)
        payload["targets"] = targets_json(targets) if declared else list(targets)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    return path


def print_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> None:
    """Print ``rows`` as an aligned text table (floats with 4 significant digits)."""
    if not rows:
        print("(no rows)")
        return
    columns = columns or list(rows[0])

    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    widths = {c: max(len(c), *(len(fmt(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for r in rows:
        print("  ".join(fmt(r.get(c, "")).ljust(widths[c]) for c in columns))
