"""COBS framing: pure ``bytes -> bytes`` functions, no I/O.

Consistent Overhead Byte Stuffing (Cheshire and Baker, IEEE/ACM ToN 1999) removes every 0x00 from a payload
at a cost of at most one byte per 254, so 0x00 can delimit frames on the wire. A frame on the wire is
``0x00 + cobs_encode(payload) + 0x00``: the leading delimiter means a lost trailing delimiter of the previous
frame never merges two frames. Empty fragments between delimiters are ignored by receivers.
"""

from __future__ import annotations

DELIMITER = 0x00


class CobsDecodeError(ValueError):
    """Raised by :func:`cobs_decode` for bytes that cannot be a COBS encoding."""


def cobs_encode(data: bytes | bytearray | memoryview) -> bytes:
    """Encode ``data`` with COBS; the result contains no 0x00 byte.

    Args:
        data: payload, any length (an empty payload encodes to ``b"\\x01"``).

    Returns:
        The encoding, ``len(data) + 1 + len(data) // 254`` bytes at most.
    """
    src = bytes(data)
    out = bytearray(b"\x00")  # placeholder for the first code byte
    code_index = 0
    code = 1
    last = len(src) - 1
    for index, byte in enumerate(src):
        if byte == 0:
            out[code_index] = code
            code_index = len(out)
            out.append(0)
            code = 1
            continue
        out.append(byte)
        code += 1
        if code == 0xFF:
            out[code_index] = code
            if index == last:
                return bytes(out)  # a full block ends the data: no extra code byte
            code_index = len(out)
            out.append(0)
            code = 1
    out[code_index] = code
    return bytes(out)


def cobs_decode(encoded: bytes | bytearray | memoryview) -> bytes:
    """Decode one COBS-encoded block (without delimiters).

    Args:
        encoded: the bytes between two 0x00 delimiters.

    Returns:
        The original payload.

    Raises:
        CobsDecodeError: if ``encoded`` is empty, contains 0x00, or a code byte points past its end.
    """
    src = bytes(encoded)
    if not src:
        raise CobsDecodeError("empty COBS block: a frame needs at least one code byte")
    out = bytearray()
    i = 0
    n = len(src)
    while i < n:
        code = src[i]
        if code == 0:
            raise CobsDecodeError(
                f"0x00 inside a COBS block at offset {i}: frames must be split on 0x00 first"
            )
        end = i + code
        if end > n:
            raise CobsDecodeError(f"COBS code {code} at offset {i} runs past the block end ({n} bytes)")
        block = src[i + 1 : end]
        if DELIMITER in block:
            raise CobsDecodeError(f"0x00 inside a COBS block near offset {i}")
        out += block
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def frame(payload: bytes | bytearray | memoryview) -> bytes:
    """Return the wire form of one payload: ``0x00 + COBS(payload) + 0x00``."""
    return b"\x00" + cobs_encode(payload) + b"\x00"
