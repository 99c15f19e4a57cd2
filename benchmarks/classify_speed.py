"""`mnist-onnx classify` side by side with decoding alone (#12's targets), and with a TensorFlow pipeline.

    python benchmarks/classify_speed.py [--files 30000] [--user-files 10000] [--repeat 3] [--only startup]

Every contender is its own process over the same folder, run interleaved `--repeat` times (start-up:
15x); medians are compared as ratios (these machines are noisy, absolute times are not the point).
Bytecode caching is on, as in any installed package.

  28x28     30k PNGs of real MNIST digits
    floor      a bare Pillow loop: list the folder, open, convert to L, into one array. Decoding alone.
    classify   mnist-onnx classify DIR -o out.csv       (decode + preprocess + ONNX Runtime + CSV rows)
    workers2   the same with --workers 2
    pillow     classify with MNIST_ONNX_PILLOW_ONLY=1 (no libspng fast path): what the fast path buys
    keras      our decode + preprocessing, Keras `predict` on the same weights, TF import included
  200x200   10k user-like PNGs (RGB, black ink on white, off-centre; common.user_like)
    floor      bare Pillow loop decoding to gray (open, convert L), nothing else
    classify / workers2 / pillow as above: the full real-world preprocessing included
  large     300 RGBA 1024x1024 drawings (common.large_rgba): one chunk's worth of files, where --workers 2
            must still keep two workers busy (#19); floor, classify and workers2 only
  start-up  one file
    floor      python -c "import numpy, PIL.Image, onnxruntime"
    classify   mnist-onnx classify ONE.png

Every classify variant must write byte-identical CSVs (checked first, on both folders).
Targets (#12, #19): 28x28 classify <= 1.0x floor; 200x200 classify <= 2.0x floor; one file <= 1.3x floor;
workers2 >= 1.6x faster than one worker (200x200, large); keras >= 3x classify.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from common import ROOT, cli, make_large_folder, make_png_folder, make_user_folder, run_timed

FLOOR = r"""
import os, sys, numpy as np
from PIL import Image
d = sys.argv[1]
names = sorted(n for n in os.listdir(d) if n.endswith(".png"))
out = []
for n in names:
    out.append(np.asarray(Image.open(os.path.join(d, n)).convert("L")))
print(len(out))
"""

KERAS = r"""
import os, sys, csv
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, onnx, tensorflow as tf
from onnx import numpy_helper
from mnist_onnx._chunk import decode_chunk
from mnist_onnx.image.normal import PreprocessConfig
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

IMPORTS = "import numpy, PIL.Image, onnxruntime"


def race(contenders: dict[str, tuple[list[str], dict]], repeat: int) -> dict[str, float]:
    """Median wall seconds of each contender, run interleaved."""
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(repeat):
        for name, (cmd, env) in contenders.items():
            wall, _, _ = run_timed(cmd, cwd=ROOT, env=env)
            times[name].append(wall)
    return {k: statistics.median(v) for k, v in times.items()}


