"""Photos as people take them (#28): the same MNIST test digits and numbers on plain paper and under each
condition, read by `classify` (one digit) and `read` (a number of 3-5 digits), side by side.

    python benchmarks/photo_conditions.py [--digits 60] [--numbers 40] [--seed 0]

Conditions: a gradient shadow falling to 45-60 % from the left, the right and a corner; a hand's shadow edge
(a hard, slanted edge with a few pixels of penumbra, the far side at 45-60 %) across the ink; squared paper in
blue at 30 and 60 px and in grey at 45 px, the grey also turned 2-6 degrees (a phone held askew); dotted guide lines; a small number on a large speckled page; a
register cell (a box with an underline and a tick beside the number). Each image is the plain one with only
the condition changed, so every difference is the condition's. Targets: single digits within 1 point of plain
paper, numbers within 3 points. Prints a Markdown table (the README row is its worst line).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import DATA  # noqa: E402
from mnist_onnx import Classifier  # noqa: E402
from mnist_onnx._idx import load_split  # noqa: E402

PAPER = np.array([0.97, 0.96, 0.93])
PEN = np.array([0.85, 0.85, 0.75])  # how much of each channel the ink takes away (dark blue-black)


def number_ink(x, y, label: str, rng, height: int = 84) -> np.ndarray:
    """MNIST test digits side by side (each picked at random for its label), scaled to *height* rows."""
    parts = []
    for ch in label:
        d = x[rng.choice(np.flatnonzero(y == int(ch)))].astype(np.float32) / 255.0
        cols = np.flatnonzero(d.max(0) > 0.1)
        parts += [d[:, cols[0] : cols[-1] + 1], np.zeros((28, 5), np.float32)]
    ink = np.concatenate(parts[:-1], axis=1)
    im = Image.fromarray((255 * ink).astype(np.uint8)).resize((ink.shape[1] * height // 28, height))
    return np.asarray(im, np.float32) / 255.0


def _light(kind: str, h: int, w: int, rng) -> np.ndarray:
    low = rng.uniform(0.45, 0.6)
    if kind == "shadow left":
        return np.ones((h, 1)) * np.linspace(low, 1, w)[None, :]
    if kind == "shadow right":
        return np.ones((h, 1)) * np.linspace(1, low, w)[None, :]
    if kind == "shadow corner":
        return np.linspace(1, low, h)[:, None] * np.linspace(1, 0.8, w)[None, :]
    # a hand's shadow: a hard slanted edge through the middle, 4-8 px of penumbra, the far side dim
    yy, xx = np.mgrid[0:h, 0:w]
    slope = rng.uniform(-0.6, 0.6)
    side = (xx - w * rng.uniform(0.4, 0.6)) - slope * (yy - h / 2)
    soft = rng.uniform(4, 8)
    return 1 - (1 - low) / (1 + np.exp(-side / soft))


def page(ink: np.ndarray, condition: str, rng, big: bool = False) -> Image.Image:
    """The ink on paper under *condition* ("plain" for none), RGB."""
    margin_y, margin_x = (60, 80) if not big else (int(rng.integers(250, 500)), int(rng.integers(300, 700)))
    tilt = round(0.12 * (ink.shape[1] + 2 * margin_x)) if condition.endswith("tilted") else 0
    margin_y, margin_x = margin_y + tilt, margin_x + tilt  # turned, then cropped: the page fills the photo
    h, w = ink.shape[0] + 2 * margin_y, ink.shape[1] + 2 * margin_x
    if big:
        h, w = max(h, 900), max(w, 1200)
    paper = np.ones((h, w, 3)) * PAPER
    if condition.startswith("squared"):
        step = int(condition.split()[2].rstrip("px"))
        colour = np.array([0.55, 0.7, 0.95]) if "blue" in condition else np.array([0.6, 0.6, 0.6])
        for gy in range(int(rng.integers(0, step)), h, step):
            paper[gy : gy + 2] = colour
        for gx in range(int(rng.integers(0, step)), w, step):
            paper[:, gx : gx + 2] = colour
    elif condition == "dotted guides":
        step = int(rng.integers(36, 56))
        for gy in range(int(rng.integers(0, step)), h, step):
            for gx in range(int(rng.integers(0, 6)), w, 7):
                paper[gy : gy + 2, gx : gx + 2] = np.array([0.6, 0.65, 0.8])
    y0, x0 = margin_y, margin_x
    if big:
        y0, x0 = int(rng.integers(60, h - ink.shape[0] - 60)), int(rng.integers(60, w - ink.shape[1] - 60))
    paper[y0 : y0 + ink.shape[0], x0 : x0 + ink.shape[1]] -= ink[..., None] * PEN
    im = Image.fromarray((np.clip(paper, 0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    if condition == "speckled page":
        for _ in range(int(rng.integers(40, 120))):
            sx, sy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(1, 3)
            if not (x0 - 40 < sx < x0 + ink.shape[1] + 40 and y0 - 40 < sy < y0 + ink.shape[0] + 40):
                draw.ellipse([sx - r, sy - r, sx + r, sy + r], fill=(40, 40, 40))
    elif condition == "punch holes":  # a binder's holes down the left edge: dark discs on the page
        r = rng.uniform(10, 16)
        for cy in np.linspace(h * 0.2, h * 0.8, 3 if h > 300 else 2):
            draw.ellipse([18 - r, cy - r, 18 + r, cy + r], fill=(25, 25, 25))
    elif condition == "dark border":  # the table under the page: a dark band along two sides of the photo
        bw, bh = int(rng.integers(12, 30)), int(rng.integers(12, 30))
        draw.rectangle([0, 0, bw, h], fill=(35, 30, 28))
        draw.rectangle([0, h - bh, w, h], fill=(35, 30, 28))
    elif condition == "register cell":
        pad = ink.shape[0] // 3
        box = [x0 - pad, y0 - pad, x0 + ink.shape[1] + pad, y0 + ink.shape[0] + pad]
        draw.rectangle(box, outline=(70, 70, 70), width=2)
        draw.line([(box[0] + 6, y0 + ink.shape[0] + pad // 2), (box[2] - 6, y0 + ink.shape[0] + pad // 2)],
                  fill=(40, 40, 60), width=3)  # an underline inside the cell
        tx, ty = box[2] + pad, y0 + ink.shape[0] // 2  # a tick beside it
        draw.line([(tx, ty), (tx + 10, ty + 12), (tx + 30, ty - 18)], fill=(40, 40, 60), width=4)
    if condition.startswith("shadow") or condition == "hand shadow edge":
        a = np.asarray(im, np.float32) * _light(condition, h, w, rng)[..., None]
        im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    if condition.endswith("tilted"):  # the phone held a little askew: the whole page turned 2-6 degrees
        angle = rng.uniform(2, 6) * rng.choice([-1, 1])
        im = im.rotate(angle, Image.Resampling.BICUBIC).crop((tilt, tilt, w - tilt, h - tilt))
    return im


CONDITIONS = ["plain", "shadow left", "shadow right", "shadow corner", "hand shadow edge", "squared blue 30px",
              "squared blue 60px", "squared grey 45px", "dotted guides", "speckled page", "register cell", "punch holes", "dark border",
              "squared grey 45px tilted"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--digits", type=int, default=60)
    ap.add_argument("--numbers", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    x, y = load_split(DATA, "test")
    clf, reader = Classifier(provider="cpu"), Classifier("reader", provider="cpu")
    rng = np.random.default_rng(args.seed)
    picks = [int(rng.choice(np.flatnonzero(y == d % 10))) for d in range(args.digits)]
    singles = [np.asarray(Image.fromarray(x[i]).resize((112, 112)), np.float32) / 255.0 for i in picks]
    labels = ["".join(str(d) for d in rng.integers(0, 10, int(rng.integers(3, 6)))) for _ in range(args.numbers)]
    numbers = [number_ink(x, y, t, rng) for t in labels]
    print(f"{args.digits} MNIST test digits (classify) and {args.numbers} numbers of 3-5 digits (read, exact), "
          f"the same ink on plain paper and under each condition; percent right, gap to plain in points.\n")
    print("| condition | classify: one digit | gap | read: numbers | gap |")
    print("| --- | --- | --- | --- | --- |")
    base = None
    for condition in CONDITIONS:
        crng = np.random.default_rng([args.seed, CONDITIONS.index(condition)])
        big = condition == "speckled page"
        one = np.mean([p.digit == y[i] for p, i in zip(
            clf.classify([page(s, condition, crng, big) for s in singles], min_confidence=0), picks)]) * 100
        num = np.mean([r.number == t for r, t in zip(
            reader.read([page(n, condition, crng, big) for n in numbers], min_confidence=0), labels)]) * 100
        base = base or (one, num)
        gap = lambda v, b: "" if condition == "plain" else f"{v - b:+.1f}"  # noqa: E731
        print(f"| {condition} | {one:.1f} | {gap(one, base[0])} | {num:.1f} | {gap(num, base[1])} |", flush=True)


if __name__ == "__main__":
    main()
