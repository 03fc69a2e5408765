"""Serial transport: the ONLY module of the project that imports pyserial.

Everything else talks to a :class:`ByteStream`, so the protocol code can be tested on files, pipes and
pseudo-terminals, and robossl's core never depends on pyserial.
"""

from __future__ import annotations

from typing import Protocol

import serial


class ByteStream(Protocol):
    """What the bridge needs from a port: pyserial's ``Serial`` satisfies it."""

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...

    def close(self) -> None: ...

    @property
    def in_waiting(self) -> int: ...


def open_serial(port: str, baudrate: int = 921600, read_timeout_s: float = 0.05) -> ByteStream:
    """Open a serial port (or a pseudo-terminal, or a pyserial URL such as ``loop://``).

    Args:
        port: device path (``/dev/ttyACM0``, ``/dev/pts/3``) or pyserial URL.
        baudrate: line speed in bit/s (ignored by pseudo-terminals and USB CDC devices).
        read_timeout_s: longest a read waits for the first byte, seconds.

    Raises:
        OSError: with the port name when it cannot be opened (missing device, no permission, busy).
    """
    if baudrate <= 0:
        raise ValueError(f"baudrate must be positive, got {baudrate}")
    try:
        return serial.serial_for_url(port, baudrate=baudrate, timeout=read_timeout_s, write_timeout=5.0)
    except serial.SerialException as exc:
        raise OSError(
            f"cannot open serial port {port!r}: {exc}. Check the device is plugged in, the path is right, "
            "and you may use it (e.g. membership of the 'dialout' group)"
        ) from exc
