"""`robossl demo` end to end: real node processes over loopback DDS, a real bag, a report that loads in
headless Chromium, numbers that depend on the run, and a clean Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.sim.browser import chromium_path, probe_html

# Pretraining is tested per stage (tests/sim/test_*_stage*.py); here the nodes start from scratch for speed.
SHORT = ["--drone-seconds", "12", "--rover-seconds", "20", "--har-seconds", "20", "--no-pretrain"]


def _demo(out: Path, seed: int, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "robossl.cli.main", "demo", "--seed", str(seed), "--out", str(out), *SHORT, *extra],
        capture_output=True, text=True, timeout=400,
    )  # fmt: skip


def _run_folder(out: Path) -> Path:
    runs = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(runs) == 1, runs
    return runs[0]


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.skipif(
    chromium_path() is None, reason="chromium not installed (.ci/run installs Debian's chromium)"
)
def test_demo_report_loads_every_figure_and_numbers_change_with_the_seed(tmp_path: Path) -> None:
    out = tmp_path / "seed1"
    proc = _demo(out, 1)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = _run_folder(out)
    summary = json.loads((run / "summary.json").read_text())
    page = probe_html(run / "report.html")
    assert page["images"] >= 5, page  # drone 3 + HAR 2 even in this short run; rover figures need labels
    assert page["loaded"] == page["images"]
    assert all(w > 100 and h > 100 for w, h in page["sizes"])
    shown = {row[0]: row[1] for row in page["summary"]}
    for key in ("drone_frames", "drone_mono_time_fraction", "drone_collisions", "rover_label_images",
                "har_predictions", "har_macro_f1_unlabelled_part", "stereo_mono_node_latency_p99_ms"):  # fmt: skip
        assert key in shown, f"{key} missing from the report summary"
    assert int(shown["drone_frames"]) == summary["drone_frames"] > 10
    assert summary["rover_label_images"] > 0 and summary["har_predictions"] > 0
    assert summary["bag_messages"] > 500
    assert "drone_frames" in proc.stdout and str(summary["drone_frames"]) in proc.stdout  # printed table
    for model in ("stereo_mono.pt", "terrain.pt", "har.pt"):
        assert (run / "models" / model).is_file(), f"{model} not saved on shutdown"
    assert (run / "bag" / "metadata.yaml").is_file()

    # Another seed flies another room: the numbers come from the run, not from a template.
    other = tmp_path / "seed2"
    proc = _demo(other, 2, "--stages", "drone")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary2 = json.loads((_run_folder(other) / "summary.json").read_text())
    changed = [k for k in ("drone_distance_m", "drone_frames", "drone_mono_absrel_last_third",
                           "stereo_mono_node_latency_p50_ms") if summary[k] != summary2[k]]  # fmt: skip
    assert len(changed) >= 3, (summary, summary2)


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


@pytest.mark.ros
def test_ctrl_c_stops_the_demo_and_its_nodes_and_saves_the_model(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    demo = subprocess.Popen(
        [sys.executable, "-m", "robossl.cli.main", "demo", "--out", str(out), "--drone-seconds", "120",
         "--no-pretrain"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    printed: list[bytes] = []
    reader = threading.Thread(target=lambda: printed.extend(iter(lambda: demo.stdout.read1(4096), b"")))
    reader.start()
    try:
        # Ctrl-C once the drone is flying: the node has answered frames, so it has a pipeline to save (a
        # fixed sleep after the node's start raced the node's own start-up on a loaded machine)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and b"mode=" not in b"".join(printed):
            assert demo.poll() is None, b"".join(printed).decode(errors="replace")[-2000:]
            time.sleep(0.5)
        logs = list(out.glob("*/logs/drone.log"))
        assert logs and b"mode=" in b"".join(printed), "the drone never flew a frame"
        run = logs[0].parents[1]
        assert _processes_mentioning(str(run)), "node process not found while running"
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
        demo.wait(timeout=60)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
        reader.join(timeout=10)
    assert demo.returncode in (130, -signal.SIGINT), b"".join(printed).decode(errors="replace")[-2000:]
    time.sleep(0.5)
    assert _processes_mentioning(str(run)) == []
    assert (run / "models" / "stereo_mono.pt").is_file()
