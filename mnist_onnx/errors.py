"""Exceptions raised by mnist-onnx.

Every message is one line that names the file (or setting) and the problem, so the command line can print
it as it is and a batch can record it against one file without stopping.
"""

from __future__ import annotations


class MnistOnnxError(Exception):
    """Base class for every error this package raises on purpose."""


class DataError(MnistOnnxError):
    """A dataset file is missing, malformed, truncated or inconsistent."""


class ModelError(MnistOnnxError):
    """A model file is missing, corrupt or does not fit the MNIST contract."""


class ProviderError(MnistOnnxError):
    """The requested execution provider cannot actually run the model."""


class ImageError(MnistOnnxError):
    """One input image cannot be used (empty, truncated, not an image, too large, ...)."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem
