"""The runtime's parts the export side (`mnist_onnx_export`: training, the reader's strings, ONNX export)
builds on: one small, documented surface, so that export never reaches into private modules and a change to
one of these names is a change to this page.

- the model contract both sides keep: input and output names, metadata keys, labels, preprocessing;
- images as the runtime sees them: `load_image`, `to_mnist` (a digit's 28x28 normal form), `levels` (an image's
  ink, white on black, in [0, 1]: background, polarity and noise floor as `classify` decides them);
- the reader's line: `find_line`, `to_input`, `pad_batch`, `HEIGHT`, `STRIDE`, `ctc_greedy` and `ctc_probability`
  (CTC decoding);
- calibration: `soften` (temperature), `threshold_for` (the `unsure` threshold), `softmax`,
  `expected_calibration_error`;
- data and files: `find_split`/`load_split` (IDX), `named_model`, `atomic_write`, `check_writable`,
  `default_export_path`, `user_cache_dir`.
"""

from __future__ import annotations

from ._calibration import expected_calibration_error, soften, softmax, threshold_for
from .image.levels import levels as levels
from ._contract import (INPUT_NAME, KEY_LABELS, KEY_MIN_CONFIDENCE, KEY_MODEL_CARD, KEY_OUTPUT, KEY_PREPROCESSING,
                        KEY_TEST_ACCURACY, KEY_VALIDATION_ACCURACY, LABELS, OUTPUT_NAME, PREPROCESSING)
from ._idx import find_split, load_split
from .image.line import HEIGHT, STRIDE, ctc_greedy, ctc_probability, find_line, pad_batch, to_input
from ._model import named_model
from ._paths import atomic_write, check_writable, default_export_path, user_cache_dir
from .image.normal import load_image, to_mnist

__all__ = [
    "INPUT_NAME", "OUTPUT_NAME", "LABELS", "PREPROCESSING", "KEY_LABELS", "KEY_MIN_CONFIDENCE", "KEY_MODEL_CARD",
    "KEY_OUTPUT", "KEY_PREPROCESSING", "KEY_TEST_ACCURACY", "KEY_VALIDATION_ACCURACY",
    "load_image", "to_mnist", "levels",
    "find_line", "to_input", "pad_batch", "HEIGHT", "STRIDE", "ctc_greedy", "ctc_probability",
    "soften", "threshold_for", "softmax", "expected_calibration_error",
    "find_split", "load_split", "named_model", "atomic_write", "check_writable", "default_export_path",
    "user_cache_dir",
]
