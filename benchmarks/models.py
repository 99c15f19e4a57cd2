"""The bundled models side by side: how fast each runs (#16: the CNN's images per second beside the MLP's).

    python benchmarks/models.py [--rounds 20] [--files 10000]

1. In memory: `Classifier.predict_pixels` on the 10k MNIST test images, batch 1024, rounds interleaved
   between the models; median images/s and the ratio to the MLP.
2. Whole processes: `mnist-onnx classify DIR --model M` on FILES 28x28 PNGs (decoding included), interleaved;
   median wall time and the ratio to the MLP.
Accuracy is in benchmarks/realworld.py.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from common import DATA, ROOT, cli, make_png_folder, run_timed
from mnist_onnx import Classifier
from mnist_onnx._idx import load_split

MODELS = {"mlp": "mlp", "cnn": "cnn", "0.4.0 mlp": str(ROOT / "benchmarks" / "previous" / "default-0.4.0.onnx")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "mnist-onnx-bench")
    args = ap.parse_args()
    x, _ = load_split(DATA, "test")
    pixels = x.astype(np.float32) / 255
    clfs = {name: Classifier(path, provider="cpu") for name, path in MODELS.items()}
    rates: dict[str, list[float]] = {name: [] for name in clfs}
    for _ in range(args.rounds):
        for name, clf in clfs.items():
            t0 = time.perf_counter()
            clf.predict_pixels(pixels, batch_size=1024)
            rates[name].append(len(pixels) / (time.perf_counter() - t0))
    base = statistics.median(rates["mlp"])
    print(f"in memory, {len(pixels):,} images, batch 1024, {args.rounds} interleaved rounds:")
    for name, r in rates.items():
        print(f"  {name:<10} {statistics.median(r):>10,.0f} images/s   {statistics.median(r) / base:.2f}x the MLP")

    folder = make_png_folder(args.dir / f"png{args.files}", args.files)
    out = args.dir / "models.csv"
    walls: dict[str, list[float]] = {name: [] for name in MODELS}
    for _ in range(args.repeat):
        for name, path in MODELS.items():
            wall, _, _ = run_timed([cli(), "classify", str(folder), "-o", str(out), "-p", "cpu", "--model", path])
            walls[name].append(wall)
    base = statistics.median(walls["mlp"])
    print(f"whole process, classify {args.files:,} 28x28 PNGs, {args.repeat} interleaved runs:")
    for name, w in walls.items():
        m = statistics.median(w)
        print(f"  {name:<10} {m:6.2f} s  {args.files / m:>8,.0f} images/s   {m / base:.2f}x the MLP's time")


if __name__ == "__main__":
    main()
