"""The export job, top to bottom: data -> training -> ONNX -> parity gate -> files."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import mnist_onnx
from mnist_onnx._paths import atomic_write, check_writable, default_export_path
from mnist_onnx.errors import ModelError

from .data import is_mnist, load_mnist
from mnist_onnx._contract import LABELS, OUTPUT_NAME, PREPROCESSING

from .onnx_export import add_metadata, check_parity, to_onnx
from .report import confusion_matrix, plot_confusion, plot_curves
from .config import make_config, resolve_teacher, validate
from .train import fit

SANITY_FLOOR = 0.5  # a model below this on its own test split is broken, not merely weak: never the default


@dataclass
class ExportResult:
    model_path: Path
    card_path: Path
    curves_path: Path
    confusion_path: Path
    card: dict


def _card_name(path: Path) -> str | None:
    import onnx

    try:
        meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        return json.loads(meta.get("model_card", "{}")).get("name")
    except Exception:  # noqa: BLE001 -- a third-party teacher has no card: fine
        return None


def sidecar(model_path: Path, suffix: str) -> Path:
    """`model.onnx` -> `model.card.json`, `model.curves.png`, ..."""
    return model_path.with_name(model_path.stem + suffix)


def export_model(
    data_dir: str | Path | None = None,
    out: str | Path | None = None,
    preset: str = "tutorial",
    opset: int = 17,
    log: Callable[[str], None] = print,
    **overrides,
) -> ExportResult:
    """Train the MLP, export it to ONNX and verify it; return where everything went.

    *overrides* are TrainConfig fields (hidden, activation, dropout, optimizer, learning_rate, batch_size,
    epochs, patience, augment, seed); None means "the preset's value".
    """
    cfg = make_config(preset, **overrides)
    validate(cfg, opset)  # before any data is read or trained
    default = out is None
    out_path = check_writable(Path(out) if out is not None else default_export_path())  # before training
    teacher = resolve_teacher(cfg.teacher) if cfg.teacher else None  # a missing teacher: before the data
    data = load_mnist(data_dir)
    digit_styles = cfg.digit_styles if cfg.digit_styles is not None else is_mnist(data.source)
    if cfg.augment:
        log(f"digit styles (1s with a flag, 7s with a bar): {'on' if digit_styles else 'off'} "
            f"({'--digit-styles' if cfg.digit_styles is not None else 'MNIST by checksum' if digit_styles else 'not MNIST by checksum'})")

    import tensorflow as tf
    import tf2onnx

    model, history = fit(cfg, data, log=log, digit_styles=digit_styles, teacher_path=str(teacher) if teacher else None)

    proto = to_onnx(model, opset=opset, temperature=history.temperature)
    x_test = data.x_test.reshape(-1, 784).astype(np.float32) / 255.0
    parity = check_parity(model, proto.SerializeToString(), x_test, history.temperature)  # raises: nothing written
    y_pred = parity.pop("probabilities").argmax(1)
    test_acc = float((y_pred == data.y_test).mean())
    log(f"test accuracy {test_acc:.4f} on {len(x_test)} images; ONNX matches TensorFlow "
        f"(max |Δp| {parity['max_abs_probability_diff']:.1e})")

    if test_acc < SANITY_FLOOR and default:
        raise ModelError(f"the trained model scores {test_acc:.1%} on its own test split (below the "
                         f"{SANITY_FLOOR:.0%} sanity floor): not installed as the default model; check the options")
    if test_acc < SANITY_FLOOR:
        log(f"warning: the model scores {test_acc:.1%} on its own test split, below the {SANITY_FLOOR:.0%} sanity floor")

    import onnx
    import onnxruntime

    widths = "-".join(str(w) for w in (784, *cfg.hidden, 10))
    if cfg.arch == "cnn":
        shape = f"CNN conv3x3 16-32-pool-64-pool, dense {'-'.join(str(w) for w in (*cfg.hidden, 10))}, {cfg.activation}"
    else:
        shape = f"MLP {widths}, {cfg.activation}" if cfg.hidden else f"softmax regression {widths}"
    card = {
        "name": f"mnist-onnx {cfg.preset}",
        "architecture": shape + (f", dropout {cfg.dropout}" if cfg.dropout else ""),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "input": {"name": PREPROCESSING["input"], "shape": ["batch", 784], "dtype": "float32"},
        "output": {"name": OUTPUT_NAME, "shape": ["batch", 10], "kind": "softmax probabilities"},
        "preprocessing": PREPROCESSING,
        "labels": LABELS,
        "metrics": {
            "test_accuracy": test_acc,
            "validation_accuracy": history.val_accuracy[history.best_epoch - 1],
            "best_epoch": history.best_epoch,
            "epochs_run": len(history.epoch),
            "train_seconds": round(history.seconds, 2),
            "parity": parity,
        },
        "calibration": history.calibration or {"temperature": 1.0, "note": "not calibrated (--no-calibrate)"},
        "min_confidence": ({"value": history.calibration["min_confidence"],
                            "chosen_on": "held-out training digits (see calibration)"}
                           if history.calibration else {"value": None, "note": "not calibrated: never unsure"}),
        "augmentation": {"on": cfg.augment, "digit_styles": bool(cfg.augment and digit_styles)},
        "teacher": ({"path": str(teacher), "temperature": cfg.distill_temperature, "weight": cfg.distill_weight,
                     "name": _card_name(teacher)} if teacher else None),
        "config": dataclasses.asdict(cfg),
        "data": {
            "source": data.source,
            "train_images": int(len(data.x_train)),
            "test_images": int(len(data.x_test)),
            "sha256": data.sha256,
        },
        "history": {k: v for k, v in dataclasses.asdict(history).items() if isinstance(v, list)},
        "versions": {
            "mnist_onnx": mnist_onnx.__version__,
            "tensorflow": tf.__version__,
            "tf2onnx": tf2onnx.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "opset": opset,
        },
        "command": " ".join(Path(sys.argv[0]).name if i == 0 else a for i, a in enumerate(sys.argv)),
    }
    add_metadata(proto, card)

    with atomic_write(out_path, "wb") as f:
        f.write(proto.SerializeToString())
    result = ExportResult(out_path, sidecar(out_path, ".card.json"), sidecar(out_path, ".curves.png"),
                          sidecar(out_path, ".confusion.png"), card)
    with atomic_write(result.card_path) as f:
        json.dump(card, f, indent=2)
    plot_curves(history, result.curves_path, f"{card['name']}: {card['architecture']}")
    plot_confusion(confusion_matrix(data.y_test, y_pred), result.confusion_path,
                   f"test set: {test_acc:.2%} of {len(y_pred)} correct")
    log(f"wrote {out_path} (+ {result.card_path.name}, {result.curves_path.name}, {result.confusion_path.name})")
    return result
