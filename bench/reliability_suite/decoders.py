"""Reliability section 1: the serial frame decoders under fuzzed and corrupted byte streams.

Two decoders read the same bytes:

- the fast path: :class:`firmware_bridge.StreamDecoder` (numba kernel ``fastpath.decode_frames`` plus body
  parsing), fed in random chunks, and ``decode_frames`` on the whole stream;
- the pure-Python path: split on 0x00, :func:`firmware_bridge.framing.cobs_decode`, the same size limit,
  then :func:`firmware_bridge.messages.decode_payload`. Its documented errors are ``CobsDecodeError`` and
  ``ProtocolError``; anything else is an escaping exception. ``StreamDecoder.feed`` is documented never to
  raise for bad input, so any exception from it escapes.

Fuzz: random streams of several kinds (mutated valid frames, random bytes, random COBS-like fragments,
frames with a valid CRC but hostile header/body fields, over-long runs without delimiters, splices, runs of
0x00/0xFF). Counted: escaping exceptions per path, and disagreements (the two paths, or the fast path fed
whole vs. in chunks, return different messages).

Recovery: a stream of known frames with independent per-byte bit flips, drops or inserts at rates 1e-3 and
1e-2. A frame is undamaged when none of its wire bytes (delimiters included) was touched; every undamaged
frame must come out, and no message that differs from the frame it claims to be may come out (damaged
frames accepted, target 0).

Run on its own (a child process of bench/reliability.py, so that a crash in the unchecked numba kernel is
reported instead of ending the benchmark)::

    python bench/reliability_suite/decoders.py --fuzz 60000 --frames 10000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import struct
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from firmware_bridge import fastpath  # noqa: E402
from firmware_bridge.crc import crc32c  # noqa: E402
from firmware_bridge.framing import CobsDecodeError, cobs_decode, cobs_encode  # noqa: E402
from firmware_bridge.messages import (  # noqa: E402
    HEADER,
    MAX_PAYLOAD_SIZE,
    PROTOCOL_VERSION,
    AudioChunk,
    ConfigAck,
    ConfigCommand,
    Heartbeat,
    ImuBatch,
    Message,
    MessageType,
    ProtocolError,
    TimeSyncRequest,
    TimeSyncResponse,
    decode_payload,
    encode_payload,
)
from firmware_bridge.protocol import StreamDecoder  # noqa: E402

EXAMPLES_KEPT = 5  # first few escaping exceptions / disagreements kept verbatim in the results


def message_key(message: Message) -> tuple[Any, ...]:
    """A hashable, exact description of a decoded message (header fields and every body value)."""
    h = message.header
    body: list[Any] = [type(message.body).__name__]
    for f in dataclasses.fields(message.body):
        value = getattr(message.body, f.name)
        if isinstance(value, np.ndarray):
            body.append((str(value.dtype), value.shape, value.tobytes()))
        else:
            body.append(value)
    return (h.msg_type, h.device_id, h.seq, h.device_time_us, h.body_len, h.version, h.flags, tuple(body))


def random_body(rng: np.random.Generator) -> Any:
    """A valid message body of a random type with random contents (mostly IMU batches)."""
    kind = int(rng.integers(0, 10))
    if kind < 5:
        n, c = int(rng.integers(1, 40)), int(rng.integers(1, 9))
        if rng.random() < 0.5:
            raw = rng.integers(-32768, 32768, (n, c), dtype=np.int16)
            return ImuBatch(raw, int(rng.integers(0, 2**32)), rng.normal(size=c).astype(np.float32))
        values = rng.normal(scale=50.0, size=(n, c)).astype(np.float32)
        return ImuBatch(values, int(rng.integers(0, 2**32)))
    if kind < 7:
        n, c = int(rng.integers(1, 200)), int(rng.integers(1, 3))
        return AudioChunk(rng.integers(-32768, 32768, (n, c), dtype=np.int16), int(rng.integers(0, 2**32)))
    u32 = lambda: int(rng.integers(0, 2**32))  # noqa: E731
    u64 = lambda: int(rng.integers(0, 2**63))  # noqa: E731
    if kind == 7:
        return Heartbeat(u32(), u32(), u32(), int(rng.integers(0, 2**16)), 0)
    u16, u8 = int(rng.integers(0, 2**16)), int(rng.integers(0, 256))
    if kind == 8:
        return TimeSyncRequest(u32(), u64()) if rng.random() < 0.5 else TimeSyncResponse(u32(), u64(), u64())
    if rng.random() < 0.5:
        return ConfigCommand(u16, u8, 0, u32())
    return ConfigAck(u16, u8, int(rng.integers(0, 256)), u32())


def valid_frame(rng: np.random.Generator, device_id: int | None = None, seq: int | None = None) -> bytes:
    body = random_body(rng)
    device = int(rng.integers(0, 256)) if device_id is None else device_id
    number = int(rng.integers(0, 2**16)) if seq is None else seq
    payload = encode_payload(body, device, number, int(rng.integers(0, 2**63)))
    return b"\x00" + cobs_encode(payload) + b"\x00"


def hostile_frame(rng: np.random.Generator) -> bytes:
    """A frame with a correct CRC whose header or body fields are hostile (the CRC does not save us)."""
    version = PROTOCOL_VERSION if rng.random() < 0.8 else int(rng.integers(0, 256))
    msg_type = int(rng.choice([t.value for t in MessageType] + [0, 0x7F, 0xFF]))
    body_len = int(rng.integers(0, 600))
    body = bytearray(rng.integers(0, 256, body_len, dtype=np.uint8).tobytes())
    if msg_type in (MessageType.IMU_BATCH, MessageType.AUDIO_CHUNK) and body_len >= 8 and rng.random() < 0.7:
        # plausible fixed part with hostile counts: n/c from 0 to the maximum, known and unknown formats
        n = int(rng.choice([0, 1, 2, 255, 65535, int(rng.integers(0, 65536))]))
        c = int(rng.choice([0, 1, 6, 32, 255]))
        fmt = int(rng.choice([0, 1, 2, 3, 255]))
        struct.pack_into("<HBBI", body, 0, n, c, fmt, int(rng.integers(0, 2**32)))
        if rng.random() < 0.5 and msg_type == MessageType.IMU_BATCH and fmt == 2:
            floats = np.array([np.nan, np.inf, -np.inf, 3.4e38, -0.0, 1e-45], np.float32)
            fill = rng.choice(floats, size=(body_len - 8) // 4).astype("<f4").tobytes()
            body[8 : 8 + len(fill)] = fill
    declared = body_len if rng.random() < 0.8 else int(rng.integers(0, 2**16))
    head = HEADER.pack(
        version,
        msg_type,
        int(rng.integers(0, 256)),
        0,
        int(rng.integers(0, 2**16)),
        declared,
        int(rng.integers(0, 2**63)),
    )
    data = head + bytes(body)
    payload = data + crc32c(data).to_bytes(4, "little")
    return b"\x00" + cobs_encode(payload) + b"\x00"


def mutate(data: bytes, rate: float, rng: np.random.Generator, kinds: str = "fdi") -> bytes:
    """Independent per-byte damage at ``rate``: f = flip one bit, d = drop the byte, i = insert a byte."""
    out = bytearray()
    hits = rng.random(len(data)) < rate
    choice = rng.integers(0, len(kinds), len(data))
    for index, byte in enumerate(data):
        if not hits[index]:
            out.append(byte)
            continue
        kind = kinds[choice[index]]
        if kind == "f":
            out.append(byte ^ (1 << int(rng.integers(0, 8))))
        elif kind == "i":
            out.append(int(rng.integers(0, 256)))
            out.append(byte)
        # "d": drop
    return bytes(out)


def fuzz_stream(rng: np.random.Generator) -> tuple[str, bytes]:
    """One fuzzed stream: (kind, bytes)."""
    kind = str(
        rng.choice(
            ["mutated", "random_bytes", "random_fragments", "hostile_crc", "long_run", "splice", "runs"],
            p=[0.35, 0.1, 0.1, 0.25, 0.05, 0.1, 0.05],
        )
    )
    if kind == "mutated":
        frames = b"".join(valid_frame(rng) for _ in range(int(rng.integers(1, 6))))
        rate = float(rng.choice([1e-3, 1e-2, 5e-2, 0.2]))
        return kind, mutate(frames, rate, rng)
    if kind == "random_bytes":
        return kind, rng.integers(0, 256, int(rng.integers(0, 1500)), dtype=np.uint8).tobytes()
    if kind == "random_fragments":
        data = rng.integers(1, 256, int(rng.integers(1, 1500)), dtype=np.uint8)
        data[rng.random(data.size) < 0.02] = 0
        return kind, data.tobytes()
    if kind == "hostile_crc":
        return kind, b"".join(hostile_frame(rng) for _ in range(int(rng.integers(1, 5))))
    if kind == "long_run":
        run = rng.integers(1, 256, int(rng.integers(MAX_PAYLOAD_SIZE, 3 * MAX_PAYLOAD_SIZE)), dtype=np.uint8)
        return kind, run.tobytes() + valid_frame(rng) + run[: int(rng.integers(0, 300))].tobytes()
    if kind == "splice":
        a, b = valid_frame(rng), valid_frame(rng)
        return kind, a[: int(rng.integers(1, len(a)))] + b[int(rng.integers(0, len(b) - 1)) :] + valid_frame(
            rng
        )
    byte = int(rng.choice([0x00, 0xFF, 0x01]))
    return kind, bytes([byte]) * int(rng.integers(1, 6000))


def pure_python_decode(stream: bytes, stats: Counter[str]) -> list[Message]:
    """The reference path: 0x00 split, pure-Python COBS, size limit, pure-Python CRC/header/body checks."""
    messages = []
    for fragment in stream.split(b"\x00")[:-1]:  # the last piece has no closing delimiter yet
        if not fragment:
            continue
        try:
            payload = cobs_decode(fragment)
            if len(payload) > MAX_PAYLOAD_SIZE:
                stats["too_long"] += 1
                continue
            messages.append(decode_payload(payload))
        except (CobsDecodeError, ProtocolError):  # documented refusals
            stats["refused"] += 1
    return messages


def stream_decode(stream: bytes, rng: np.random.Generator | None) -> list[Message]:
    """The fast path as the bridge uses it: a StreamDecoder fed in random chunks (or all at once)."""
    decoder = StreamDecoder()
    if rng is None:
        return decoder.feed(stream)
    messages: list[Message] = []
    pos = 0
    while pos < len(stream):
        size = int(rng.integers(1, 700))
        messages += decoder.feed(stream[pos : pos + size])
        pos += size
    return messages


class Tally:
    """Escaping exceptions by path and type, with a few examples."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: list[str] = []

    def add(self, path: str, exc: BaseException, kind: str) -> None:
        self.counts[f"{path}:{type(exc).__name__}"] += 1
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples.append(f"{path} on a {kind} stream: {type(exc).__name__}: {exc}"[:300])


