"""Training and ONNX export for mnist-onnx (installed as `mnist_onnx_export`; needs the `export` extra).

`export_model()` is the whole job: load data, train, convert, verify against TensorFlow, write the model and
its card and pictures. The `mnist-onnx export` command is a thin wrapper around it.
"""

from __future__ import annotations

import os

# TensorFlow's C++ start-up chatter (no CUDA here, oneDNN notes, ...) is not for our users.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from mnist_onnx._quiet import quiet_fds  # noqa: E402

with quiet_fds():  # absl prints "cudart_stub ... GPU will not be used" at import, whatever the log level
    import tensorflow  # noqa: E402,F401

from .pipeline import ExportResult, export_model  # noqa: E402
from .train import PRESETS, TrainConfig, make_config  # noqa: E402

__all__ = ["ExportResult", "PRESETS", "TrainConfig", "export_model", "make_config"]
