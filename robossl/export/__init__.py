"""ONNX export and ONNX Runtime inference."""
