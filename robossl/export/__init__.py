"""ONNX export and ONNX Runtime inference for every deployable robossl model.

- :func:`export_onnx`: ``nn.Module`` -> one ``.onnx`` file with dynamic batch and :class:`ExportMetadata`.
- :class:`OnnxModel`: ONNX Runtime (CPU) inference with input validation; what robot nodes load.
- :func:`quantize_dynamic_int8`, :func:`quantize_static_int8`: int8 variants (static calibrated on logs).
- :func:`count_parameters`, :func:`count_macs_onnx`: model size.
- :mod:`robossl.export.kinds`: checkpoint -> deployable module, one entry per model kind.

Only :mod:`robossl.export.runtime` is needed on the robot (numpy + onnxruntime); it does not import torch.
"""

from robossl.export.metadata import ExportMetadata, Normalisation, TensorSpec
from robossl.export.runtime import OnnxModel

__all__ = ["ExportMetadata", "Normalisation", "OnnxModel", "TensorSpec"]
