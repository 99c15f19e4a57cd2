"""Calibrate a model exported before `export` fitted temperatures: the same held-out digits, the same fit,
the temperature added to the graph. How the bundled MLP (exported by 0.3.0) got its calibration.

    python -m mnist_onnx_export.calibrate MODEL.onnx --data ../shared/mnist-full [--output OUT.onnx]

The validation split is the one the model was trained without: remade from the seed and validation
fraction in its card, on the data its card names (checked by SHA-256). The graph gains three nodes after
its output -- `softmax(log(p) / T)`, which equals `softmax(logits / T)` -- and is checked against NumPy on
the whole test set before anything is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from mnist_onnx.parts import KEY_MODEL_CARD, OUTPUT_NAME
from mnist_onnx.errors import DataError, MnistOnnxError, ModelError

from .data import load_mnist, stratified_split
from .onnx_export import rewrite


def with_temperature(proto: onnx.ModelProto, temperature: float) -> onnx.ModelProto:
    """*proto* with its probabilities replaced by softmax(log(p) / T)."""
    graph = proto.graph
    raw = OUTPUT_NAME + "_uncalibrated"
    for node in graph.node:
        node.output[:] = [raw if o == OUTPUT_NAME else o for o in node.output]
    scale = numpy_helper.from_array(np.array(1.0 / temperature, np.float32), "calibration_inverse_temperature")
    graph.initializer.append(scale)
    graph.node.extend([
        helper.make_node("Log", [raw], [raw + "_log"], name="calibration_log"),
        helper.make_node("Mul", [raw + "_log", scale.name], [raw + "_scaled"], name="calibration_scale"),
        helper.make_node("Softmax", [raw + "_scaled"], [OUTPUT_NAME], axis=-1, name="calibration_softmax"),
    ])
    return proto


def calibrate_model(model: str | Path, data_dir: str | Path, out: str | Path | None = None) -> dict:
    """Fit and add the temperature; write the model (in place by default) and its card. Returns the card."""
    import onnxruntime as ort

    from mnist_onnx.parts import soften

    from .train import calibrate, calibration_set

    model, out = Path(model), Path(out) if out is not None else Path(model)
    if not model.is_file():
        raise ModelError(f"{model}: {'is a folder, not a' if model.is_dir() else 'no such'} model file")
    try:
        proto = onnx.load(str(model))
    except Exception as e:  # noqa: BLE001 -- DecodeError, OSError, ...: not an ONNX model we can read
        raise ModelError(f"{model}: not a loadable ONNX model ({type(e).__name__})") from None
    meta = {p.key: p.value for p in proto.metadata_props}
    card = json.loads(meta.get(KEY_MODEL_CARD, "null") or "null")
    if not card:
        raise ModelError(f"{model}: no model card (not exported by mnist-onnx): its training split is unknown")
    if card.get("calibration", {}).get("temperature", 1.0) != 1.0:
        raise ModelError(f"{model}: already calibrated (temperature {card['calibration']['temperature']})")
    data = load_mnist(data_dir)
    if data.sha256 != card["data"]["sha256"]:
        raise DataError(f"{data_dir}: not the data {model} was trained on (the SHA-256 sums differ from its card)")
    cfg = card["config"]
    _, val_idx = stratified_split(data.y_train, cfg["val_fraction"], np.random.default_rng(cfg["seed"]))
    digit_styles = bool((card.get("augmentation") or {}).get("digit_styles"))  # as it was trained
    x_cal, y_cal = calibration_set(data.x_train[val_idx], data.y_train[val_idx].astype(np.int64), cfg["seed"],
                                   cfg["augment"], digit_styles)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    probs = session.run(None, {session.get_inputs()[0].name: x_cal})[0]
    record = calibrate(np.log(np.clip(probs, 1e-30, 1.0)), y_cal)
    calibrated = with_temperature(proto, record["temperature"])
    x_test = data.x_test.reshape(-1, 784).astype(np.float32) / 255.0
    check = ort.InferenceSession(calibrated.SerializeToString(), providers=["CPUExecutionProvider"])
    got = check.run(None, {check.get_inputs()[0].name: x_test})[0]
    raw = session.run(None, {session.get_inputs()[0].name: x_test})[0]
    want = soften(raw, record["temperature"])
    if np.abs(got - want).max() > 1e-5 or (got.argmax(1) != raw.argmax(1)).any():
        raise ModelError(f"{model}: the calibrated graph does not match NumPy (max |Δp| {np.abs(got - want).max():.1e})")
    card["calibration"] = {**record, "added": "afterwards, by mnist_onnx_export.calibrate"}
    card["min_confidence"] = {"value": record["min_confidence"], "chosen_on": "held-out training digits (see calibration)"}
    rewrite(out, calibrated, card)
    return card


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--data", type=Path, required=True, help="the IDX folder the model was trained on")
    ap.add_argument("--output", "-o", type=Path, default=None, help="default: the model itself")
    args = ap.parse_args()
    try:
        card = calibrate_model(args.model, args.data, args.output)
    except (MnistOnnxError, OSError, ValueError) as e:  # one line, exit 2, as the command line does (#29)
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"wrote {args.output or args.model}: temperature {card['calibration']['temperature']}")


if __name__ == "__main__":
    main()
