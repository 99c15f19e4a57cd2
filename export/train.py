"""Train the tutorials' MNIST multilayer perceptron (or its convolutional teacher) in TensorFlow.

Read it top to bottom: config as plain values, a model, a train step, an epoch loop that keeps the best epoch
by validation accuracy, then a softmax temperature fitted on held-out digits. With a teacher, each augmented
batch is also shown to the teacher (an ONNX model, run by ONNX Runtime) and the student learns its softened
probabilities as well as the labels (Hinton et al. 2015). onnx_export.py turns the result into ONNX.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._tf import tf

from mnist_onnx.errors import UsageError
from mnist_onnx.parts import expected_calibration_error, soften, softmax, threshold_for

from .augment import AugmentConfig, lowres_variants, style_variants, vary
from .config import TrainConfig
from .data import Dataset, stratified_split


@dataclass
class History:
    epoch: list[int] = dataclasses.field(default_factory=list)
    loss: list[float] = dataclasses.field(default_factory=list)
    accuracy: list[float] = dataclasses.field(default_factory=list)
    val_loss: list[float] = dataclasses.field(default_factory=list)
    val_accuracy: list[float] = dataclasses.field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0
    temperature: float = 1.0  # softmax temperature fitted on held-out augmented digits (1: none)
    calibration: dict = dataclasses.field(default_factory=dict)


def build_model(cfg: TrainConfig) -> tf.keras.Model:
    """784 -> hidden... -> 10 logits, dropout before the output layer. The CNN takes the same flat input
    (one contract for every model we ship) and reshapes it to 28x28 itself."""
    layers = [tf.keras.Input(shape=(784,), name="pixels")]
    if cfg.arch == "cnn":  # 28 -> 14 -> 7: three 3x3 convolutions, ~8 M multiply-adds per digit
        conv = lambda n: tf.keras.layers.Conv2D(n, 3, padding="same", activation=cfg.activation)  # noqa: E731
        layers += [tf.keras.layers.Reshape((28, 28, 1)), conv(16), conv(32), tf.keras.layers.MaxPool2D(),
                   conv(64), tf.keras.layers.MaxPool2D(), tf.keras.layers.Flatten()]
    layers += [tf.keras.layers.Dense(width, activation=cfg.activation) for width in cfg.hidden]
    if cfg.dropout > 0:
        layers.append(tf.keras.layers.Dropout(cfg.dropout))
    layers.append(tf.keras.layers.Dense(10, name="logits"))
    return tf.keras.Sequential(layers)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The T minimising the negative log-likelihood of softmax(logits / T) (Guo et al. 2017): a 1-D search
    over 0.25..8 in log steps, then a finer one around the best. Argmax, hence accuracy, is unchanged."""
    def nll(t: float) -> float:
        z = logits / t
        z = z - z.max(1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]))

    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 81))
    best = grid[int(np.argmin([nll(t) for t in grid]))]
    fine = best * np.exp(np.linspace(-0.05, 0.05, 41))
    return float(fine[int(np.argmin([nll(t) for t in fine]))])


class Teacher:
    """An ONNX model whose probabilities, softened at a temperature, the student learns."""

    def __init__(self, path: str, temperature: float) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.log_severity_level = 3
        self.session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.temperature = temperature

    def __call__(self, x: np.ndarray) -> np.ndarray:
        probs = self.session.run(None, {self.input: x.reshape(len(x), 784).astype(np.float32)})[0]
        return soften(probs, self.temperature)


