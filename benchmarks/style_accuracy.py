"""Accuracy on real-world PNG styles: official test digits re-saved as paper, large-canvas, transparent and
shaded PNGs, classified from the files by the same pipeline users run, against the test arrays.

    python benchmarks/style_accuracy.py [--n 10000] [--model M]

Target (#16): every style within 1.0 point of the model's accuracy on the test arrays.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from common import DATA
from benchmarks.styles import STYLES
from mnist_onnx import Classifier
from mnist_onnx._idx import load_split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000, help="test digits per style (first N of the official order)")
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    x, y = load_split(DATA, "test")
    x, y = x[: args.n], y[: args.n]
    clf = Classifier(args.model, provider="cpu")
    base = float((clf.predict(x).argmax(1) == y).mean())
    print(f"model {clf.model_path} ({clf.info.source}), {len(y):,} official test digits")
    print(f"  {'test arrays':<14} {base:7.2%}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name, style in STYLES.items():
            folder = Path(tmp) / name
            folder.mkdir()
            rng = np.random.default_rng(0)
            for i in range(len(y)):
                style(x[i], rng).save(folder / f"{i:05d}.png", compress_level=1)
            results = list(clf.classify_files(folder, workers=2))
            digits = np.array([r.digit if r.ok else -1 for r in results])
            acc = float((digits == y).mean())
            worst = max(worst, base - acc)
            print(f"  {name:<14} {acc:7.2%}   ({(acc - base) * 100:+.2f} points)")
    print(f"largest drop = {worst * 100:.2f} points   (target <= 1.00)")


if __name__ == "__main__":
    main()
