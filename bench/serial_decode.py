"""Serial decode throughput: robossl's numba fast path vs the `cobs` package + crcmod CRC-32C.

Examples:
    flock /tmp/robossl-bench.lock python bench/serial_decode.py
    python bench/serial_decode.py --megabytes 8 --repeats 3

Both sides decode the same byte stream: ~4 devices' IMU batches (20 samples x 6 int16 channels, the
reference firmware's default frame) mixed with audio chunks, with 0.2 % of frames corrupted. The
reference splits on 0x00, COBS-decodes each fragment with the `cobs` package (its default `cobs.cobs`,
which is a C extension; its pure-Python module `cobs.cobs._cobs_py` is reported too) and checks CRC-32C
with crcmod (C extension). robossl's `decode_frames` does the same plus parsing every header into
arrays, in one numba pass (CRC-32C with the SSE 4.2 instruction where available, else slicing-by-8
tables), reusing its output buffers between calls as a streaming decoder does. `stream_decoder` is the full streaming path (4 KiB chunks -> Python Message
objects with numpy sample arrays), for reference.
Target (issue #8): robossl >= 50 MB/s and >= 10x the reference.
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import Target, print_table, print_targets, write_results  # noqa: E402
from firmware_bridge import AudioChunk, FrameEncoder, ImuBatch, StreamDecoder, decode_frames  # noqa: E402
from firmware_bridge.fastpath import HARDWARE_CRC, DecodeWorkspace, warm_up  # noqa: E402
from firmware_bridge.synthetic import DEFAULT_SCALE, synthetic_imu_raw  # noqa: E402


def make_stream(megabytes: float, seed: int = 0) -> tuple[bytes, int]:
    """Return (stream, number of intact frames)."""
    rng = np.random.default_rng(seed)
    encoders = [FrameEncoder(d) for d in range(1, 5)]
    frames: list[bytes] = []
    total = 0
    n = 0
    while total < megabytes * 1e6:
        enc = encoders[n % 4]
        if n % 10 == 9:
            body: ImuBatch | AudioChunk = AudioChunk(
                rng.integers(-3000, 3000, (256, 1), dtype=np.int16), 16000
            )
        else:
            body = ImuBatch(synthetic_imu_raw(20 * n, 20), 1000, DEFAULT_SCALE)
        frame = enc.encode(body, 1000 * n)
        frames.append(frame)
        total += len(frame)
        n += 1
    damaged = rng.choice(len(frames), size=max(1, len(frames) // 500), replace=False)
    for index in damaged:
        frame = bytearray(frames[index])
        pos = int(rng.integers(1, len(frame) - 1))
        frame[pos] = frame[pos] ^ 0x04 or 0x01
        frames[index] = bytes(frame)
    return b"".join(frames), len(frames) - len(damaged)


def reference_decoder(cobs_decode: Callable[[bytes], bytes]) -> Callable[[bytes], int]:
    import crcmod.predefined

    crc = crcmod.predefined.mkCrcFun("crc-32c")
    unpack = struct.Struct("<I").unpack_from

    def decode(stream: bytes) -> int:
        good = 0
        for fragment in stream.split(b"\x00"):
            if not fragment:
                continue
            try:
                payload = cobs_decode(fragment)
            except Exception:  # cobs.DecodeError
                continue
            if len(payload) >= 20 and crc(payload[:-4]) == unpack(payload, len(payload) - 4)[0]:
                good += 1
        return good

    return decode


_WORKSPACE = DecodeWorkspace()  # a long-running decoder reuses its output buffers


def robossl_decoder(stream: bytes) -> int:
    return len(decode_frames(stream, _WORKSPACE).starts)


def streaming_decoder(stream: bytes) -> int:
    decoder = StreamDecoder()
    good = 0
    for start in range(0, len(stream), 4096):
        good += len(decoder.feed(stream[start : start + 4096]))
    return good


def best_time(fn: Callable[[bytes], int], stream: bytes, repeats: int, expected: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        good = fn(stream)
        times.append(time.perf_counter() - t0)
        if good != expected:
            raise AssertionError(f"{fn} found {good} good frames, expected {expected}")
    return min(times)


def save_plot(rows: list[dict[str, object]]) -> Path:
    """Bar chart of the decoders' throughput (log scale) next to the JSON results."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [str(r["decoder"]) for r in rows]
    speeds = [float(r["MB/s"]) for r in rows]  # type: ignore[arg-type]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.barh(names[::-1], speeds[::-1], color=["#888", "#888", "#c44", "#2a7"][: len(rows)])
    ax.set_xscale("log")
    ax.axvline(50, color="k", linestyle=":", label="target 50 MB/s")
    ax.set_xlabel("decode throughput, MB/s (log scale)")
    ax.set_title("serial decode: robossl fast path vs cobs + crcmod")
    for y, v in enumerate(speeds[::-1]):
        ax.text(v, y, f" {v:.0f}", va="center")
    ax.legend(loc="lower right")
    fig.tight_layout()
    path = Path(__file__).resolve().parent / "results" / "serial_decode.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=16.0, help="stream size, MB")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per decoder (best is kept)")
    args = parser.parse_args()

    from cobs import cobs
    from cobs.cobs import _cobs_py

    stream, intact = make_stream(args.megabytes)
    small, small_intact = make_stream(min(args.megabytes, 2.0), seed=1)
    warm_up()
    mb = len(stream) / 1e6
    rows = []
    t_robossl = best_time(robossl_decoder, stream, args.repeats, intact)
    t_ref = best_time(reference_decoder(cobs.decode), stream, args.repeats, intact)
    t_stream = best_time(streaming_decoder, stream, max(1, args.repeats // 2), intact)
    t_pure = best_time(reference_decoder(_cobs_py.decode), small, 1, small_intact)
    robossl_mb_s = mb / t_robossl
    reference_mb_s = mb / t_ref
    pure_mb_s = len(small) / 1e6 / t_pure
    rows.append(
        {
            "decoder": "robossl decode_frames (numba)",
            "MB/s": robossl_mb_s,
            "x reference": robossl_mb_s / reference_mb_s,
        }
    )
    rows.append({"decoder": "reference: cobs (C ext) + crcmod", "MB/s": reference_mb_s, "x reference": 1.0})
    rows.append(
        {
            "decoder": "reference: cobs _cobs_py (pure Python) + crcmod",
            "MB/s": pure_mb_s,
            "x reference": pure_mb_s / reference_mb_s,
        }
    )
    rows.append(
        {
            "decoder": "robossl StreamDecoder (-> Message objects)",
            "MB/s": mb / t_stream,
            "x reference": mb / t_stream / reference_mb_s,
        }
    )
    print(f"stream: {mb:.1f} MB, {intact} intact frames; best of {args.repeats}")
    print_table(rows)
    ratio = robossl_mb_s / reference_mb_s
    targets = [
        Target("robossl decode throughput (MB/s)", robossl_mb_s, ">=", 50.0, "issue #8"),
        Target("robossl / reference throughput (x)", ratio, ">=", 10.0, "issue #8"),
    ]
    print_targets(targets)
    results = {
        "robossl_mb_s": round(robossl_mb_s, 1),
        "reference_mb_s": round(reference_mb_s, 1),
        "ratio": round(ratio, 2),
        "reference_pure_python_mb_s": round(pure_mb_s, 1),
        "ratio_vs_pure_python": round(robossl_mb_s / pure_mb_s, 1),
        "stream_decoder_mb_s": round(mb / t_stream, 1),
    }
    plot_path = save_plot(rows)
    path = write_results(
        "serial_decode",
        results,
        stream_megabytes=round(mb, 2),
        hardware_crc=HARDWARE_CRC,
        intact_frames=intact,
        targets=targets,
        reference="cobs.cobs.decode (cobs package default, C extension) + crcmod crc-32c, per fragment of bytes.split",
        plot=plot_path.name,
    )
    print(f"wrote {path} and {plot_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
