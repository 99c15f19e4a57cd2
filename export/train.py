"""Train the tutorials' MNIST multilayer perceptron in TensorFlow.

Read it top to bottom: config as plain values, a model, a train step, an epoch loop that keeps the best epoch
by validation accuracy. Nothing else happens here; export.py turns the result into ONNX.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .augment import AugmentConfig, augment, lowres_variants
from .data import Dataset, stratified_split


@dataclass
class TrainConfig:
    preset: str = "tutorial"
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
    val_fraction: float = 5000 / 60000  # the tutorials' 55,000 / 5,000 split, scaled to the data
    seed: int = 0


# Each tutorial network with its own optimiser settings; `tutorial` is the default (with ReLU added).
PRESETS: dict[str, dict] = {
    "tutorial": dict(),
    "softmax": dict(decay=False, epochs=60, patience=12, hidden=(), dropout=0.0, optimizer="sgd", learning_rate=0.5, batch_size=100, augment=False),
    "mlp300": dict(decay=False, epochs=60, patience=12, hidden=(300,), dropout=0.0, optimizer="sgd", learning_rate=0.5, batch_size=100, augment=False),
    "mlp200": dict(decay=False, epochs=60, patience=12, hidden=(200,), dropout=0.0, optimizer="adam", learning_rate=1e-3, batch_size=1000, augment=False),
    "sigmoid5": dict(decay=False, epochs=60, patience=12, hidden=(200, 100, 60, 30), activation="sigmoid", dropout=0.0, optimizer="adam",
                     learning_rate=3e-3, batch_size=100, augment=False),
}


def make_config(preset: str = "tutorial", **overrides) -> TrainConfig:
    """A preset's config with the non-None *overrides* applied on top."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    return dataclasses.replace(TrainConfig(preset=preset), **values)


@dataclass
class History:
    epoch: list[int] = dataclasses.field(default_factory=list)
    loss: list[float] = dataclasses.field(default_factory=list)
    accuracy: list[float] = dataclasses.field(default_factory=list)
    val_loss: list[float] = dataclasses.field(default_factory=list)
    val_accuracy: list[float] = dataclasses.field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


def build_model(cfg: TrainConfig) -> tf.keras.Model:
    """784 -> hidden... -> 10 logits, dropout before the output layer."""
    layers = [tf.keras.Input(shape=(784,), name="pixels")]
    layers += [tf.keras.layers.Dense(width, activation=cfg.activation) for width in cfg.hidden]
    if cfg.dropout > 0:
        layers.append(tf.keras.layers.Dropout(cfg.dropout))
    layers.append(tf.keras.layers.Dense(10, name="logits"))
    return tf.keras.Sequential(layers)


def fit(cfg: TrainConfig, data: Dataset, log: Callable[[str], None] = print) -> tuple[tf.keras.Model, History]:
    """Train on data.x_train (minus a stratified validation split) and return the best epoch's model."""
    tf.keras.utils.set_random_seed(cfg.seed)  # seeds Python, NumPy and TensorFlow
    tf.config.experimental.enable_op_determinism()  # same seed, same weights (on CPU)
    rng = np.random.default_rng(cfg.seed)

    # data: flat float32 in [0, 1], white ink on black -- the contract the ONNX model will carry
    x_all = data.x_train.reshape(-1, 784).astype(np.float32) / 255.0
    train_idx, val_idx = stratified_split(data.y_train, cfg.val_fraction, rng)
    x_train, y_train = x_all[train_idx], data.y_train[train_idx].astype(np.int32)
    x_val, y_val = x_all[val_idx], data.y_train[val_idx].astype(np.int32)
    log(f"data: {len(x_train)} train / {len(x_val)} validation images from {data.source}")
    if cfg.augment:  # each digit once more, as a tiny 8x8/16x16 source through the runtime's preprocessing
        x_lowres = lowres_variants(data.x_train[train_idx], cfg.seed)
        log(f"augmentation: low-resolution variants of {len(x_lowres)} digits made")
    aug = AugmentConfig()

    model = build_model(cfg)
    if cfg.optimizer == "adam":
        optimizer = tf.keras.optimizers.Adam(cfg.learning_rate)
    elif cfg.optimizer == "sgd":
        optimizer = tf.keras.optimizers.SGD(cfg.learning_rate)
    else:
        raise ValueError(f"unknown optimizer {cfg.optimizer!r}; choose adam or sgd")
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def train_step(x, y, x_lowres):
        if cfg.augment:
            use_lowres = tf.random.uniform([tf.shape(x)[0], 1]) < aug.p_lowres
            x = augment(tf.where(use_lowres, x_lowres, x), aug)
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = loss_fn(y, logits)
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
            loss, correct = train_step(x_train[batch], y_train[batch], x_lowres[batch] if cfg.augment else x_train[batch])
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
    return model, history
