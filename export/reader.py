"""Train the sequence reader (`export --preset reader`): a line of handwritten digits in, the digit string out.

Read it top to bottom: config as plain values, the network (convolutions over a 32-row line, a bidirectional
LSTM along it, a softmax over 0-9 and CTC's blank for each 4 columns), number strings synthesised on the fly
(strings.py) by a background process while TensorFlow trains, the best step kept by exact-match on held-out
strings made from MNIST's *test* digits, a temperature and an `unsure` threshold chosen there, then ONNX
(tf2onnx) under the same parity gate as the MLP. Never trained or tuned on ../shared's dev sets.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from mnist_onnx.parts import HEIGHT, STRIDE, ctc_greedy, ctc_probability, pad_batch

from . import strings

BLANK = 10  # CTC's blank is the 11th class
RULE = "lowest string probability (all alignments) keeping 99 % of the numbers above it right"


@dataclass
class ReaderConfig:
    steps: int = 3400  # batches of training strings (fresh ones every batch): ~41 min on 2 cores alone
    batch_size: int = 48
    learning_rate: float = 2e-3  # peak; one cosine down to 2 % of it over the steps
    warmup: int = 200
    conv: tuple[int, ...] = (32, 64, 96, 96, 128)
    lstm: int = 96  # units each way
    eval_every: int = 500
    val_strings: int = 1500  # held-out strings from MNIST's test digits: model choice, temperature, threshold
    seed: int = 0
    workers: int = 1  # processes synthesising strings (besides TensorFlow's threads)


@dataclass
class ReaderHistory:
    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    val_exact: list[float] = field(default_factory=list)
    best_step: int = 0
    seconds: float = 0.0
    temperature: float = 1.0
    calibration: dict = field(default_factory=dict)


def build_reader(cfg: ReaderConfig):
    """(N, 32, W) lines -> (N, W/4, 11) logits."""
    from ._tf import tf

    L = tf.keras.layers
    x = inp = tf.keras.Input(shape=(HEIGHT, None), name="lines")
    x = L.Reshape((HEIGHT, -1, 1))(x)
    pools = [(2, 2), (2, 2), None, (2, 1), None]  # 32x W -> 16 x W/2 -> 8 x W/4 -> 4 x W/4
    for width, pool in zip(cfg.conv, pools):
        x = L.Conv2D(width, 3, padding="same", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        x = L.ReLU()(x)
        if pool:
            x = L.MaxPool2D(pool)(x)
    x = L.Permute((2, 1, 3))(x)  # (N, W/4, 4, C)
    x = L.Reshape((-1, 4 * cfg.conv[-1]))(x)
    x = L.Dense(128, activation="relu")(x)
    x = L.Bidirectional(L.LSTM(cfg.lstm, return_sequences=True))(x)
    x = L.Dense(11, name="logits")(x)
    return tf.keras.Model(inp, x)


GROUP = 8  # batches made together and cut by width, so that a batch's lines are padded little


def _synth(args: tuple[int, int]) -> list[tuple[np.ndarray, list[str]]]:
    seed, n = args
    rng = np.random.default_rng(seed)
    lines, labels = strings.batch(_POOL, n * GROUP, rng)
    order = np.argsort([line.shape[1] for line in lines])
    out = [(pad_batch([lines[i] for i in order[s : s + n]]), [labels[i] for i in order[s : s + n]])
           for s in range(0, len(order), n)]
    return [out[i] for i in rng.permutation(len(out))]


_POOL: strings.Pool | None = None


def _init(pool: strings.Pool) -> None:
    global _POOL
    _POOL = pool


def batches(pool: strings.Pool, cfg: ReaderConfig, seed: int) -> Iterator[tuple[np.ndarray, list[str]]]:
    """Fresh training batches forever, made by `cfg.workers` background processes (a few groups ahead)."""
    from collections import deque

    ctx = mp.get_context("fork")
    with ctx.Pool(cfg.workers, initializer=_init, initargs=(pool,)) as procs:
        ahead: deque = deque()
        i = 0
        while True:
            while len(ahead) < 2 * cfg.workers:
                ahead.append(procs.apply_async(_synth, ((seed * 1_000_003 + i, cfg.batch_size),)))
                i += 1
            yield from ahead.popleft().get()


def decode(probs: np.ndarray) -> list[str]:
    return ["".join(str(d) for d, *_ in ctc_greedy(p, BLANK)) for p in probs]


def sequence_confidence(probs: np.ndarray) -> float:
    """A reading's confidence as the runtime gives it: the probability of the best path's string summed over
    all its alignments (`ctc_probability`; 0 for no digit). Not the best path's own probability: that also
    multiplies the frames where a digit hands over to the blank, both of which read the same. Not the product
    of the digits' peaks (0.7.0): that misses a digit the reader nearly saw -- a touching pair read as one."""
    found = ctc_greedy(probs, BLANK)
    return ctc_probability(probs, [digit for digit, *_ in found], BLANK) if found else 0.0


