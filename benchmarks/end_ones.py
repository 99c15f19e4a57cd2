"""A 1 written as one straight upright stroke at a number's start or end: does the reader keep it?

Numbers of 2-4 MNIST test digits (no 1s) with a drawn 1 added at the start or the end: pens of 1, 2 and 4 px
(the digits' own strokes are ~2-3 px), the 1 as tall as the digits, 1.2 times as tall and centred, or 1.3 times
and rising above them. A reader that learned to drop upright strokes at a line's ends (what the runtime leaves
of a box's sides) reads "1234" as "234". Prints right and dropped per case and in all, for the bundled reader
and each --compare LABEL=PATH.

    python benchmarks/end_ones.py [--compare old=/path/reader.onnx] [--numbers 40]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import DATA  # noqa: E402
from mnist_onnx import Classifier  # noqa: E402
from mnist_onnx._idx import load_split  # noqa: E402

CASES = [(pen, tall, place) for pen in (1, 2, 4) for tall, place in ((1.0, "centre"), (1.2, "centre"), (1.3, "above"))]


def _crop(a: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(a.any(1)), np.flatnonzero(a.any(0))
    return a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def numbers(x, y, n: int, pen: int, tall: float, place: str, where: str, rng) -> tuple[list, list[str]]:
    """*n* white pages of dark numbers with a straight 1 at *where* ('start' or 'end')."""
    others = np.flatnonzero(y != 1)
    images, labels = [], []
    for _ in range(n):
        picks = list(rng.choice(others, int(rng.integers(2, 5))))
        glyphs, label = [_crop(x[i]) for i in picks], [str(y[i]) for i in picks]
        h = max(g.shape[0] for g in glyphs)
        tall_px = int(round(h * tall))
        low = {"centre": (tall_px - h) // 2, "above": 0}[place]  # rows the 1 reaches below the digits
        gap = int(0.3 * h)
        at = 0 if where == "start" else len(glyphs)
        glyphs.insert(at, None)
        label.insert(at, "1")
        width = sum(pen if g is None else g.shape[1] for g in glyphs) + gap * len(glyphs) + 40
        page = np.zeros((tall_px + 40, width), np.uint8)
        base, cx = 20 + tall_px - low, 20  # the digits' bottom row (exclusive)
        for g in glyphs:
            if g is None:
                page[base + low - tall_px : base + low, cx : cx + pen] = 255
                cx += pen + gap
            else:
                region = page[base - g.shape[0] : base, cx : cx + g.shape[1]]
                np.maximum(region, g, out=region)
                cx += g.shape[1] + gap
        images.append(Image.fromarray(255 - page))
        labels.append("".join(label))
    return images, labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", action="append", default=[], metavar="LABEL=PATH")
    ap.add_argument("--numbers", type=int, default=40, help="numbers per case and end")
    args = ap.parse_args()
    readers = {"bundled": Classifier("reader", provider="cpu")}
    for item in args.compare:
        label, _, path = item.partition("=")
        readers[label] = Classifier(path, provider="cpu")
    x, y = load_split(DATA, "test")
    rng = np.random.default_rng(5)
    names = list(readers)
    print(f"a straight 1 at a number's start or end ({args.numbers} numbers per row): right / dropped\n")
    print("| pen | 1's height | end | " + " | ".join(names) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in names) + " |")
    total = {k: [0, 0, 0] for k in names}
    for pen, tall, place in CASES:
        for where in ("start", "end"):
            images, labels = numbers(x, y, args.numbers, pen, tall, place, where, rng)
            cells = []
            for k in names:
                got = [r.number for r in readers[k].read(images, min_confidence=0)]
                right = sum(g == t for g, t in zip(got, labels))
                dropped = sum(g is not None and len(g) == len(t) - 1 for g, t in zip(got, labels))
                total[k][0] += right
                total[k][1] += dropped
                total[k][2] += len(labels)
                cells.append(f"{right} / {dropped}")
            print(f"| {pen} px | {tall:.1f}x, {place} | {where} | " + " | ".join(cells) + " |")
    print("| all | | | " + " | ".join(f"**{t[0]} / {t[1]}** of {t[2]}" for t in total.values()) + " |")


if __name__ == "__main__":
    main()
