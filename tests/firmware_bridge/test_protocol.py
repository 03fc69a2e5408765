"""Messages and the streaming decoder: round trips, resynchronisation, counters, garbage."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge import fastpath
from firmware_bridge.framing import cobs_decode, frame
from firmware_bridge.messages import (
    AudioChunk,
    ConfigAck,
    ConfigCommand,
    Heartbeat,
    ImuBatch,
    MessageType,
    ProtocolError,
    TimeSyncRequest,
    TimeSyncResponse,
    decode_payload,
    encode_payload,
)
from firmware_bridge.protocol import FrameEncoder, StreamDecoder, encode_frame


def _imu(n: int, c: int = 6, seed: int = 0) -> ImuBatch:
    rng = np.random.default_rng(seed)
    raw = rng.integers(-32768, 32767, size=(n, c), dtype=np.int16)
    return ImuBatch(raw=raw, sample_period_us=1000, scale=np.full(c, 0.001, np.float32))


def _bodies_equal(a: object, b: object) -> bool:
    if type(a) is not type(b):
        return False
    for key, value in vars(a).items():
        other = vars(b)[key]
        if isinstance(value, np.ndarray) or isinstance(other, np.ndarray):
            if other is None or value is None or not np.array_equal(value, other):
                return False
            if np.asarray(value).dtype != np.asarray(other).dtype:
                return False
        elif value != other:
            return False
    return True


imu_bodies = st.builds(
    lambda n, c, seed, as_float, period: ImuBatch(
        raw=np.random.default_rng(seed).normal(0, 5, (n, c)).astype(np.float32)
        if as_float
        else np.random.default_rng(seed).integers(-32768, 32767, (n, c), dtype=np.int16),
        sample_period_us=period,
        scale=None if as_float else np.random.default_rng(seed).uniform(1e-4, 1, c).astype(np.float32),
    ),
    st.integers(1, 40),
    st.integers(1, 12),
    st.integers(0, 2**32 - 1),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
audio_bodies = st.builds(
    lambda n, c, seed, rate: AudioChunk(
        pcm=np.random.default_rng(seed).integers(-32768, 32767, (n, c), dtype=np.int16), sample_rate_hz=rate
    ),
    st.integers(1, 300),
    st.integers(1, 2),
    st.integers(0, 2**32 - 1),
    st.integers(1, 96000),
)
u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
any_body = st.one_of(
    imu_bodies,
    audio_bodies,
    st.builds(Heartbeat, u32, u32, u32, st.integers(0, 0xFFFF), st.just(0)),
    st.builds(TimeSyncRequest, u32, u64),
    st.builds(TimeSyncResponse, u32, u64, u64),
    st.builds(ConfigCommand, st.integers(0, 0xFFFF), st.integers(0, 255), st.just(0), u32),
    st.builds(ConfigAck, st.integers(0, 0xFFFF), st.integers(0, 255), st.integers(0, 255), u32),
)


@given(any_body, st.integers(0, 255), st.integers(0, 0xFFFF), u64)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_message_round_trips_through_payload_and_wire(body, device_id, seq, t_us) -> None:  # type: ignore[no-untyped-def]
    payload = encode_payload(body, device_id, seq, t_us)
    message = decode_payload(payload)
    assert (message.header.device_id, message.header.seq, message.header.device_time_us) == (
        device_id,
        seq,
        t_us,
    )
    assert message.msg_type == body.MSG_TYPE
    assert _bodies_equal(message.body, body)
    # The same through the wire form and the streaming decoder (fast path).
    decoder = StreamDecoder()
    (streamed,) = decoder.feed(frame(payload))
    assert _bodies_equal(streamed.body, body) and streamed.header == message.header


@given(st.lists(any_body, min_size=1, max_size=8), st.lists(st.integers(1, 200), min_size=1, max_size=30))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_decoder_result_does_not_depend_on_chunking(bodies, cuts) -> None:  # type: ignore[no-untyped-def]
    encoder = FrameEncoder(device_id=5)
    stream = b"".join(encoder.encode(b, 1000 * i) for i, b in enumerate(bodies))
    decoder = StreamDecoder()
    out = []
    pos = 0
    for cut in cuts:
        out += decoder.feed(stream[pos : pos + cut])
        pos += cut
    out += decoder.feed(stream[pos:])
    assert [m.header.seq for m in out] == list(range(len(bodies)))
    assert all(_bodies_equal(m.body, b) for m, b in zip(out, bodies))
    assert decoder.stats.frames_bad == 0 and decoder.stats.frames_lost == 0


@given(st.lists(st.binary(max_size=600), max_size=20))
@settings(max_examples=300, deadline=None)
def test_arbitrary_garbage_never_raises_out_of_the_decoder(chunks: list[bytes]) -> None:
    decoder = StreamDecoder()
    for chunk in chunks:
        for message in decoder.feed(chunk):
            assert message.msg_type in set(MessageType)
    assert decoder.stats.bytes_received == sum(map(len, chunks))


@given(st.binary(min_size=1, max_size=300), st.integers(0, 10**6))
@settings(max_examples=200, deadline=None)
def test_garbage_between_frames_costs_no_good_frame(garbage: bytes, seed: int) -> None:
    encoder = FrameEncoder(device_id=1)
    good = [encoder.encode(_imu(5, seed=seed + i), i) for i in range(3)]
    decoder = StreamDecoder()
    out = decoder.feed(good[0] + garbage + good[1] + garbage + good[2])
    assert [m.header.seq for m in out] == [0, 1, 2]


def test_resyncs_after_corrupted_frame_and_counts_it() -> None:
    encoder = FrameEncoder(device_id=2)
    frames = [bytearray(encoder.encode(_imu(10, seed=i), 1000 * i)) for i in range(5)]
    frames[1][20] ^= 0x10  # flip one bit (never creates a 0x00 here: checked below)
    assert frames[1][20] != 0
    del frames[3][30]  # lose one byte
    decoder = StreamDecoder()
    out = decoder.feed(b"".join(frames))
    assert [m.header.seq for m in out] == [0, 2, 4]
    assert decoder.stats.frames_bad == 2
    assert decoder.stats.seq_gaps == 2 and decoder.stats.frames_lost == 2
    np.testing.assert_array_equal(out[1].body.raw, _imu(10, seed=2).raw)  # type: ignore[union-attr]


def test_one_lost_delimiter_costs_no_frame_and_two_cost_the_merged_pair() -> None:
    encoder = FrameEncoder(device_id=2)
    a, b, c = (encoder.encode(_imu(4, seed=i), i) for i in range(3))
    decoder = StreamDecoder()
    out = decoder.feed(a[:-1] + b + c)  # a's trailing 0x00 lost: b's leading 0x00 still delimits
    assert [m.header.seq for m in out] == [0, 1, 2]
    assert decoder.stats.frames_bad == 0
    out = decoder.feed(a[:-1] + b[1:] + c)  # both delimiters between a and b lost: a+b is one bad fragment
    assert [m.header.seq for m in out] == [2]
    assert decoder.stats.frames_bad == 1


def test_runaway_garbage_without_delimiter_is_discarded_and_counted() -> None:
    encoder = FrameEncoder(device_id=9)
    decoder = StreamDecoder()
    for _ in range(10):
        assert decoder.feed(b"\x55" * 1000) == []
    out = decoder.feed(encoder.encode(_imu(3)))
    assert len(out) == 1
    assert decoder.stats.overflow_bytes >= 5000 and decoder.stats.too_long == 1


def test_crc_error_is_reported_with_both_values() -> None:
    payload = bytearray(encode_payload(Heartbeat(1, 2, 3, 4), 1, 1, 5))
    payload[17] ^= 1
    with pytest.raises(ProtocolError, match="CRC mismatch"):
        decode_payload(payload)


def test_sequence_wraps_without_a_gap_and_counts_backward_jumps() -> None:
    decoder = StreamDecoder()
    stream = b"".join(encode_frame(Heartbeat(), 4, seq) for seq in (65534, 65535, 0, 1, 0))
    out = decoder.feed(stream)
    assert [m.header.seq for m in out] == [65534, 65535, 0, 1, 0]
    assert decoder.stats.seq_gaps == 0 and decoder.stats.seq_backwards == 1


def test_fast_path_agrees_with_the_pure_python_decoder() -> None:
    rng = np.random.default_rng(3)
    encoder = FrameEncoder(device_id=7)
    wire = bytearray(b"".join(encoder.encode(_imu(int(rng.integers(1, 60)), seed=i), i) for i in range(200)))
    for pos in rng.integers(0, len(wire), 40):
        wire[pos] = int(rng.integers(0, 256))
    table = fastpath.decode_frames(bytes(wire))
    reference = []
    for fragment in bytes(wire).split(b"\x00"):
        if not fragment:
            continue
        try:
            reference.append(decode_payload(cobs_decode(fragment)).header)
        except (ProtocolError, ValueError):
            pass
    assert [int(s) for s in table.headers["seq"]] == [h.seq for h in reference]
    assert len(reference) < 200  # some frames really were damaged
    assert int(table.errors.sum()) + len(reference) == sum(1 for f in bytes(wire).split(b"\x00") if f)


def test_bad_imu_shapes_get_actionable_errors() -> None:
    with pytest.raises(ValueError, match="int16 or float32"):
        encode_payload(ImuBatch(raw=np.zeros((2, 3)), sample_period_us=10), 0, 0)
    with pytest.raises(ValueError, match="needs scale"):
        encode_payload(ImuBatch(raw=np.zeros((2, 3), np.int16), sample_period_us=10), 0, 0)
    with pytest.raises(ValueError, match="send smaller batches"):
        encode_payload(ImuBatch(raw=np.zeros((400, 6), np.float32), sample_period_us=10), 0, 0)


def _reference_scan(data: bytes) -> tuple[list[int], int, int]:
    """Pure-Python reference of the fast path: (seqs of good frames, bad fragments, bytes consumed)."""
    last_zero = data.rfind(b"\x00")
    complete = data[: last_zero + 1] if last_zero >= 0 else b""
    good, bad = [], 0
    for fragment in complete.split(b"\x00"):
        if not fragment:
            continue
        try:
            good.append(decode_payload(cobs_decode(fragment)).header.seq)
        except (ProtocolError, ValueError):
            bad += 1
    return good, bad, last_zero + 1


@given(
    st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.integers(0, 2**32 - 1).map(lambda s: encode_frame(_imu(1 + s % 30, 6, s), 1, s % 65536)),
        ),
        max_size=12,
    ),
    st.integers(0, 2**32 - 1),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fast_path_matches_reference_on_frames_mixed_with_garbage(pieces: list[bytes], seed: int) -> None:
    data = bytearray(b"".join(pieces))
    rng = np.random.default_rng(seed)
    for pos in rng.integers(0, max(len(data), 1), size=min(3, len(data))):
        data[pos] = int(rng.integers(0, 256))  # random overwrites, zeros included
    table = fastpath.decode_frames(bytes(data))
    good, bad, consumed = _reference_scan(bytes(data))
    assert [int(s) for s in table.headers["seq"]] == good
    assert int(table.errors.sum()) == bad
    assert table.consumed == consumed