def fit(cfg: TrainConfig, data: Dataset, log: Callable[[str], None] = print,
        digit_styles: bool = True, teacher_path: str | None = None,
        extra: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[tf.keras.Model, History]:
    """Train on data.x_train (minus a stratified validation split) and return the best epoch's model.

    *digit_styles*: add 1s with a flag or a long flag, 7s with a bar or a hooked top, 9s with a long tail
    (digit data only). *teacher_path*: an ONNX model to distil from (cfg.distill_temperature,
    cfg.distill_weight). *extra*: more training images ((N, 28, 28) uint8, white on black, and labels) --
    font digits, a user's own -- trained on beside data.x_train, varied the same way, never validated on."""
    tf.keras.utils.set_random_seed(cfg.seed)  # seeds Python, NumPy and TensorFlow
    tf.config.experimental.enable_op_determinism()  # same seed, same weights (on CPU)
    rng = np.random.default_rng(cfg.seed)

    # data: flat float32 in [0, 1], white ink on black -- the contract the ONNX model will carry
    train_idx, val_idx = stratified_split(data.y_train, cfg.val_fraction, rng)
    x_u8, y_train = data.x_train[train_idx], data.y_train[train_idx].astype(np.int32)
    if extra is not None and len(extra[0]):
        x_u8, y_train = np.concatenate([x_u8, extra[0]]), np.concatenate([y_train, extra[1].astype(np.int32)])
    x_train = x_u8.reshape(-1, 784).astype(np.float32) / 255.0
    x_val = data.x_train[val_idx].reshape(-1, 784).astype(np.float32) / 255.0
    y_val = data.y_train[val_idx].astype(np.int32)
    log(f"data: {len(x_train)} train ({len(x_train) - len(train_idx)} beside {data.source}) / "
        f"{len(x_val)} validation images from {data.source}")
    aug = AugmentConfig()
    if cfg.augment:  # each digit once more as a tiny 8x8/16x16 source, and (digits) 1s/7s/9s in regional styles
        x_lowres = lowres_variants(x_u8, cfg.seed)
        x_style = style_variants(x_u8, y_train, cfg.seed) if digit_styles else x_train
        log(f"augmentation: low-resolution{' and regional-style' if digit_styles else ''} variants of "
            f"{len(x_lowres)} images made")
    teacher = Teacher(teacher_path, cfg.distill_temperature) if teacher_path else None
    if teacher is not None:
        log(f"teacher: {teacher_path} (temperature {cfg.distill_temperature:g}, weight {cfg.distill_weight:g})")

    model = build_model(cfg)
    if cfg.optimizer == "adam":
        optimizer = tf.keras.optimizers.Adam(cfg.learning_rate)
    elif cfg.optimizer == "sgd":
        optimizer = tf.keras.optimizers.SGD(cfg.learning_rate)
    else:
        raise UsageError(f"unknown optimizer {cfg.optimizer!r}; choose adam or sgd")
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    temp, weight = np.float32(cfg.distill_temperature), np.float32(cfg.distill_weight)

    varied = tf.function(lambda x, x_lowres, x_style: vary(x, x_lowres, x_style, aug))

    @tf.function
    def train_step(x, y, soft):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = loss_fn(y, logits)
            if teacher is not None:  # KL to the teacher at temperature T, scaled by T^2 to keep gradients comparable
                log_q = tf.nn.log_softmax(logits / temp)
                kl = tf.reduce_mean(tf.reduce_sum(soft * (tf.math.log(soft + 1e-12) - log_q), axis=1))
                loss = (1 - weight) * loss + weight * temp * temp * kl
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        correct = tf.reduce_sum(tf.cast(tf.argmax(logits, axis=1, output_type=tf.int32) == y, tf.float32))
        return loss, correct

    @tf.function
    def eval_step(x, y):
        logits = model(x, training=False)
        return loss_fn(y, logits), tf.reduce_mean(tf.cast(tf.argmax(logits, axis=1, output_type=tf.int32) == y, tf.float32))

    history, best_acc, best_weights = History(), -1.0, model.get_weights()
    t0 = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        if cfg.decay:  # cosine from the peak rate down to 1 % of it
            progress = (epoch - 1) / max(1, cfg.epochs - 1)
            optimizer.learning_rate.assign(cfg.learning_rate * (0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * progress))))
        order = rng.permutation(len(x_train))
        total_loss, total_correct = 0.0, 0.0
        for start in range(0, len(order), cfg.batch_size):
            batch = order[start : start + cfg.batch_size]
            x = varied(x_train[batch], x_lowres[batch], x_style[batch]) if cfg.augment else x_train[batch]
            soft = teacher(np.asarray(x)) if teacher is not None else np.zeros((len(batch), 10), np.float32)
            loss, correct = train_step(x, y_train[batch], soft)
            total_loss += float(loss) * len(batch)
            total_correct += float(correct)
        val_loss, val_acc = (float(v) for v in eval_step(x_val, y_val))

        history.epoch.append(epoch)
        history.loss.append(total_loss / len(order))
        history.accuracy.append(total_correct / len(order))
        history.val_loss.append(val_loss)
        history.val_accuracy.append(val_acc)
        improved = val_acc > best_acc
        if improved:
            best_acc, best_weights, history.best_epoch = val_acc, model.get_weights(), epoch
        log(f"epoch {epoch:3d}  loss {history.loss[-1]:.4f}  train acc {history.accuracy[-1]:.4f}  "
            f"val loss {val_loss:.4f}  val acc {val_acc:.4f}{'  *' if improved else ''}")
        if epoch - history.best_epoch >= cfg.patience:
            log(f"early stop: no better validation accuracy for {cfg.patience} epochs")
            break

    model.set_weights(best_weights)
    history.seconds = time.perf_counter() - t0
    log(f"best epoch {history.best_epoch}: val acc {best_acc:.4f} ({history.seconds:.1f} s)")
    if cfg.calibrate:
        x_cal, y_cal = calibration_set(data.x_train[val_idx], y_val, cfg.seed, cfg.augment, digit_styles, aug)
        history.calibration = calibrate(model.predict(x_cal, batch_size=2048, verbose=0), y_cal, log)
        history.temperature = history.calibration["temperature"]
    return model, history


