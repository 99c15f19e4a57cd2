"""Accuracy on real handwriting, side by side: per source of ../shared/realworld-dev, the MNIST test set, and
the synthetic photo/scan failure cases (benchmarks/photos.py), for

* the tutorials' own preprocessing (`convert('L')`, resize to 28x28, `np.invert`) with the bundled model,
* release 0.1.0 (its bundled model and its preprocessing, frozen in benchmarks/previous/),
* the 0.1.0 model with today's preprocessing (what preprocessing alone is worth),
* today's bundled model with today's preprocessing (or --model).

    python benchmarks/realworld.py [--model M.onnx] [--pictures docs/] [--compare A.onnx B.onnx ...]
                                   [--write-threshold]

Then, for each model to compare (by default: the 0.4.0 MLP, the bundled CNN and today's model), how far its
confidence can be trusted on realworld-dev: calibration error, accuracy of the most confident 98/95/90 %, and
`unsure` at a threshold chosen for 99 % of the `ok` rows right -- chosen on all of realworld-dev (the figure
is then in-sample: optimistic) and, honestly, 2-fold (chosen on one half, measured on the other). At the model's
own default threshold, the share of rows `ok` and how many of them are right. `--write-threshold` writes the
threshold chosen on all of realworld-dev into the --model file (its metadata and card): how the bundled models
get their default.

Every image is decoded from its file (MNIST from in-memory PNG-equivalent PIL images). A no-digit result
counts as wrong. `--pictures` also draws the hardest real digits with what the model sees.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import DATA, ROOT  # noqa: E402
from benchmarks.photos import CASES  # noqa: E402
from mnist_onnx import Classifier  # noqa: E402
from mnist_onnx._calibration import accuracy_at_coverage, expected_calibration_error, threshold_for  # noqa: E402
from mnist_onnx._idx import load_split  # noqa: E402
from mnist_onnx.image.decode import decode  # noqa: E402
from mnist_onnx.image.normal import to_mnist  # noqa: E402

REALWORLD = Path(os.environ.get("MNIST_ONNX_REALWORLD", ROOT.parent / "shared" / "realworld-dev"))
PREVIOUS = ROOT / "benchmarks" / "previous"


def _previous_preprocessing():
    spec = importlib.util.spec_from_file_location("preprocess_0_1_0", PREVIOUS / "preprocess_0_1_0.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return lambda src: module.to_mnist(module.decode(src), "auto", True)


def tutorial(src) -> np.ndarray:
    """What the tutorials do with a user's PNG: grayscale, squash to 28x28, invert (black-on-white assumed)."""
    im = src if isinstance(src, Image.Image) else Image.open(src)
    a = np.asarray(im.convert("L").resize((28, 28)))
    return np.invert(a).astype(np.float32) / 255.0


def current(src) -> np.ndarray:
    return to_mnist(decode(src))


def realworld_items() -> list[tuple[Path, int, str]]:
    with open(REALWORLD / "labels.csv", newline="") as f:
        return [(REALWORLD / r["file"], int(r["label"]), r["source"]) for r in csv.DictReader(f)]


def accuracy(clf: Classifier, prep, images, labels) -> tuple[float, np.ndarray, np.ndarray]:
    pixels = np.stack([prep(im) for im in images])
    probs = clf.predict_pixels(pixels)
    pred = np.where(pixels.reshape(len(pixels), -1).any(1), probs.argmax(1), -1)  # no digit = wrong
    return float((pred == labels).mean()), pred, pixels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model to measure as 'today' (default: the bundled one)")
    ap.add_argument("--cases", type=int, default=300, help="MNIST test digits per synthetic photo case")
    ap.add_argument("--pictures", type=Path, default=None, help="folder for realworld_hardest.png")
    ap.add_argument("--compare", nargs="*", default=None, help="models for the calibration table")
    ap.add_argument("--write-threshold", action="store_true", help="write the chosen threshold into --model")
    ap.add_argument("--target", type=float, default=0.99, help="accuracy of ok rows the threshold is chosen for")
    ap.add_argument("--skip-accuracy", action="store_true", help="only the calibration table")
    ap.add_argument("--skip-calibration", action="store_true", help="only the accuracy table")
    args = ap.parse_args()
    if not args.skip_accuracy:
        accuracy_table(args)
    if not args.skip_calibration:
        calibration_table(args)


