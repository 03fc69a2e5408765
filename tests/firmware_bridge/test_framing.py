"""COBS framing and CRC-32C: known encodings, bad blocks and random round trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.crc import CRC32C_CHECK, crc32c
from firmware_bridge.framing import CobsDecodeError, cobs_decode, cobs_encode, frame

# Known encodings (the standard examples of Cheshire & Baker's COBS, as listed in the literature).
COBS_VECTORS = [
    (b"", b"\x01"),
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255))),
    (bytes(range(0, 255)), b"\x01\xff" + bytes(range(1, 255))),
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
    (bytes(range(2, 256)) + b"\x00", b"\xff" + bytes(range(2, 256)) + b"\x01\x01"),
    (bytes(range(3, 256)) + b"\x00\x01", b"\xfe" + bytes(range(3, 256)) + b"\x02\x01"),
]


@pytest.mark.parametrize(("raw", "encoded"), COBS_VECTORS)
def test_cobs_matches_known_encodings(raw: bytes, encoded: bytes) -> None:
    assert cobs_encode(raw) == encoded
    assert cobs_decode(encoded) == raw


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b"", "empty"),
        (b"\x05\x11\x22", "past the block end"),
        (b"\x03\x11\x00", "0x00 inside"),
        (b"\x00", "0x00"),
    ],
)
def test_cobs_decode_rejects_bad_blocks_with_reason(bad: bytes, reason: str) -> None:
    with pytest.raises(CobsDecodeError, match=reason):
        cobs_decode(bad)


@given(st.binary(max_size=2000))
@settings(max_examples=300, deadline=None)
def test_cobs_round_trip_and_no_zero_bytes(data: bytes) -> None:
    encoded = cobs_encode(data)
    assert b"\x00" not in encoded
    assert len(encoded) <= len(data) + 1 + len(data) // 254
    assert cobs_decode(encoded) == data
    assert frame(data) == b"\x00" + encoded + b"\x00"


def test_crc32c_check_value_and_known_vectors() -> None:
    assert crc32c(b"123456789") == CRC32C_CHECK == 0xE3069283
    assert crc32c(b"") == 0
    # RFC 3720 (iSCSI) appendix B.4 test vectors.
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E


@given(st.binary(max_size=500), st.integers(0, 500))
@settings(max_examples=100, deadline=None)
def test_crc32c_continues_across_pieces(data: bytes, cut: int) -> None:
    cut = min(cut, len(data))
    assert crc32c(data[cut:], crc32c(data[:cut])) == crc32c(data)


def test_crc32c_agrees_with_crcmod_reference() -> None:
    crcmod = pytest.importorskip(
        "crcmod.predefined", reason="crcmod (dev extra) gives an independent CRC-32C"
    )
    reference = crcmod.mkCrcFun("crc-32c")
    for n in (1, 7, 8, 9, 63, 300):
        data = bytes((i * 37 + n) & 0xFF for i in range(n))
        assert crc32c(data) == reference(data)


@given(st.binary(max_size=300))
@settings(max_examples=100, deadline=None)
def test_fast_path_crc_kernels_agree_with_the_reference(data: bytes) -> None:
    import numpy as np

    from firmware_bridge import fastpath
    from firmware_bridge.crc import CRC32C_TABLES

    array = np.frombuffer(data + bytes(8), dtype=np.uint8)  # slack: kernels may read whole words
    expected = crc32c(data)
    assert fastpath._crc32c_table(array, 0, len(data), CRC32C_TABLES) == expected
    if fastpath.HARDWARE_CRC:
        assert fastpath._crc32c_hardware(array, 0, len(data), CRC32C_TABLES) == expected
