"""Student inference with ONNX Runtime (lower per-call overhead than eager PyTorch on small CPUs).

This is the minimal export the stereo -> mono pipeline needs for its own inference and speed benchmark
(legacy TorchScript-based exporter, one self-contained file); the general export tooling lives in
``robossl.export``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch


def export_student_onnx(model: torch.nn.Module, height: int, width: int) -> bytes:
    """Serialise ``model`` (input (1, 1, height, width) in [0, 1]) to ONNX bytes (opset 17, no external data)."""
    was_training = model.training
    model.eval()
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "student.onnx"
            torch.onnx.export(
                model,
                (torch.zeros(1, 1, height, width),),
                path,
                input_names=["image"],
                output_names=["depth"],
                opset_version=17,
                dynamo=False,
            )
            return path.read_bytes()
    finally:
        model.train(was_training)


class OnnxDepthRunner:
    """ONNX Runtime session of the student.

    Args:
        model_bytes: ONNX model from :func:`export_student_onnx`.
        threads: intra-op threads (1 = one core).
    """

    def __init__(self, model_bytes: bytes, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        shape = self.session.get_inputs()[0].shape
        self.height, self.width = int(shape[2]), int(shape[3])

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """(h, w) uint8 grey at the model's input size -> (h, w) float32 depth, metres."""
        if image.shape != (self.height, self.width):
            raise ValueError(
                f"ONNX student expects {self.width}x{self.height} input, got {image.shape[::-1]}"
            )
        batch = (image.astype(np.float32) / 255.0)[None, None]
        return self.session.run(None, {"image": batch})[0][0, 0]
