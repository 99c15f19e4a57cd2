"""Turn a trained Keras model into a self-describing ONNX model, and refuse to write it unless it agrees
with TensorFlow on the whole test set.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from ._tf import tf
import tf2onnx

from mnist_onnx.parts import (INPUT_NAME, KEY_LABELS, KEY_MIN_CONFIDENCE, KEY_MODEL_CARD, KEY_OUTPUT, KEY_PREPROCESSING,
                               KEY_TEST_ACCURACY, KEY_VALIDATION_ACCURACY, LABELS, OUTPUT_NAME, PREPROCESSING)

PARITY_TOLERANCE = 1e-5


from mnist_onnx.errors import ParityError, UsageError  # noqa: E402  -- one exception tree (errors.py)


def to_onnx(model: tf.keras.Model, opset: int = 17, temperature: float = 1.0) -> onnx.ModelProto:
    """Convert *model* (784 -> 10 logits) to ONNX with softmax included and a dynamic batch dimension. The
    calibration *temperature* is part of the graph: every runtime reading the model gets calibrated
    probabilities, at no cost."""

    @tf.function(input_signature=[tf.TensorSpec([None, 784], tf.float32, name=INPUT_NAME)])
    def serve(pixels):
        return {OUTPUT_NAME: tf.nn.softmax(model(pixels, training=False) / temperature)}

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=serve.input_signature, opset=opset)
    for value in (*proto.graph.input, *proto.graph.output):  # tf2onnx names it "unk__N"; say what it is
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    return proto


def add_metadata(proto: onnx.ModelProto, card: dict, preprocessing: dict | None = None) -> None:
    """Embed the preprocessing contract, labels and the whole model card as metadata_props."""
    props = {
        KEY_PREPROCESSING: json.dumps(preprocessing or PREPROCESSING),
        KEY_LABELS: json.dumps(LABELS),
        KEY_OUTPUT: OUTPUT_NAME,
        KEY_TEST_ACCURACY: f"{card['metrics']['test_accuracy']:.4f}",
        KEY_VALIDATION_ACCURACY: f"{card['metrics']['validation_accuracy']:.4f}",
        KEY_MODEL_CARD: json.dumps(card),
    }
    threshold = card.get("min_confidence", {}).get("value")
    if threshold is not None:
        props[KEY_MIN_CONFIDENCE] = f"{threshold:.4f}"
    del proto.metadata_props[:]
    for key, value in props.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "mnist-onnx"
    proto.doc_string = card["architecture"]
    onnx.checker.check_model(proto, full_check=True)


def check_parity(model: tf.keras.Model, model_bytes: bytes, x: np.ndarray, temperature: float = 1.0) -> dict:
    """Run TensorFlow and ONNX Runtime on *x* (N, 784 float32); raise ParityError unless they agree."""
    import onnxruntime as ort

    tf_prob = tf.nn.softmax(model.predict(x, batch_size=2048, verbose=0) / temperature).numpy()
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    ort_prob = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    max_diff = float(np.abs(tf_prob - ort_prob).max())
    disagree = int((tf_prob.argmax(1) != ort_prob.argmax(1)).sum())
    if disagree or max_diff > PARITY_TOLERANCE:
        raise ParityError(
            f"ONNX model disagrees with TensorFlow: {disagree} of {len(x)} predictions differ, "
            f"max |Δprobability| {max_diff:.2e} (limit {PARITY_TOLERANCE:.0e}); no model written"
        )
    return {"images": len(x), "argmax_disagreements": disagree, "max_abs_probability_diff": max_diff,
            "tolerance": PARITY_TOLERANCE, "probabilities": ort_prob}


def rewrite(path: str | Path, proto: onnx.ModelProto, card: dict) -> None:
    """Write *proto* with *card* embedded (`add_metadata`) to *path*, and the card beside it, atomically:
    how a model changed after its export (a threshold, a temperature) is written. The model's own
    preprocessing contract stays (a sequence reader's is not the digit models')."""
    from mnist_onnx.parts import atomic_write

    path = Path(path)
    own = {p.key: p.value for p in proto.metadata_props}.get(KEY_PREPROCESSING)
    add_metadata(proto, card, json.loads(own) if own else None)
    with atomic_write(path, "wb") as f:
        f.write(proto.SerializeToString())
    with atomic_write(path.with_name(path.stem + ".card.json")) as f:
        json.dump(card, f, indent=2)


def set_min_confidence(path: str, value: float, chosen_on: str) -> None:
    """Write a measured default threshold for `unsure` into an exported model (its metadata and card, and
    the card beside it): how the bundled models get the threshold chosen on real handwriting
    (benchmarks/realworld.py --write-threshold)."""
    if not 0.0 <= value <= 1.0:
        raise UsageError(f"min_confidence {value}: must be a probability from 0 to 1")
    proto = onnx.load(path)
    card = json.loads({p.key: p.value for p in proto.metadata_props}[KEY_MODEL_CARD])
    card["min_confidence"] = {"value": round(float(value), 4), "chosen_on": chosen_on}
    rewrite(path, proto, card)
