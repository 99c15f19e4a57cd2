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
from mnist_onnx.parts import atomic_write, check_writable, default_export_path
from mnist_onnx.errors import ModelError

from .data import load_extra, load_mnist, looks_like_digits
from mnist_onnx.parts import LABELS, OUTPUT_NAME, PREPROCESSING

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
    extra_data: str | Path | None = None,
    **overrides,
) -> ExportResult:
    """Train the MLP, export it to ONNX and verify it; return where everything went.

    *overrides* are TrainConfig fields (hidden, activation, dropout, optimizer, learning_rate, batch_size,
    epochs, patience, augment, seed); None means "the preset's value". *extra_data*: a folder of the user's
    own labelled digits (see `data.load_extra`) trained on beside the data.
    """
    cfg = make_config(preset, **overrides)
    validate(cfg, opset)  # before any data is read or trained
    default = out is None
    out_path = check_writable(Path(out) if out is not None else default_export_path())  # before training
    teacher = resolve_teacher(cfg.teacher) if cfg.teacher else None  # a missing teacher: before the data
    data = load_mnist(data_dir)
    extra = load_extra(extra_data, log) if extra_data is not None else None  # a bad folder: before training
    digits, why = (cfg.digit_styles, "--digit-styles") if cfg.digit_styles is not None else looks_like_digits(data)
    if not digits and overrides.get("augment") is None and cfg.augment:
        cfg = dataclasses.replace(cfg, augment=False)  # handwriting's variations are for handwriting only
        log(f"not handwritten digits ({why}): the plain recipe, no augmentation (--augment to force it)")
    digit_styles = digits and cfg.augment
    fonts = digit_styles and cfg.font_share > 0
    if cfg.augment:
        log(f"digit styles (1s with a flag, hooked 7s, long-tailed and hooked 9s) and handwriting fonts: "
            f"{'on' if digit_styles else 'off'} ({why})")
    x_extra, y_extra = [], []
    if fonts:
        from .fonts import font_digits

        x_font, y_font = font_digits(round(cfg.font_share * len(data.x_train)), cfg.seed)
        x_extra.append(x_font)
        y_extra.append(y_font)
        log(f"font digits: {len(x_font)} renderings of the training fonts' digits")
    if extra is not None:
        x_extra.append(extra[0])
        y_extra.append(extra[1])

    import tensorflow as tf
    import tf2onnx

    model, history = fit(cfg, data, log=log, digit_styles=digit_styles, teacher_path=str(teacher) if teacher else None,
                         extra=(np.concatenate(x_extra), np.concatenate(y_extra)) if x_extra else None)
    unseen_fonts = None
    if fonts:  # fonts never trained on: how the model does on handwriting styles it has not seen
        x_fv, y_fv = font_digits(600, cfg.seed, validation=True)
        probs = model.predict(x_fv.reshape(-1, 784).astype(np.float32) / 255.0, batch_size=2048, verbose=0)
        unseen_fonts = {"images": int(len(y_fv)), "accuracy": round(float((probs.argmax(1) == y_fv).mean()), 4)}
        log(f"held-out fonts: {unseen_fonts['accuracy']:.4f} of {len(y_fv)} digits in styles never trained on")

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
            "unseen_fonts": unseen_fonts,
        },
        "calibration": history.calibration or {"temperature": 1.0, "note": "not calibrated (--no-calibrate)"},
        "min_confidence": ({"value": history.calibration["min_confidence"],
                            "chosen_on": "held-out training digits (see calibration)"}
                           if history.calibration else {"value": None, "note": "not calibrated: never unsure"}),
        "augmentation": {"on": cfg.augment, "digit_styles": bool(digit_styles), "why": why,
                         "font_digits": int(len(y_extra[0])) if fonts else 0},
        "extra_data": ({"path": str(extra_data), "images": int(len(extra[1]))} if extra is not None else None),
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
