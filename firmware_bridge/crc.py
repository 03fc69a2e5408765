"""CRC-32C (Castagnoli), the per-frame checksum of the protocol.

Parameters (the "CRC-32C" / "CRC-32/ISCSI" entry of the CRC catalogue): reflected polynomial 0x82F63B78
(normal form 0x1EDC6F41), initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF, input and output reflected.
Check value: ``crc32c(b"123456789") == 0xE3069283``. The same algorithm is implemented in C in
``firmware/src/fwb_crc32c.c`` and, for throughput, in :mod:`firmware_bridge.fastpath`.
"""

from __future__ import annotations

import numpy as np

CRC32C_POLY_REFLECTED = 0x82F63B78
CRC32C_CHECK = 0xE3069283  # crc32c(b"123456789")


def _make_tables() -> np.ndarray:
    """Slicing-by-8 tables, shape (8, 256) uint32; row 0 is the classic byte-at-a-time table."""
    tables = np.zeros((8, 256), dtype=np.uint32)
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ CRC32C_POLY_REFLECTED if crc & 1 else crc >> 1
        tables[0, byte] = crc
    for k in range(1, 8):
        for byte in range(256):
            prev = int(tables[k - 1, byte])
            tables[k, byte] = (prev >> 8) ^ int(tables[0, prev & 0xFF])
    return tables


CRC32C_TABLES = _make_tables()
_TABLE0 = [int(v) for v in CRC32C_TABLES[0]]


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """Return the CRC-32C of ``data``.

    Args:
        data: bytes to checksum.
        crc: a previous result to continue from (for data given in pieces); 0 to start.

    Returns:
        The checksum as an unsigned 32-bit integer.
    """
    table = _TABLE0
    value = crc ^ 0xFFFFFFFF
    for byte in bytes(data):
        value = (value >> 8) ^ table[(value ^ byte) & 0xFF]
    return value ^ 0xFFFFFFFF