def identical(variants: dict[str, tuple[list[str], dict]], out: Path) -> str:
    """Run each classify variant once; all CSVs must be byte-identical (this also warms the page cache)."""
    first = None
    for name, (cmd, env) in variants.items():
        run_timed(cmd, cwd=ROOT, env=env)
        data = out.read_bytes()
        if first is None:
            first = data
        elif data != first:
            raise SystemExit(f"{name} wrote a different CSV than classify: the fast path must not change rows")
    rows = (first or b"").count(b"\n") - 1
    return f"{len(variants)} classify variants wrote byte-identical CSVs ({rows:,} rows)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=30000)
    ap.add_argument("--user-files", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-keras", action="store_true", help="skip the TensorFlow contender (slow to start)")
    ap.add_argument("--user-repeat", type=int, default=None, help="repeats for the 200x200 folder (default --repeat)")
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "mnist-onnx-bench")
    ap.add_argument("--only", choices=("28x28", "200x200", "large", "startup"), action="append",
                    help="run only these parts (repeatable); default all")
    args = ap.parse_args()
    parts = set(args.only or ("28x28", "200x200", "large", "startup"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as installed: .pyc cached
    pillow_env = {**env, "MNIST_ONNX_PILLOW_ONLY": "1"}
    py, out = sys.executable, args.dir / "out.csv"

    def classify(folder: Path, *extra: str) -> list[str]:
        return [cli(), "classify", str(folder), "-o", str(out), "-p", "cpu", *extra]

    results: dict[str, dict[str, float]] = {}
    folders = {"28x28": lambda: make_png_folder(args.dir / f"png{args.files}", args.files),
               "200x200": lambda: make_user_folder(args.dir / f"user{args.user_files}", args.user_files),
               "large": lambda: make_large_folder(args.dir / "large300", 300)}
    for label, make in folders.items():
        if label not in parts:
            continue
        folder = make()
        contenders = {"floor": ([py, "-c", FLOOR, str(folder)], env),
                      "classify": (classify(folder), env),
                      "workers2": (classify(folder, "--workers", "2"), env),
                      "pillow": (classify(folder), pillow_env)}
        if label == "large":  # PNGs this size never take the libspng path: the pillow run would be a repeat
            del contenders["pillow"]
        print(f"{label}: {identical({k: v for k, v in contenders.items() if k != 'floor'}, out)}")
        if label == "28x28" and not args.no_keras:
            run_timed([py, "-c", KERAS, str(folder), str(out)], cwd=ROOT, env=env)
            keras_rows = [",".join(r.split(",")[:2]) for r in out.read_text().splitlines()]
            run_timed(contenders["classify"][0], cwd=ROOT, env=env)
            ours = [",".join(r.split(",")[:2]) for r in out.read_text().splitlines()[1:]]
            print(f"  keras and classify agree on {sum(a == b for a, b in zip(ours, keras_rows)):,} of {len(ours):,} files")
            contenders["keras"] = ([py, "-c", KERAS, str(folder), str(out)], env)
        results[label] = race(contenders, args.user_repeat or args.repeat if label == "200x200" else args.repeat)

    one = ROOT / "samples" / "0_mnist.png"
    if "startup" in parts:
        results["one file"] = race({"floor": ([py, "-c", IMPORTS], env),
                                    "classify": ([cli(), "classify", str(one), "-p", "cpu"], env),
                                    "auto": ([cli(), "classify", str(one)], env)}, 15 * args.repeat)

    for label, med in results.items():
        n = {"28x28": args.files, "200x200": args.user_files, "large": 300}.get(label, 1)
        print(f"\n{label} ({n:,} files), median of interleaved runs:")
        for k, v in med.items():
            print(f"  {k:<9} {v:7.3f} s   {n / v:9,.0f} img/s   {v / med['floor']:5.2f}x floor")
    print()
    if "28x28" in results:
        r = results["28x28"]
        print(f"28x28    classify / floor  = {r['classify'] / r['floor']:.2f}   (target <= 1.00)")
        print(f"28x28    workers2 speed-up = {r['classify'] / r['workers2']:.2f}   fast path {r['pillow'] / r['classify']:.2f}x")
        if "keras" in r:
            print(f"keras / classify           = {r['keras'] / r['classify']:.2f}   (target >= 3.00)")
    if "200x200" in results:
        u = results["200x200"]
        print(f"200x200  classify / floor  = {u['classify'] / u['floor']:.2f}   (target <= 2.0, #19)")
        print(f"200x200  workers2 speed-up = {u['classify'] / u['workers2']:.2f}   fast path {u['pillow'] / u['classify']:.2f}x")
    if "large" in results:
        g = results["large"]
        print(f"large    workers2 speed-up = {g['classify'] / g['workers2']:.2f}   (target >= 1.6, #19)")
    if "one file" in results:
        o = results["one file"]
        print(f"one file classify / floor  = {o['classify'] / o['floor']:.2f}   (target <= 1.30; -p auto {o['auto'] / o['floor']:.2f})")


if __name__ == "__main__":
    main()
