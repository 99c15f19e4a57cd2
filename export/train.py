"""Train the tutorials' MNIST multilayer perceptron in TensorFlow.

Read it top to bottom: config as plain values, a model, a train step, an epoch loop that keeps the best epoch
by validation accuracy. Nothing else happens here; onnx_export.py turns the result into ONNX.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._tf import tf

from .augment import AugmentConfig, augment, lowres_variants, style_variants
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
    aug = AugmentConfig()
    if cfg.augment:  # each digit once more as a tiny 8x8/16x16 source, and 1s/7s in regional styles
        x_lowres = lowres_variants(data.x_train[train_idx], cfg.seed)
        x_style = style_variants(data.x_train[train_idx], y_train, cfg.seed)
        log(f"augmentation: low-resolution and regional-style variants of {len(x_lowres)} digits made")

    model = build_model(cfg)
    if cfg.optimizer == "adam":
        optimizer = tf.keras.optimizers.Adam(cfg.learning_rate)
    elif cfg.optimizer == "sgd":
        optimizer = tf.keras.optimizers.SGD(cfg.learning_rate)
    else:
        raise ValueError(f"unknown optimizer {cfg.optimizer!r}; choose adam or sgd")
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def train_step(x, y, x_lowres, x_style):
        if cfg.augment:  # per image: the original, its low-resolution or its regional-style variant
            r = tf.random.uniform([tf.shape(x)[0], 1])
            x = tf.where(r < aug.p_lowres, x_lowres, tf.where(r < aug.p_lowres + aug.p_style, x_style, x))
            x = augment(x, aug)
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
            variants = (x_lowres[batch], x_style[batch]) if cfg.augment else (x_train[batch], x_train[batch])
            loss, correct = train_step(x_train[batch], y_train[batch], *variants)
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
