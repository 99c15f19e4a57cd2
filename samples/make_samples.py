"""Regenerate samples/: real MNIST test digits saved in the PNG styles people actually have.

    python samples/make_samples.py ../shared/mnist-5k

The digits are, for each class, the first test images (canonical t10k order) that the bundled model reads
correctly as raw MNIST arrays: the samples demonstrate the PNG handling, so a digit the model gets wrong even
in its native form (test #8, a famously ambiguous 5, or #18) would only blur that. Accuracy itself is measured
on all 10,000 test images in benchmarks/. Each digit is saved in a different style or PNG mode. True labels
are the first character of each file name and in labels.csv.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from benchmarks.styles import STYLES  # noqa: E402
from mnist_onnx import Classifier  # noqa: E402
from mnist_onnx._idx import load_split  # noqa: E402


def main(data: str) -> None:
    x, y = load_split(data, "test")
    right = Classifier(provider="cpu").predict(x).argmax(1) == y
    good = {d: np.flatnonzero((y == d) & right) for d in range(10)}
    first = {d: int(good[d][0]) for d in range(10)}
    rng = np.random.default_rng(0)
    made = []

    def save(name: str, im: Image.Image, label: int, **kw) -> None:
        im.save(HERE / name, **kw)
        made.append((name, label))

    save("0_mnist.png", STYLES["mnist"](x[first[0]], rng), 0)
    save("1_paper.png", STYLES["paper"](x[first[1]], rng), 1)
    save("2_large_canvas.png", STYLES["large_canvas"](x[first[2]], rng), 2)
    save("3_transparent.png", STYLES["transparent"](x[first[3]], rng), 3)
    save("4_shaded.png", STYLES["shaded"](x[first[4]], rng), 4)
    save("5_palette.png", STYLES["paper"](x[first[5]], rng).convert("P", palette=Image.Palette.ADAPTIVE, colors=16), 5)
    wide = np.asarray(STYLES["paper"](x[first[6]], rng).convert("L"), dtype=np.uint16) * 257
    save("6_16bit.png", Image.fromarray(wide), 6)
    ink = np.asarray(Image.fromarray(x[first[7]]).resize((112, 112), Image.Resampling.BICUBIC))
    la = np.stack([np.full_like(ink, 255), ink], -1)  # white ink, alpha = coverage
    save("7_gray_alpha.png", Image.fromarray(la, "LA"), 7)
    frames = [STYLES["paper"](x[first[8]], rng), STYLES["paper"](x[first[3]], rng)]
    save("8_animated.png", frames[0], 8, save_all=True, append_images=frames[1:], duration=500, loop=0)
    canvas = np.zeros((28, 28), np.uint8)  # a small digit off in a corner of a 28x28 image
    canvas[:14, 14:] = np.asarray(Image.fromarray(x[first[9]]).resize((14, 14), Image.Resampling.LANCZOS))
    save("9_small_corner.png", Image.fromarray(canvas), 9)
    save("7_mnist.png", STYLES["mnist"](x[first[7]], rng), 7)
    save("2_bilevel.png", STYLES["paper"](x[int(good[2][1])], rng).convert("1", dither=Image.Dither.NONE), 2)

    with open(HERE / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label"])
        w.writerows(sorted(made))
    print(f"wrote {len(made)} samples to {HERE}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(HERE.parent.parent / "shared" / "mnist-5k"))
