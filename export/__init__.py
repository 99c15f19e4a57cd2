"""Training and ONNX export for mnist-onnx (installed as `mnist_onnx_export`; needs the `export` extra).

`export_model()` is the whole job: load data, train, convert, verify against TensorFlow, write the model and
its card and pictures. The `mnist-onnx export` command is a thin wrapper around it.

TensorFlow is imported on first use of `export_model` (or the training modules), not by importing this
package: `mnist_onnx_export.config` checks options without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .config import PRESETS, TrainConfig, make_config, resolve_teacher, validate

__all__ = ["ExportResult", "PRESETS", "ReaderConfig", "TrainConfig", "export_model", "export_reader", "make_config",
           "resolve_teacher", "validate"]

if TYPE_CHECKING:
    from .pipeline import ExportResult, export_model
    from .reader import ReaderConfig, export_reader


def __getattr__(name: str):
    if name in ("ExportResult", "export_model"):
        return getattr(importlib.import_module(".pipeline", __name__), name)
    if name in ("ReaderConfig", "export_reader"):  # the sequence reader (`--preset reader`)
        return getattr(importlib.import_module(".reader", __name__), name)
    raise AttributeError(f"module 'mnist_onnx_export' has no attribute {name!r}")
