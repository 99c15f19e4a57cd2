"""Real digits per source and per digit, for models trained with and without the handwriting-font digits (#27),
several seeds side by side:

    python benchmarks/digit_sources.py [--model LABEL=PATH ...] [--target 0.99]

For each model: realworld-dev overall and per source (the worst source is the headline), each digit class
(1s, 4s, 7s and 9s are where MNIST-only models fail), the MNIST test set (full, if ../shared/mnist-full is
there), the held-out fonts (export/fonts.py: styles never trained on), and `unsure`: the share of
realworld-dev `ok` with how many of those are right, at a threshold chosen 2-fold for 99 % right (chosen on one
half, measured on the other) and at the model's own default. Models whose labels end in `sN` (a seed) are
also summarised as mean (min-max) per recipe. Default models: 0.7.0's MLP and CNN and today's bundled ones.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import ROOT  # noqa: E402
from benchmarks.realworld import current, realworld_items  # noqa: E402
from mnist_onnx import Classifier  # noqa: E402
from mnist_onnx._calibration import threshold_for  # noqa: E402
from mnist_onnx._idx import load_split  # noqa: E402
from mnist_onnx_export.fonts import font_digits  # noqa: E402

FULL = ROOT.parent / "shared" / "mnist-full"
DEFAULTS = [f"0.7.0 mlp={ROOT / 'benchmarks/previous/default-0.7.0.onnx'}",
            f"0.7.0 cnn={ROOT / 'benchmarks/previous/cnn-0.7.0.onnx'}", "bundled mlp=mlp", "bundled cnn=cnn"]


def measure(clf: Classifier, pixels, y, src, sources, x_mnist, y_mnist, x_fonts, y_fonts, target) -> dict:
    probs = clf.predict_pixels(pixels)
    conf = np.where(pixels.reshape(len(y), -1).any(1), probs.max(1), 0.0)
    right = (probs.argmax(1) == y) & (conf > 0)
    half = np.random.default_rng(0).permutation(len(y)) < len(y) // 2
    fold_ok = fold_right = 0
    for train in (half, ~half):
        t = threshold_for(conf[train], right[train], target)
        kept = ~train & (conf >= t)
        fold_ok, fold_right = fold_ok + kept.sum(), fold_right + (kept & right).sum()
    own = conf >= clf.min_confidence
    out = {"realworld-dev": right.mean(), **{s: right[src == s].mean() for s in sources}}
    out["worst source"] = min(out[s] for s in sources)
    out.update({f"{d}s": right[y == d].mean() for d in range(10)})
    out["MNIST test"] = (clf.predict_pixels(x_mnist).argmax(1) == y_mnist).mean()
    out["held-out fonts"] = (clf.predict_pixels(x_fonts).argmax(1) == y_fonts).mean()
    out["ok (2-fold)"] = fold_ok / len(y)
    out["ok right (2-fold)"] = fold_right / max(fold_ok, 1)
    out["ok (own)"] = own.mean()
    out["ok right (own)"] = right[own].mean()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", nargs="*", default=DEFAULTS, help="LABEL=PATH (or a bundled name)")
    ap.add_argument("--target", type=float, default=0.99)
    args = ap.parse_args()
    items = realworld_items()
    y = np.array([label for _, label, _ in items])
    src = np.array([s for _, _, s in items])
    sources = sorted(set(src))
    pixels = np.stack([current(p) for p, _, _ in items])
    mnist = FULL if (FULL / "t10k-images-idx3-ubyte.gz").is_file() else ROOT.parent / "shared" / "mnist-5k"
    x_mnist, y_mnist = load_split(mnist, "test")
    x_mnist = x_mnist.reshape(len(x_mnist), 784).astype(np.float32) / 255.0
    x_fonts, y_fonts = font_digits(600, seed=0, validation=True)
    x_fonts = x_fonts.reshape(len(x_fonts), 784).astype(np.float32) / 255.0
    rows = {}
    for spec in args.model:
        label, _, path = spec.partition("=")
        rows[label] = measure(Classifier(path or label, provider="cpu"), pixels, y, src, sources, x_mnist, y_mnist,
                              x_fonts, y_fonts, args.target)
    groups = defaultdict(list)
    for label in rows:
        m = re.fullmatch(r"(.*) s\d+", label)
        if m:
            groups[m.group(1)].append(label)

    def table(keys, title):
        print(f"\n{title}\n")
        print("| model | " + " | ".join(keys) + " |")
        print("|" + " --- |" * (len(keys) + 1))
        for label, r in rows.items():
            print(f"| {label} | " + " | ".join(f"{100 * r[k]:.1f}" if k != "MNIST test" else f"{100 * r[k]:.2f}"
                                               for k in keys) + " |")
        for g, labels in groups.items():
            if len(labels) > 1:
                cells = []
                for k in keys:
                    v = np.array([rows[lab][k] for lab in labels]) * 100
                    cells.append(f"{v.mean():.1f} ({v.min():.1f}-{v.max():.1f})")
                print(f"| **{g}, {len(labels)} seeds** | " + " | ".join(cells) + " |")

    print(f"realworld-dev: {len(y):,} real digits ({', '.join(sources)}); MNIST test: {len(y_mnist):,} from "
          f"{mnist.name}; held-out fonts: {len(y_fonts)} renderings of fonts never trained on. Percent.")
    table(["realworld-dev", "worst source", *sources, "MNIST test", "held-out fonts"], "Per source")
    table([f"{d}s" for d in range(10)], "Per digit (realworld-dev)")
    table(["ok (2-fold)", "ok right (2-fold)", "ok (own)", "ok right (own)"],
          f"`unsure` on realworld-dev: share ok and share of ok right, threshold chosen 2-fold for {args.target:.0%}, "
          "and at the model's own default")


if __name__ == "__main__":
    main()
