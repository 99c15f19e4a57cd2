"""`mnist-onnx classify` on a folder of 28x28 PNGs, side by side with its floor and a TensorFlow pipeline.

    python benchmarks/classify_speed.py [--files 30000] [--repeat 3]

Each contender runs as its own process over the same folder, interleaved, `--repeat` times; medians are
compared as ratios (these machines are noisy, absolute times are not the point):
  floor      a bare Pillow loop: list the folder, open, convert to L, into one array. Decoding is the floor.
  classify   mnist-onnx classify DIR -o out.csv            (decode + preprocess + ONNX Runtime + CSV rows)
  workers2   the same with --workers 2
  keras      the same pipeline (our decode + preprocessing), but Keras `predict` on the same weights, TF import
             included, as a user of the tutorial code would run it.
Targets: classify <= 1.25x floor; workers2 < floor; keras >= 3x classify.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from common import ROOT, cli, make_png_folder, run_timed

FLOOR = r"""
import os, sys, numpy as np
from PIL import Image
d = sys.argv[1]
names = sorted(n for n in os.listdir(d) if n.endswith(".png"))
out = np.empty((len(names), 28, 28), np.uint8)
for i, n in enumerate(names):
    out[i] = np.asarray(Image.open(os.path.join(d, n)).convert("L"))
print(out.shape, out.mean())
"""

KERAS = r"""
import os, sys, csv
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, onnx, tensorflow as tf
from onnx import numpy_helper
from mnist_onnx._batch import decode_chunk
from mnist_onnx._preprocess import PreprocessConfig
from mnist_onnx._files import iter_files
from mnist_onnx._model import bundled_model_path
# the same weights as the ONNX model, in a Keras MLP: MatMul/Add initialisers in graph order
graph = onnx.load(str(bundled_model_path())).graph
init = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
params = [init[i] for n in graph.node if n.op_type in ("MatMul", "Add") for i in n.input if i in init]
mats, biases = params[0::2], params[1::2]
layers = [tf.keras.Input((784,))]
for i, m in enumerate(mats):
    layers.append(tf.keras.layers.Dense(m.shape[1], activation="relu" if i < len(mats) - 1 else "softmax"))
model = tf.keras.Sequential(layers)
for layer, m, b in zip([l for l in model.layers if l.weights], mats, biases):
    layer.set_weights([m, b])
files = list(iter_files([sys.argv[1]]))
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f)
    for s in range(0, len(files), 256):
        chunk = files[s:s + 256]
        pixels, good, errors = decode_chunk(chunk, PreprocessConfig())
        p = model.predict(pixels.reshape(-1, 784), verbose=0, batch_size=256)
        for j, i in enumerate(good):
            w.writerow([chunk[i], int(p[j].argmax()), float(p[j].max()), "ok", ""])
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=30000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "mnist-onnx-bench")
    args = ap.parse_args()
    folder = make_png_folder(args.dir / f"png{args.files}", args.files)
    out = args.dir / "out.csv"
    py = sys.executable
    contenders = {
        "floor": [py, "-c", FLOOR, str(folder)],
        "classify": [cli(), "classify", str(folder), "-o", str(out), "-p", "cpu"],
        "workers2": [cli(), "classify", str(folder), "-o", str(out), "-p", "cpu", "--workers", "2"],
        "keras": [py, "-c", KERAS, str(folder), str(out)],
    }
    # Same answers, or the comparison means nothing: Keras and ONNX Runtime must agree on every file.
    run_timed(contenders["keras"], cwd=ROOT)
    keras_rows = out.read_text().splitlines()
    run_timed(contenders["classify"], cwd=ROOT)
    ours = [",".join(r.split(",")[:2]) for r in out.read_text().splitlines()[1:]]
    theirs = [",".join(r.split(",")[:2]) for r in keras_rows]
    agree = sum(a == b for a, b in zip(ours, theirs))
    print(f"keras and classify agree on {agree:,} of {len(ours):,} files")
    run_timed(contenders["floor"])  # warm the page cache
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(args.repeat):
        for name, cmd in contenders.items():
            wall, _, _ = run_timed(cmd, cwd=ROOT)
            times[name].append(wall)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{args.files:,} PNGs (28x28), median of {args.repeat} interleaved runs, each its own process:")
    for k, v in med.items():
        print(f"  {k:<9} {v:7.2f} s   {args.files / v:9,.0f} img/s   {v / med['floor']:5.2f}x floor")
    print(f"classify / floor      = {med['classify'] / med['floor']:.2f}   (target <= 1.25)")
    print(f"workers2 / floor      = {med['workers2'] / med['floor']:.2f}   (target < 1.00)")
    print(f"keras / classify      = {med['keras'] / med['classify']:.2f}   (target >= 3.00)")


if __name__ == "__main__":
    main()
