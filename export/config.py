"""Training configuration: plain values, the tutorials' presets, and their validation.

No TensorFlow here: the command line checks every option before the (slow) TensorFlow import.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from mnist_onnx.errors import UsageError, about

ARCHS = ("mlp", "cnn")
ACTIVATIONS = ("relu", "sigmoid", "tanh")  # tf2onnx converts these exactly
OPTIMIZERS = ("adam", "sgd")
OPSETS = range(13, 19)  # what tf2onnx 1.16+ and onnxruntime 1.20+ both support for these layers


@dataclass
class TrainConfig:
    preset: str = "tutorial"
    arch: str = "mlp"  # mlp: 784 -> hidden -> 10; cnn: three 3x3 convolutions with pooling, then hidden -> 10
    hidden: tuple[int, ...] = (512, 256, 128)  # hidden layer widths; () is plain softmax regression
    activation: str = "relu"  # relu | sigmoid | tanh
    dropout: float = 0.5  # before the output layer, as in the tutorial
    optimizer: str = "adam"  # adam | sgd
    learning_rate: float = 1e-3  # peak; decays to 1 % of it along a cosine over `epochs` when `decay` is on
    decay: bool = True
    batch_size: int = 128
    epochs: int = 40  # the learning rate schedule spans these; early stopping may end sooner
    patience: int = 40  # epochs without a better validation accuracy before stopping
    augment: bool = True  # vary the training digits like real handwriting (augment.py)
    digit_styles: bool | None = None  # digit-only material (1s with a flag, hooked 7s, font digits): None = on digits
    font_share: float = 0.35  # font digits added (export/fonts.py), as a share of the training images; 0: none
    teacher: str | None = None  # an ONNX model (path, or `cnn` for the bundled one) whose soft targets we learn
    distill_temperature: float = 3.0  # softens the teacher's probabilities (Hinton et al. 2015)
    distill_weight: float = 0.7  # share of the loss from the teacher; the rest from the true labels
    calibrate: bool = True  # fit a softmax temperature on held-out, augmented digits; bake it into the model
    val_fraction: float = 5000 / 60000  # the tutorials' 55,000 / 5,000 split, scaled to the data
    seed: int = 0


_PLAIN: dict = dict(decay=False, epochs=60, patience=12, augment=False, font_share=0.0)

# Each tutorial network with its own optimiser settings; `tutorial` is the default (with ReLU added).
PRESETS: dict[str, dict] = {
    "tutorial": dict(),
    # The convolutional teacher: small enough for 2 CPU cores, same augmentation, same contract (N, 784 in).
    "cnn": dict(arch="cnn", hidden=(128,), dropout=0.3, learning_rate=2e-3, epochs=15, patience=15),
    # The plain tutorial networks: their own optimisers, no augmentation, constant rate, early stopping.
    "softmax": dict(hidden=(), dropout=0.0, optimizer="sgd", learning_rate=0.5, batch_size=100, **_PLAIN),
    "mlp300": dict(hidden=(300,), dropout=0.0, optimizer="sgd", learning_rate=0.5, batch_size=100, **_PLAIN),
    "mlp200": dict(hidden=(200,), dropout=0.0, optimizer="adam", learning_rate=1e-3, batch_size=1000, **_PLAIN),
    "sigmoid5": dict(hidden=(200, 100, 60, 30), activation="sigmoid", dropout=0.0, optimizer="adam",
                     learning_rate=3e-3, batch_size=100, **_PLAIN),
}


def make_config(preset: str = "tutorial", **overrides) -> TrainConfig:
    """A preset's config with the non-None *overrides* applied on top (not validated: see `validate`)."""
    if preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    return dataclasses.replace(TrainConfig(preset=preset), **values)


def validate(cfg: TrainConfig, opset: int = 17) -> None:
    """Raise UsageError (a ValueError) naming the option and its allowed range: before any data is loaded or trained."""
    def bad(parameter: str, value: object, allowed: str) -> UsageError:
        return about(UsageError(f"{parameter} {value}: {allowed}"), parameter)

    if cfg.arch not in ARCHS:
        raise bad("arch", cfg.arch, f"choose {' or '.join(ARCHS)}")
    if not all(isinstance(w, int) and 1 <= w <= 65536 for w in cfg.hidden):
        raise bad("hidden", ",".join(map(str, cfg.hidden)), "each layer width must be an integer from 1 to 65536")
    if cfg.activation not in ACTIVATIONS:
        raise bad("activation", cfg.activation, f"choose {', '.join(ACTIVATIONS)} (others do not convert to ONNX exactly)")
    if cfg.optimizer not in OPTIMIZERS:
        raise bad("optimizer", cfg.optimizer, f"choose {' or '.join(OPTIMIZERS)}")
    if not (math.isfinite(cfg.dropout) and 0.0 <= cfg.dropout < 1.0):
        raise bad("dropout", cfg.dropout, "must be at least 0 and below 1 (1 drops everything)")
    if not (math.isfinite(cfg.learning_rate) and 0.0 < cfg.learning_rate <= 10.0):
        raise bad("learning_rate", cfg.learning_rate, "must be a positive number, at most 10")
    if not 1 <= cfg.batch_size <= 1_000_000:
        raise bad("batch_size", cfg.batch_size, "must be from 1 to 1,000,000")
    if not 1 <= cfg.epochs <= 10_000:
        raise bad("epochs", cfg.epochs, "must be from 1 to 10,000")
    if not 1 <= cfg.patience <= 10_000:
        raise bad("patience", cfg.patience, "must be from 1 to 10,000")
    if not (math.isfinite(cfg.distill_temperature) and 0.1 <= cfg.distill_temperature <= 100):
        raise bad("distill_temperature", cfg.distill_temperature, "must be from 0.1 to 100")
    if not (math.isfinite(cfg.distill_weight) and 0.0 <= cfg.distill_weight <= 1.0):
        raise bad("distill_weight", cfg.distill_weight, "must be from 0 to 1")
    if not (math.isfinite(cfg.font_share) and 0.0 <= cfg.font_share <= 10.0):
        raise bad("font_share", cfg.font_share, "must be from 0 to 10")
    if opset not in OPSETS:
        raise bad("opset", opset, f"must be from {OPSETS.start} to {OPSETS.stop - 1}")


def resolve_teacher(teacher: str) -> Path:
    """A teacher model: a path, or the name of a bundled model (`cnn`). Raises ModelError (one line) when
    there is no such file -- checked by the command line before TensorFlow loads, and by `export_model`."""
    from mnist_onnx.parts import named_model
    from mnist_onnx.errors import ModelError

    path = named_model(teacher) or Path(teacher)
    if not path.is_file():
        raise about(ModelError(f"teacher {teacher}: no such model file (a path, or a bundled model's name: cnn)"), "teacher")
    return path