def fit_reader(cfg: ReaderConfig, train_pool: strings.Pool, val_pool: strings.Pool,
               log: Callable[[str], None] = print):
    """Train; return the model with the best held-out exact-match rate, its history and the held-out set."""
    from ._tf import tf

    tf.keras.utils.set_random_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed + 99)
    val_lines, val_labels = strings.batch(val_pool, cfg.val_strings, rng)
    order = np.argsort([v.shape[1] for v in val_lines])
    val_batches = [(pad_batch([val_lines[i] for i in order[s : s + 128]]), [val_labels[i] for i in order[s : s + 128]])
                   for s in range(0, len(order), 128)]

    model = build_reader(cfg)
    log(f"reader: {model.count_params():,} parameters; {cfg.steps} steps of {cfg.batch_size} fresh strings")
    optimizer = tf.keras.optimizers.Adam(cfg.learning_rate, clipnorm=5.0)

    @tf.function(input_signature=[tf.TensorSpec([None, HEIGHT, None], tf.float32),
                                  tf.SparseTensorSpec([None, None], tf.int32)], reduce_retracing=True)
    def train_step(x, labels):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            frames = tf.fill([tf.shape(x)[0]], tf.shape(logits)[1])
            loss = tf.reduce_mean(tf.nn.ctc_loss(labels, logits, None, frames, logits_time_major=False,
                                                 blank_index=BLANK))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function(input_signature=[tf.TensorSpec([None, HEIGHT, None], tf.float32)], reduce_retracing=True)
    def probabilities(x):
        return tf.nn.softmax(model(x, training=False))

    def exact() -> float:
        right = 0
        for x, labels in val_batches:
            right += sum(p == t for p, t in zip(decode(probabilities(x).numpy()), labels))
        return right / cfg.val_strings

    history, best, best_weights = ReaderHistory(), -1.0, model.get_weights()
    t0, running = time.perf_counter(), []
    for step, (x, labels) in enumerate(batches(train_pool, cfg, cfg.seed), start=1):
        if step > cfg.steps:
            break
        warm = min(1.0, step / cfg.warmup)
        cosine = 0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * step / cfg.steps))
        optimizer.learning_rate.assign(cfg.learning_rate * warm * cosine)
        frames = x.shape[2] // STRIDE  # CTC cannot align a label needing more frames: never train on one
        fits = [len(lab) + sum(a == b for a, b in zip(lab, lab[1:])) <= frames for lab in labels]
        if not all(fits):
            x, labels = x[np.flatnonzero(fits)], [lab for lab, f in zip(labels, fits) if f]
            if not labels:
                continue
        idx = [(i, j) for i, lab in enumerate(labels) for j in range(len(lab))]
        sparse = tf.SparseTensor(np.array(idx, np.int64), np.array([int(c) for lab in labels for c in lab], np.int32),
                                 [len(labels), max(len(lab) for lab in labels)])
        running.append(float(train_step(x, sparse)))
        if step % 100 == 0:
            log(f"step {step:5d}  loss {np.mean(running[-100:]):.4f}  ({time.perf_counter() - t0:.0f} s)")
        if step % cfg.eval_every == 0 or step == cfg.steps:
            acc = exact()
            history.step.append(step)
            history.loss.append(float(np.mean(running)))
            history.val_exact.append(acc)
            running = []
            better = acc > best
            if better:
                best, best_weights, history.best_step = acc, model.get_weights(), step
            log(f"step {step:5d}  loss {history.loss[-1]:.4f}  held-out exact {acc:.4f}{'  *' if better else ''}"
                f"  ({time.perf_counter() - t0:.0f} s)")
    model.set_weights(best_weights)
    history.seconds = time.perf_counter() - t0
    log(f"best step {history.best_step}: held-out exact {best:.4f} ({history.seconds:.0f} s)")
    history.temperature, history.calibration = calibrate_on(model, val_lines, val_labels, log)
    probabilities_at = lambda x: tf.nn.softmax(model(x, training=False) / history.temperature).numpy()  # noqa: E731
    history.calibration.update(clean_threshold(probabilities_at, val_pool, cfg, log))
    return model, history


