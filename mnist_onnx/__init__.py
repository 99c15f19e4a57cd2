"""mnist-onnx: classify handwritten digits with an ONNX model and ONNX Runtime (CUDA or CPU)."""

__version__ = "0.1.0"
