"""TensorFlow, imported once and quietly: its C++ start-up chatter (no CUDA here, oneDNN notes) is not for
our users. The environment defaults are set only if the user has not chosen otherwise."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from mnist_onnx._quiet import quiet_fds  # noqa: E402

with quiet_fds():  # absl prints "cudart_stub ... GPU will not be used" at import, whatever the log level
    import tensorflow as tf  # noqa: E402

__all__ = ["tf"]