def calibration_table(args) -> None:
    items = realworld_items()
    paths = [p for p, _, _ in items]
    y = np.array([label for _, label, _ in items])
    pixels = np.stack([current(p) for p in paths])
    models = args.compare if args.compare is not None else [
        str(PREVIOUS / "default-0.4.0.onnx"), "cnn", args.model or "mlp"]
    rng = np.random.default_rng(0)
    half = rng.permutation(len(y)) < len(y) // 2
    print(f"\ncalibration on realworld-dev ({len(y):,} digits), unsure chosen for {args.target:.0%} of ok rows right:")
    header = ["model", "accuracy", "ECE", "98 %", "95 %", "90 %", "threshold (all dev)", "ok / right (in-sample)",
              "ok / right (2-fold)", "model's default: ok / right"]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for name in models:
        clf = Classifier(name, provider="cpu")
        probs = clf.predict_pixels(pixels)
        conf = np.where(pixels.reshape(len(y), -1).any(1), probs.max(1), 0.0)
        right = (probs.argmax(1) == y) & (conf > 0)
        at = accuracy_at_coverage(conf, right, (0.98, 0.95, 0.90))
        t_all = threshold_for(conf, right, args.target)
        ok = conf >= t_all
        fold_ok, fold_right = 0, 0
        for train in (half, ~half):  # choose on one half, measure on the other
            t = threshold_for(conf[train], right[train], args.target)
            kept = ~train & (conf >= t)
            fold_ok, fold_right = fold_ok + kept.sum(), fold_right + (kept & right).sum()
        own = conf >= clf.min_confidence
        label = Path(name).name if name not in ("mlp", "cnn") else f"bundled {name}"
        print("| " + " | ".join([
            label, f"{right.mean():.2%}", f"{expected_calibration_error(conf, right):.4f}",
            *(f"{a:.2%}" for a in at.values()), f"{t_all:.3f}",
            f"{ok.mean():.1%} / {right[ok].mean():.2%}", f"{fold_ok / len(y):.1%} / {fold_right / max(fold_ok, 1):.2%}",
            f"{own.mean():.1%} / {right[own].mean():.2%} (at {clf.min_confidence:.3f})"]) + " |", flush=True)
        if args.write_threshold and name == (args.model or "mlp"):
            from mnist_onnx_export.onnx_export import set_min_confidence

            set_min_confidence(str(clf.model_path), t_all,
                               f"realworld-dev ({len(y):,} real digits): the lowest threshold keeping {args.target:.0%} "
                               f"of the answers above it right ({ok.mean():.1%} of the digits ok; "
                               f"2-fold: {fold_ok / len(y):.1%} ok, {fold_right / max(fold_ok, 1):.2%} right)")
            print(f"wrote min_confidence {t_all:.4f} into {clf.model_path}")


def accuracy_table(args) -> None:

    items = realworld_items()
    paths = [p for p, _, _ in items]
    y_rw = np.array([label for _, label, _ in items])
    src = np.array([s for _, _, s in items])
    sources = sorted(set(src))
    x_test, y_test = load_split(DATA, "test")
    mnist_pngs = [Image.fromarray(a) for a in x_test]
    rng = np.random.default_rng(0)
    cases = {name: [make(x_test[i], rng) for i in range(args.cases)] for name, make in CASES.items()}
    y_cases = y_test[: args.cases]

    new = Classifier(args.model, provider="cpu")
    old = Classifier(PREVIOUS / "default-0.1.0.onnx", provider="cpu")
    contenders = [
        ("tutorial preprocessing, today's model", new, tutorial),
        ("0.1.0: its model, its preprocessing", old, _previous_preprocessing()),
        ("0.1.0 model, today's preprocessing", old, current),
        ("today: bundled model, today's preprocessing" if args.model is None else f"{args.model}, today's preprocessing", new, current),
    ]
    header = ["contender", "realworld-dev", *sources, "MNIST test", "photo cases"]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for name, clf, prep in contenders:
        t0 = time.perf_counter()
        acc_rw, pred_rw, pixels_rw = accuracy(clf, prep, paths, y_rw)
        per_source = [float((pred_rw[src == s] == y_rw[src == s]).mean()) for s in sources]
        acc_mnist, _, _ = accuracy(clf, prep, mnist_pngs, y_test)
        acc_cases = np.mean([accuracy(clf, prep, ims, y_cases)[0] for ims in cases.values()])
        cells = [f"{acc_rw:.1%}", *(f"{a:.1%}" for a in per_source), f"{acc_mnist:.2%}", f"{acc_cases:.1%}"]
        print("| " + " | ".join([name, *cells]) + f" |  ({time.perf_counter() - t0:.0f} s)", flush=True)
    print()
    print("photo cases, today:", ", ".join(f"{k} {accuracy(new, current, ims, y_cases)[0]:.0%}" for k, ims in cases.items()))

    if args.pictures is not None:
        _, pred, pixels = accuracy(new, current, paths, y_rw)
        probs = new.predict_pixels(pixels)
        margin = probs[np.arange(len(y_rw)), y_rw] - np.where(pred >= 0, probs.max(1), 1.0)
        hardest = np.argsort(margin, kind="stable")[:24]
        _hardest_picture(hardest, paths, y_rw, pred, probs, pixels, args.pictures / "realworld_hardest.png")


def _hardest_picture(idx, paths, labels, pred, probs, pixels, out: Path) -> None:
    from PIL import ImageDraw, ImageFont

    tile, pad, cap = 84, 6, 28
    cols = 12
    rows = -(-len(idx) // cols)
    im = Image.new("RGB", (cols * (tile + pad) + pad, rows * (2 * tile + cap + 2 * pad) + pad), "white")
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=11)
    for k, i in enumerate(idx):
        x0 = pad + (k % cols) * (tile + pad)
        y0 = pad + (k // cols) * (2 * tile + cap + 2 * pad)
        src = Image.open(paths[i]).convert("L")
        s = tile / max(src.size)
        src = src.resize((max(1, round(src.width * s)), max(1, round(src.height * s))), Image.Resampling.NEAREST)
        im.paste(src, (x0 + (tile - src.width) // 2, y0 + (tile - src.height) // 2))
        seen = Image.fromarray((pixels[i] * 255).astype(np.uint8)).resize((tile, tile), Image.Resampling.NEAREST)
        im.paste(seen, (x0, y0 + tile + 2))
        got = "-" if pred[i] < 0 else f"{pred[i]} {probs[i].max():.0%}"
        draw.text((x0, y0 + 2 * tile + 4), f"{paths[i].parent.name[:9]}", font=font, fill="black")
        draw.text((x0, y0 + 2 * tile + 15), f"{labels[i]} -> {got}", font=font, fill=(170, 0, 0))
    out.parent.mkdir(parents=True, exist_ok=True)
    im.save(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
