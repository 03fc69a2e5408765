"""The C firmware and the Python host encode the same bytes (the test vectors in PROTOCOL.md)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge.messages import ConfigAck, Heartbeat, ImuBatch, TimeSyncResponse
from firmware_bridge.protocol import StreamDecoder, encode_frame
from firmware_bridge.synthetic import DEFAULT_SCALE, synthetic_imu_raw

PROTOCOL_MD = Path(__file__).resolve().parents[2] / "firmware_bridge" / "PROTOCOL.md"

PYTHON_VECTORS = {
    "heartbeat": encode_frame(Heartbeat(1, 0, 0, 1, 0), 1, 0, 1_000_000),
    "imu_batch": encode_frame(ImuBatch(synthetic_imu_raw(0, 2), 1000, DEFAULT_SCALE), 2, 1, 2_000_000),
    "time_sync_response": encode_frame(TimeSyncResponse(7, 123456789, 3000200), 3, 2, 3_000_250),
    "config_ack": encode_frame(ConfigAck(9, 2, 0, 200), 4, 3, 4_000_000),
}


@pytest.fixture(scope="module")
def c_vectors(firmware_binary: Path) -> dict[str, bytes]:
    out = subprocess.run(
        [str(firmware_binary), "--vectors"], capture_output=True, text=True, timeout=30, check=True
    )
    return {
        name: bytes.fromhex(hexstr) for name, hexstr in (line.split() for line in out.stdout.splitlines())
    }


@pytest.mark.parametrize("name", sorted(PYTHON_VECTORS))
def test_c_firmware_and_python_encode_identical_frames(c_vectors: dict[str, bytes], name: str) -> None:
    assert c_vectors[name].hex() == PYTHON_VECTORS[name].hex()


def test_c_vectors_decode_to_the_synthetic_values(c_vectors: dict[str, bytes]) -> None:
    decoder = StreamDecoder()
    messages = decoder.feed(b"".join(c_vectors[k] for k in ("heartbeat", "imu_batch", "time_sync_response")))
    assert len(messages) == 3 and decoder.stats.frames_bad == 0
    imu = messages[1].body
    assert isinstance(imu, ImuBatch)
    np.testing.assert_array_equal(imu.raw, synthetic_imu_raw(0, 2))
    np.testing.assert_allclose(imu.values[0, :3], synthetic_imu_raw(0, 1)[0, :3] * 9.80665 / 2048, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(PYTHON_VECTORS))
def test_protocol_md_lists_the_current_vectors(name: str) -> None:
    assert PYTHON_VECTORS[name].hex() in PROTOCOL_MD.read_text().replace("\n", "").replace(" ", "")
