"""mnist-onnx: classify handwritten digits with an ONNX model and ONNX Runtime (CUDA or CPU).

    >>> import mnist_onnx
    >>> clf = mnist_onnx.Classifier()              # the bundled model; provider="auto"|"cpu"|"cuda"
    >>> clf.predict(images)                        # (N, 10) probabilities for (N, 28, 28) MNIST arrays
    >>> clf.classify("digit.png").digit            # any PNG: polarity, transparency, size handled
    >>> for r in clf.classify_files("scans/", recursive=True): ...
    >>> clf.read("date.png").number                # a whole handwritten number: "2024", leading zeros kept

Never imports TensorFlow. Names are imported lazily so that worker processes and `--help` stay light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__

_EXPORTS = {
    "Classifier": "._classifier",
    "Prediction": "._classifier",
    "Options": "._classifier",
    "FileResult": "._schema",
    "Reading": "._schema",
    "DigitBox": "._schema",
    "ModelInfo": "._model",
    "Preprocessing": "._model",
    "resolve_model": "._model",
    "load_image": ".image.normal",
    "PreprocessConfig": ".image.normal",
    "Evaluation": "._evaluate",
    "evaluate": "._evaluate",
    "model_summary": "._model",
    "iter_files": "._files",
    "load_idx": "._idx",
    "parse_digits": "._schema",
    "MnistOnnxError": ".errors",
    "DataError": ".errors",
    "ModelError": ".errors",
    "ProviderError": ".errors",
    "ImageError": ".errors",
    "OutputError": ".errors",
    "UsageError": ".errors",
    "EngineError": ".errors",
    "Status": ".errors",
}
_ALIASES = {"load_idx": "load_split"}

__all__ = [  # static, so tools and readers see the public API without running anything
    "__version__",
    "Classifier",
    "Prediction",
    "Options",
    "FileResult",
    "Reading",
    "DigitBox",
    "ModelInfo",
    "Preprocessing",
    "PreprocessConfig",
    "resolve_model",
    "load_image",
    "Evaluation",
    "evaluate",
    "model_summary",
    "iter_files",
    "load_idx",
    "parse_digits",
    "MnistOnnxError",
    "DataError",
    "ModelError",
    "ProviderError",
    "ImageError",
    "OutputError",
    "UsageError",
    "EngineError",
    "Status",
]
assert set(__all__) == {"__version__", *_EXPORTS}

if TYPE_CHECKING:
    from ._classifier import Classifier, Options, Prediction
    from ._evaluate import Evaluation
    from ._evaluate import evaluate
    from ._files import iter_files
    from ._idx import load_split as load_idx
    from ._model import ModelInfo, Preprocessing, model_summary, resolve_model
    from ._schema import DigitBox, FileResult, Reading, parse_digits
    from .image.normal import PreprocessConfig, load_image
    from .errors import (DataError, EngineError, ImageError, MnistOnnxError, ModelError, OutputError, ProviderError,
                         Status, UsageError)


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(_EXPORTS[name], __name__)
        value = getattr(module, _ALIASES.get(name, name))
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mnist_onnx' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