def run_fuzz(count: int, seed: int) -> dict[str, Any]:
    """Fuzz both decoder paths with ``count`` streams."""
    rng = np.random.default_rng(seed)
    escaping = Tally()
    disagreements: Counter[str] = Counter()
    examples: list[str] = []
    kinds: Counter[str] = Counter()
    pure_stats: Counter[str] = Counter()
    frames_ok = {"fast": 0, "pure": 0}
    started = time.perf_counter()
    workspace = fastpath.DecodeWorkspace()
    for _ in range(count):
        kind, stream = fuzz_stream(rng)
        kinds[kind] += 1
        results: dict[str, list[tuple[Any, ...]] | None] = {}
        try:
            results["fast_chunked"] = [message_key(m) for m in stream_decode(stream, rng)]
        except Exception as exc:  # noqa: BLE001 - counting what escapes is the point
            escaping.add("StreamDecoder.feed", exc, kind)
            results["fast_chunked"] = None
        try:
            results["fast_whole"] = [message_key(m) for m in stream_decode(stream, None)]
        except Exception as exc:  # noqa: BLE001
            escaping.add("StreamDecoder.feed", exc, kind)
            results["fast_whole"] = None
        try:
            fastpath.decode_frames(stream, workspace)  # the kernel alone, as bulk decoding uses it
        except Exception as exc:  # noqa: BLE001
            escaping.add("decode_frames", exc, kind)
        try:
            results["pure"] = [message_key(m) for m in pure_python_decode(stream, pure_stats)]
        except Exception as exc:  # noqa: BLE001
            escaping.add("pure_python", exc, kind)
            results["pure"] = None
        frames_ok["fast"] += len(results["fast_whole"] or [])
        frames_ok["pure"] += len(results["pure"] or [])
        for a, b in (("fast_whole", "pure"), ("fast_whole", "fast_chunked")):
            if results[a] is not None and results[b] is not None and results[a] != results[b]:
                disagreements[f"{a}_vs_{b}"] += 1
                if len(examples) < EXAMPLES_KEPT:
                    examples.append(
                        f"{kind} stream of {len(stream)} B: {a} {len(results[a] or [])} messages, "
                        f"{b} {len(results[b] or [])}"
                    )
    return {
        "streams": count,
        "stream_kinds": dict(sorted(kinds.items())),
        "escaping_exceptions": sum(escaping.counts.values()),
        "escaping_by_path": dict(escaping.counts),
        "escaping_examples": escaping.examples,
        "disagreements": sum(disagreements.values()),
        "disagreements_by_pair": dict(disagreements),
        "disagreement_examples": examples,
        "messages_decoded": frames_ok,
        "pure_python_refused_fragments": pure_stats["refused"] + pure_stats["too_long"],
        "seconds": round(time.perf_counter() - started, 1),
    }


def run_recovery(frames: int, seed: int) -> dict[str, Any]:
    """Undamaged frames recovered and damaged frames accepted under per-byte damage, per kind and rate."""
    rng = np.random.default_rng(seed)
    rows: dict[str, Any] = {}
    for kind_name, kinds in (("bit_flips", "f"), ("drops", "d"), ("inserts", "i")):
        for rate in (1e-3, 1e-2):
            wire = []
            originals: dict[tuple[int, int, int], tuple[Any, ...]] = {}
            for index in range(frames):
                frame = valid_frame(rng, device_id=index % 7, seq=(index // 7) & 0xFFFF)
                message = decode_payload(cobs_decode(frame[1:-1]))
                key = message_key(message)
                originals[(key[1], key[2], key[3])] = key
                wire.append(frame)
            damaged_flags = []
            pieces = []
            for frame in wire:
                bad = mutate(frame, rate, rng, kinds)
                damaged_flags.append(bad != frame)
                pieces.append(bad)
            stream = b"".join(pieces)
            identities = list(originals)
            undamaged = {identities[i] for i, bad in enumerate(damaged_flags) if not bad}
            row: dict[str, Any] = {"frames": frames, "damaged_frames": int(sum(damaged_flags))}
            for path, decode in (
                ("fast", lambda s: stream_decode(s, rng)),
                ("pure", lambda s: pure_python_decode(s, Counter())),
            ):
                try:
                    decoded = [message_key(m) for m in decode(stream)]
                except Exception as exc:  # noqa: BLE001
                    row[f"{path}_escaping"] = f"{type(exc).__name__}: {exc}"[:200]
                    continue
                recovered = set()
                accepted_damaged = 0
                for key in decoded:
                    identity = (key[1], key[2], key[3])
                    if originals.get(identity) == key:
                        recovered.add(identity)
                    else:
                        accepted_damaged += 1
                row[f"{path}_undamaged_recovered"] = len(recovered & undamaged)
                row[f"{path}_undamaged_recovered_fraction"] = round(
                    len(recovered & undamaged) / max(1, len(undamaged)), 6
                )
                row[f"{path}_damaged_accepted"] = accepted_damaged
            row["undamaged_frames"] = len(undamaged)
            rows[f"{kind_name}@{rate:g}"] = row
    return rows


def run(fuzz: int, frames: int, seed: int = 0) -> dict[str, Any]:
    fastpath.warm_up()
    fuzz_result = run_fuzz(fuzz, seed)
    recovery = run_recovery(frames, seed + 1)
    return {
        "fuzz": fuzz_result,
        "recovery": recovery,
        "escaping_exceptions": fuzz_result["escaping_exceptions"]
        + sum(1 for r in recovery.values() for k in r if k.endswith("_escaping")),
        "disagreements": fuzz_result["disagreements"],
        "undamaged_recovered_fraction_min": min(
            min(
                r.get("fast_undamaged_recovered_fraction", 0.0),
                r.get("pure_undamaged_recovered_fraction", 0.0),
            )
            for r in recovery.values()
        ),
        "damaged_frames_accepted": sum(
            r.get("fast_damaged_accepted", 0) + r.get("pure_damaged_accepted", 0) for r in recovery.values()
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz", type=int, default=60000, help="fuzzed streams")
    parser.add_argument("--frames", type=int, default=10000, help="frames per recovery experiment")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps(run(args.fuzz, args.frames, args.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