def calibration_set(x_val: np.ndarray, y_val: np.ndarray, seed: int, varied: bool = True, digit_styles: bool = True,
                    aug: AugmentConfig = AugmentConfig()) -> tuple[np.ndarray, np.ndarray]:
    """The held-out digits a temperature is fitted on: the validation digits as they are and once varied as
    training varies them (real handwriting is not clean MNIST: on clean digits alone the temperature would
    make the model surer of users' digits). (N, 28, 28) uint8 in, (2N, 784) float32 [0, 1] out."""
    flat = x_val.reshape(len(x_val), 784).astype(np.float32) / 255.0
    if not varied:
        return np.concatenate([flat, flat]), np.concatenate([y_val, y_val])
    tf.random.set_seed(seed + 7)
    lowres = lowres_variants(x_val, seed + 7)
    styled = style_variants(x_val, y_val, seed + 7) if digit_styles else flat
    return np.concatenate([flat, np.asarray(vary(flat, lowres, styled, aug))]), np.concatenate([y_val, y_val])


def calibrate(logits: np.ndarray, y: np.ndarray, log: Callable[[str], None] = print) -> dict:
    """Fit the temperature on held-out *logits* (or log-probabilities: the same softmax) and choose the
    default `unsure` threshold there: the lowest confidence keeping 99 % of the answers above it right.
    Returns the card's `calibration` record."""
    t = fit_temperature(logits, y)
    raw = softmax(logits)
    calibrated = soften(raw, t)
    right = raw.argmax(1) == y
    before = expected_calibration_error(raw.max(1), right)
    after = expected_calibration_error(calibrated.max(1), right)
    threshold = threshold_for(calibrated.max(1), right, 0.99)
    log(f"calibration: temperature {t:.3f} (ECE {before:.4f} -> {after:.4f} on {len(y)} held-out digits); "
        f"unsure below {threshold:.3f}")
    return {"temperature": round(t, 4), "images": int(len(y)),
            "held_out": "the validation digits, as they are and once varied like training",
            "ece_before": round(before, 5), "ece_after": round(after, 5),
            "min_confidence": round(threshold, 4),
            "min_confidence_rule": "lowest threshold keeping 99 % of the answers above it right",
            "kept_at_min_confidence": round(float((calibrated.max(1) >= threshold).mean()), 4)}
