"""The contract between a model file and the runtime: the metadata keys `export` writes into the ONNX
model and `classify` reads back, and what our own models promise. Both sides import these names; change
them here, and only together with a version bump of the format.
"""

from __future__ import annotations

# metadata_props keys
KEY_PREPROCESSING = "preprocessing"  # JSON object, see PREPROCESSING
KEY_LABELS = "labels"  # JSON list of 10 strings
KEY_OUTPUT = "output"  # "probabilities" or "logits"
KEY_MODEL_CARD = "model_card"  # JSON object: metrics, training config, data checksums, versions
KEY_MIN_CONFIDENCE = "min_confidence"  # the default threshold below which a digit is `unsure`, as text
KEY_TEST_ACCURACY = "test_accuracy"
KEY_VALIDATION_ACCURACY = "validation_accuracy"

INPUT_NAME = "pixels"
OUTPUT_NAME = "probabilities"
LABELS = [str(d) for d in range(10)]

# What any runtime must do to an image before feeding it to one of our models.
PREPROCESSING = {
    "input": INPUT_NAME,
    "layout": "N,784",  # 28x28 rows flattened, row-major
    "dtype": "float32",
    "scale": 1 / 255,  # uint8 pixel * scale
    "mean": 0.0,  # then (x - mean) / std
    "std": 1.0,
    "range": [0.0, 1.0],
    "ink": "white-on-black",  # as all of MNIST: 0 = background, 1 = ink
    "size": [28, 28],
    "centering": "mnist",  # digit fitted to 20x20 and centred by centre of mass in 28x28
}
INKS = ("white-on-black", "black-on-white")

# The sequence reader (`export --preset reader`): lines of LINE_HEIGHT rows in ([N, 32, W], float32, white ink on
# black, `image.line.to_input`), per LINE_STRIDE columns one frame of probabilities over 0-9 and CTC's blank out.
LINE_HEIGHT = 32
LINE_STRIDE = 4
LINE_CLASSES = 11