def calibrate_on(model, lines: list[np.ndarray], labels: list[str], log: Callable[[str], None] = print
                 ) -> tuple[float, dict]:
    """`calibrate` on the model's logits for held-out *lines*, each cut to its own frames (as the runtime
    reads it: padding frames are no part of a line's confidence)."""
    order = np.argsort([line.shape[1] for line in lines])
    logits: list[np.ndarray] = [np.zeros(0)] * len(lines)
    for s in range(0, len(order), 128):
        group = order[s : s + 128]
        z = model(pad_batch([lines[i] for i in group]), training=False).numpy()
        for k, i in enumerate(group):
            logits[i] = z[k, : -(-lines[i].shape[1] // STRIDE)]
    return calibrate(logits, labels, log)


def calibrate(logits: list[np.ndarray], labels: list[str], log: Callable[[str], None] = print) -> tuple[float, dict]:
    """A temperature for the frame softmax, fitted on held-out strings (the negative log-likelihood of the
    reading's confidence as the chance of it being right), and the `unsure` threshold: the lowest confidence
    keeping 99 % of the numbers above it right."""
    from mnist_onnx.parts import threshold_for

    def scores(t: float) -> tuple[np.ndarray, np.ndarray]:
        conf, right = [], []
        for z, lab in zip(logits, labels):
            p = np.exp((z - z.max(1, keepdims=True)) / t)
            p /= p.sum(1, keepdims=True)
            conf.append(sequence_confidence(p))
            right.append(decode(p[None])[0] == lab)
        return np.array(conf), np.array(right)

    def nll(t: float) -> float:
        c, r = scores(t)
        c = np.clip(c, 1e-6, 1 - 1e-6)
        return float(-np.mean(np.where(r, np.log(c), np.log(1 - c))))

    grid = np.exp(np.linspace(np.log(0.5), np.log(4.0), 22))
    t = float(grid[int(np.argmin([nll(g) for g in grid]))])
    conf, right = scores(t)
    threshold = threshold_for(conf, right, 0.99)
    kept = float((conf >= threshold).mean())
    log(f"calibration: temperature {t:.3f}; unsure below {threshold:.3f} ({kept:.1%} of held-out numbers ok, "
        f"{right.mean():.1%} right)")
    return t, {"temperature": round(t, 4), "strings": len(labels), "min_confidence": round(threshold, 4),
               "held_out": "strings synthesised from MNIST's test digits (never the dev sets)",
               "min_confidence_rule": RULE,
               "kept_at_min_confidence": round(kept, 4), "exact": round(float(right.mean()), 4)}


def clean_threshold(probabilities: Callable[[np.ndarray], np.ndarray], val_pool: strings.Pool, cfg: ReaderConfig,
                    log: Callable[[str], None] = print) -> dict:
    """The `unsure` threshold, chosen on held-out strings drawn without the photographed share: the lowest
    sequence confidence keeping 99 % of the numbers above it right. A photographed string can lose a digit
    to its photo (a grid line through a stroke, a shadow) and keep its label; on the mixed held-out set such
    strings put the threshold at 0.999 with 1.4 % of the numbers `ok`. *probabilities*: (N, 32, W) lines ->
    (N, W / 4, 11) at the model's temperature (TensorFlow's while training, ONNX Runtime's for a file)."""
    from mnist_onnx.parts import threshold_for

    rng = np.random.default_rng(cfg.seed + 199)
    lines, labels = strings.batch(val_pool, cfg.val_strings, rng, photo_share=0.0)
    order = np.argsort([line.shape[1] for line in lines])
    conf, right = np.zeros(len(lines)), np.zeros(len(lines), bool)
    for s in range(0, len(order), 128):
        group = order[s : s + 128]
        p = probabilities(pad_batch([lines[i] for i in group]))
        for k, i in enumerate(group):
            own = p[k, : -(-lines[i].shape[1] // STRIDE)]
            conf[i], right[i] = sequence_confidence(own), decode(own[None])[0] == labels[i]
    threshold = threshold_for(conf, right, 0.99)
    kept = float((conf >= threshold).mean())
    log(f"unsure below {threshold:.4f}, chosen on {len(lines)} held-out strings without photos ({kept:.1%} ok, "
        f"{right.mean():.1%} right)")
    return {"min_confidence": round(threshold, 4), "kept_at_min_confidence": round(kept, 4),
            "min_confidence_held_out": f"{len(lines)} strings of MNIST test digits, none photographed (their labels "
                                       "are certain)", "exact_without_photos": round(float(right.mean()), 4)}


def rethreshold(model_path, data_dir=None, log: Callable[[str], None] = print) -> float:
    """Choose an exported reader's `unsure` threshold again, by today's rule (`clean_threshold`, on ONNX
    Runtime's probabilities for the same held-out strings its export used), and write it into the model's
    metadata and card: for a reader exported before the rule or the confidence changed. Returns it."""
    import json
    from pathlib import Path

    import onnx
    import onnxruntime as ort

    from mnist_onnx.parts import KEY_MODEL_CARD

    from .data import load_mnist
    from .onnx_export import rewrite

    path = Path(model_path)
    proto = onnx.load(str(path))
    card = json.loads({p.key: p.value for p in proto.metadata_props}[KEY_MODEL_CARD])
    known = {f.name for f in dataclasses.fields(ReaderConfig)}
    cfg = ReaderConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in card["config"].items() if k in known})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    data = load_mnist(data_dir)
    chosen = clean_threshold(lambda x: session.run(None, {name: x})[0], strings.Pool.from_images(data.x_test, data.y_test),
                             cfg, log)
    card["calibration"].update(chosen, min_confidence_rule=RULE)
    card["min_confidence"] = {"value": chosen["min_confidence"],
                              "chosen_on": "held-out synthetic strings of MNIST test digits, none photographed (see "
                                           "calibration); chosen again after export by export/reader.py's rethreshold"}
    rewrite(path, proto, card)
    return chosen["min_confidence"]


# --- the export: pools, training, ONNX, parity, card ------------------------------------------------------

PARITY_TOLERANCE = 1e-4  # per frame probability (an LSTM's float sums differ a little more than an MLP's)


def pools(data, seed: int) -> tuple[strings.Pool, strings.Pool]:
    """Training digits (MNIST's training set; its 1s and 7s once more in the world's styles; hooked 7s; 1s
    written as one straight stroke, 1,000 of them; half of it once more as a low-resolution source would give
    it: 8x8 and 16x16 scans; the training fonts' digits, as many as a third of MNIST's) and held-out digits
    (MNIST's test set) for the strings."""
    from .augment import lowres_variants, style_variants
    from .fonts import font_digits

    rng = np.random.default_rng(seed)
    x, y = data.x_train, data.y_train
    sel = np.flatnonzero((y == 1) | (y == 7))
    styled = style_variants(x[sel], y[sel], seed).reshape(-1, 28, 28)
    sevens = np.flatnonzero(y == 7)[: len(y) // 20]
    hooked = strings.hooked_sevens(x[sevens], rng)
    straight = strings.straight_ones(len(y) // 60, rng)
    small = rng.permutation(len(y))[: len(y) // 2]
    lowres = lowres_variants(x[small], seed).reshape(-1, 28, 28)
    x_font, y_font = font_digits(len(y) // 3, seed)
    train = strings.Pool.from_images(
        np.concatenate([x / 255.0, styled, hooked, straight, lowres, x_font / 255.0]).astype(np.float32),
        np.concatenate([y, y[sel], y[sevens], np.ones(len(straight), y.dtype), y[small], y_font]))
    return train, strings.Pool.from_images(data.x_test, data.y_test)


def to_onnx_reader(model, opset: int = 17, temperature: float = 1.0):
    """(N, 32, W) lines -> (N, W/4, 11) probabilities, the temperature in the graph."""
    import tf2onnx

    from ._tf import tf

    @tf.function(input_signature=[tf.TensorSpec([None, HEIGHT, None], tf.float32, name="lines")])
    def serve(lines):
        return {"probabilities": tf.nn.softmax(model(lines, training=False) / temperature)}

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=serve.input_signature, opset=opset)
    for value in (*proto.graph.input, *proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        dims[0].dim_param = "batch"
        if value.name == "lines":
            dims[2].dim_param = "width"
        else:
            dims[1].dim_param = "frames"
    return proto


def check_reader_parity(model, model_bytes: bytes, batches_: list, temperature: float) -> dict:
    """TensorFlow and ONNX Runtime on the held-out strings: the same digits, probabilities within tolerance."""
    import onnxruntime as ort

    from mnist_onnx.errors import ParityError

    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    worst, differ, n = 0.0, 0, 0
    for x, _ in batches_:
        z = model(x, training=False).numpy() / temperature
        p_tf = np.exp(z - z.max(-1, keepdims=True))
        p_tf /= p_tf.sum(-1, keepdims=True)
        p_ort = session.run(["probabilities"], {"lines": x})[0]
        worst = max(worst, float(np.abs(p_tf - p_ort).max()))
        differ += sum(a != b for a, b in zip(decode(p_tf), decode(p_ort)))
        n += len(x)
    if differ or worst > PARITY_TOLERANCE:
        raise ParityError(f"ONNX reader disagrees with TensorFlow: {differ} of {n} readings differ, max "
                          f"|Δprobability| {worst:.2e} (limit {PARITY_TOLERANCE:.0e}); no model written")
    return {"strings": n, "reading_disagreements": differ, "max_abs_probability_diff": worst,
            "tolerance": PARITY_TOLERANCE}


def export_reader(data_dir=None, out=None, opset: int = 17, log: Callable[[str], None] = print,
                  cfg: ReaderConfig | None = None):
    """Train the sequence reader on strings of MNIST digits, export it to ONNX, verify it, write it (default:
    `reader.onnx` beside the default export, where `read` finds it) with its card."""
    import os
    import sys
    from pathlib import Path

    from mnist_onnx.parts import check_writable, default_export_path

    from .data import load_mnist

    # oneDNN's convolutions train this network ~1.4x faster on CPU; the MLP export keeps them off (bit-exact
    # reruns). Only before TensorFlow's first import in this process, and never over the user's own choice.
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    cfg = cfg or ReaderConfig()
    out_path = check_writable(Path(out) if out is not None else default_export_path().with_name("reader.onnx"))
    data = load_mnist(data_dir)
    train_pool, val_pool = pools(data, cfg.seed)
    model, history = fit_reader(cfg, train_pool, val_pool, log)
    return write_reader(model, history, cfg, data, val_pool, out_path, opset, log)


def write_reader(model, history: ReaderHistory, cfg: ReaderConfig, data, val_pool: strings.Pool, out_path,
                 opset: int = 17, log: Callable[[str], None] = print):
    """The trained reader -> ONNX, verified on the held-out strings, with its card: written to *out_path*."""
    import dataclasses
    import datetime as dt
    import json
    import platform
    import sys
    from pathlib import Path

    import mnist_onnx
    from mnist_onnx.parts import atomic_write

    from .onnx_export import add_metadata

    rng = np.random.default_rng(cfg.seed + 99)  # the same held-out strings fit_reader chose the model on
    val_lines, val_labels = strings.batch(val_pool, cfg.val_strings, rng)
    order = np.argsort([v.shape[1] for v in val_lines])
    held = [(pad_batch([val_lines[i] for i in order[s : s + 128]]), [val_labels[i] for i in order[s : s + 128]])
            for s in range(0, len(order), 128)]
    proto = to_onnx_reader(model, opset, history.temperature)
    parity = check_reader_parity(model, proto.SerializeToString(), held, history.temperature)
    log(f"ONNX matches TensorFlow on {parity['strings']} held-out strings (max |Δp| {parity['max_abs_probability_diff']:.1e})")

    import onnx
    import onnxruntime
    import tf2onnx

    from ._tf import tf

    exact = history.val_exact[history.step.index(history.best_step)] if history.best_step else 0.0
    card = {
        "name": "mnist-onnx reader",
        "kind": "sequence",
        "architecture": (f"CNN {'-'.join(map(str, cfg.conv))} over 32-row lines, dense 128, BiLSTM {cfg.lstm}, "
                         "CTC over 0-9 and blank, one frame per 4 columns"),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "input": {"name": "lines", "shape": ["batch", HEIGHT, "width"], "dtype": "float32",
                  "made_by": "mnist_onnx.image.line.find_line + to_input (white ink on black, ink box 28 rows high)"},
        "output": {"name": "probabilities", "shape": ["batch", "frames", 11], "kind": "softmax per frame",
                   "blank": BLANK},
        "labels": [str(d) for d in range(10)],
        "metrics": {"test_accuracy": exact, "validation_accuracy": exact,
                    "held_out_exact": exact, "held_out": "strings of MNIST test digits",
                    "best_step": history.best_step, "steps_run": history.step[-1] if history.step else 0,
                    "train_seconds": round(history.seconds, 1), "parity": parity},
        "calibration": history.calibration,
        "min_confidence": {"value": history.calibration.get("min_confidence"),
                           "chosen_on": "held-out synthetic strings of MNIST test digits, none photographed (see calibration)"},
        "config": dataclasses.asdict(cfg),
        "data": {"source": data.source, "train_images": int(len(data.x_train)), "sha256": data.sha256,
                 "strings": "synthesised on the fly (export/strings.py); never ../shared's dev sets"},
        "history": {k: v for k, v in dataclasses.asdict(history).items() if isinstance(v, list)},
        "versions": {"mnist_onnx": mnist_onnx.__version__, "tensorflow": tf.__version__,
                     "tf2onnx": tf2onnx.__version__, "onnx": onnx.__version__,
                     "onnxruntime": onnxruntime.__version__, "numpy": np.__version__,
                     "python": platform.python_version(), "opset": opset},
        "command": " ".join(Path(sys.argv[0]).name if i == 0 else a for i, a in enumerate(sys.argv)),
    }
    add_metadata(proto, card, preprocessing={"kind": "sequence", "input": "lines", "height": HEIGHT,
                                             "stride": STRIDE, "ink": "white-on-black", "blank": BLANK})
    with atomic_write(out_path, "wb") as f:
        f.write(proto.SerializeToString())
    card_path = out_path.with_name(out_path.stem + ".card.json")
    with atomic_write(card_path) as f:
        json.dump(card, f, indent=2)
    log(f"wrote {out_path} (+ {card_path.name}): held-out exact {exact:.2%}, unsure below "
        f"{history.calibration.get('min_confidence')}")
    return out_path, card
