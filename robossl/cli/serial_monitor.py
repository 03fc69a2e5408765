"""Watch a firmware_bridge serial link: per-device IMU rates, CRC failures, sequence gaps, clock drift.

Examples:
    robossl serial-monitor /dev/ttyACM0 --baud 921600 --start   # a real device; ask it to stream
    robossl serial-monitor --firmware --duration 5               # host-built reference firmware on a pty
    robossl serial-monitor --firmware --flip-rate 0.01 --json    # ... with injected bit errors, JSON summary
    robossl serial-monitor --emulate 3 --duration 5              # 3 Python-emulated IMUs (synthetic data)

The summary lists, per device, IMU samples received, frames, sequence gaps and the clock sync state, and
the link counters (CRC failures, COBS errors, resyncs, lost frames). Exit status 1 if nothing arrived.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

HELP = "watch a firmware_bridge serial link (rates, CRC failures, sequence gaps, clock drift)"
FIRMWARE_DIR = Path(__file__).resolve().parents[2] / "firmware_bridge" / "firmware"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "port", nargs="?", help="serial port or pyserial URL (omit with --firmware/--emulate)"
    )
    parser.add_argument("--baud", type=int, default=921600, help="line speed, bit/s (default 921600)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds to watch (default 5)")
    parser.add_argument("--start", action="store_true", help="send STREAMING=1 to all devices first")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--firmware", action="store_true", help="spawn the host build of the C firmware on a pty"
    )
    source.add_argument("--emulate", type=int, metavar="N", help="emulate N IMU devices in Python on a pty")
    parser.add_argument("--rate", type=int, default=1000, help="IMU rate for --firmware/--emulate, Hz")
    parser.add_argument(
        "--flip-rate", type=float, default=0.0, help="--firmware: bit-flip probability per frame"
    )
    parser.add_argument(
        "--drop-rate", type=float, default=0.0, help="--firmware: byte-loss probability per frame"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def _summary(bridge: Any, per_device: dict[int, dict[str, int]], elapsed_s: float) -> dict[str, Any]:
    stats = bridge.stats()
    devices = stats.pop("devices")
    for device, counts in per_device.items():
        devices.setdefault(device, {}).update(counts)
        devices[device]["imu_rate_hz"] = round(counts["samples"] / max(elapsed_s, 1e-9), 1)
    return {"elapsed_s": round(elapsed_s, 3), "link": stats, "devices": devices}


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from firmware_bridge import ImuBatch, PtyDevices, SerialBridge

    if not (args.port or args.firmware or args.emulate):
        raise SystemExit("give a PORT, or --firmware, or --emulate N")
    if args.duration <= 0:
        raise SystemExit(f"--duration must be positive, got {args.duration}")
    process: subprocess.Popen[str] | None = None
    link: PtyDevices | None = None
    replay: threading.Thread | None = None
    stop = threading.Event()
    port = args.port
    try:
        if args.firmware:
            build = subprocess.run(["make", "-s", "-C", str(FIRMWARE_DIR)], capture_output=True, text=True)
            if build.returncode != 0:
                raise SystemExit(f"building the firmware failed (needs gcc and make):\n{build.stderr}")
            command = [
                str(FIRMWARE_DIR / "build" / "fwb_host"),
                "--rate",
                str(args.rate),
                "--heartbeat-ms",
                "500",
            ]
            command += ["--flip-rate", str(args.flip_rate), "--drop-rate", str(args.drop_rate)]
            process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
            assert process.stdout is not None
            port = process.stdout.readline().split()[1]
            args.start = True
        elif args.emulate:
            link = PtyDevices(list(range(1, args.emulate + 1))).open()
            port = link.port
        per_device: dict[int, dict[str, int]] = {}

        def count(message: Any) -> None:
            entry = per_device.setdefault(message.device_id, {"frames": 0, "samples": 0})
            entry["frames"] += 1
            if isinstance(message.body, ImuBatch):
                entry["samples"] += message.body.raw.shape[0]

        with SerialBridge(port, baudrate=args.baud, on_message=count) as bridge:
            if args.start:
                bridge.start_streaming()
            if link is not None and link.devices is not None:
                n = int(args.rate * args.duration) + args.rate
                rng = np.random.default_rng(0)
                streams = {d: rng.normal(0, 1, (n, 6)).astype(np.float32) for d in link.devices.encoders}
                devices = link.devices
                replay = threading.Thread(
                    target=lambda: devices.replay(streams, float(args.rate), batch_samples=10, stop=stop),
                    daemon=True,
                )
                replay.start()
            start = time.monotonic()
            with tqdm(total=round(args.duration, 1), unit="s", disable=args.json) as bar:
                while (elapsed := time.monotonic() - start) < args.duration:
                    time.sleep(min(0.2, args.duration - elapsed))
                    bar.n = round(min(time.monotonic() - start, args.duration), 1)
                    total = sum(d["samples"] for d in per_device.values())
                    bar.set_postfix(
                        devices=len(per_device), samples=total, crc_errors=bridge.stats()["crc_errors"]
                    )
                    bar.refresh()
            summary = _summary(bridge, per_device, time.monotonic() - start)
    finally:
        stop.set()
        if replay is not None:
            replay.join(timeout=2.0)
        if link is not None:
            link.close()
        if process is not None:
            process.terminate()
            process.wait(timeout=5)
    if args.json:
        print(json.dumps(summary, indent=2, default=float))
    else:
        link_stats = summary["link"]
        print(
            f"link: {link_stats['frames_ok']} frames ok, {link_stats['crc_errors']} CRC failures, "
            f"{link_stats['cobs_errors']} COBS errors, {link_stats['resyncs']} resyncs, "
            f"{link_stats['seq_gaps']} sequence gaps ({link_stats['frames_lost']} frames lost)"
        )
        for device, info in sorted(summary["devices"].items()):
            print(
                f"device {device}: {info.get('samples', 0)} IMU samples ({info.get('imu_rate_hz', 0.0)} Hz), "
                f"synced={info.get('synced', False)}, drift={info.get('drift_ppm', float('nan')):.1f} ppm"
            )
    return 0 if summary["link"]["frames_ok"] > 0 else 1
