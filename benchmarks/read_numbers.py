"""Reading whole numbers, side by side: `mnist-onnx read` against the usual recipe (threshold, split at empty
columns, classify each piece with the same model), on ../shared/numbers-dev (360 real handwritten numbers)
and on synthetic photos of numbers (benchmarks/number_cases.py); `read` on single real digits against
`classify`; the `unsure` trade-off; and speed and memory as whole processes.

    python benchmarks/read_numbers.py [--cases 50] [--pictures docs/]

Accuracy is exact-match of the whole digit string (a leading zero lost is wrong).
"""

from __future__ import annotations

import sys
from pathlib import Path

import argparse  # noqa: E402
import csv  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import number_cases  # noqa: E402
from benchmarks.common import DATA, ROOT, cli, peak_rss_mib, run_timed  # noqa: E402
from mnist_onnx import Classifier  # noqa: E402
from mnist_onnx._idx import load_split  # noqa: E402
from mnist_onnx._clean import _levels  # noqa: E402
from mnist_onnx._decode import decode  # noqa: E402
from mnist_onnx._preprocess import to_mnist  # noqa: E402

NUMBERS = Path(os.environ.get("MNIST_ONNX_NUMBERS", ROOT.parent / "shared" / "numbers-dev"))
REALWORLD = Path(os.environ.get("MNIST_ONNX_REALWORLD", ROOT.parent / "shared" / "realworld-dev"))


def empty_columns(clf: Classifier, image) -> str:
    """The usual recipe: levels (our background and polarity), split where a column has no ink, classify
    each piece (cropped from the decoded image) with the full single-digit preprocessing."""
    gray = decode(image)
    on = (_levels(gray, "auto") > 0.25).any(0)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], on.astype(np.int8), [0]])))
    pieces = [(a, b) for a, b in zip(edges[::2], edges[1::2]) if b - a >= 2]
    if not pieces:
        return ""
    probs = clf.predict_pixels(np.stack([to_mnist(gray[:, a:b]) for a, b in pieces]))
    return "".join(str(d) for d in probs.argmax(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=50, help="numbers per synthetic photo case")
    ap.add_argument("--pictures", type=Path, default=None, help="folder for numbers.png (boxes and readings)")
    args = ap.parse_args()
    clf = Classifier(provider="cpu")

    # --- numbers-dev ------------------------------------------------------------------------------------
    truth = list(csv.DictReader(open(NUMBERS / "labels.csv")))
    files = [NUMBERS / t["file"] for t in truth]
    read = [r.number for r in clf.read_files(map(str, files), min_confidence=0)]
    recipe = [empty_columns(clf, f) for f in files]
    sources = sorted({t["source"] for t in truth})

    def row(name: str, got: list) -> str:
        ok = np.array([g == t["label"] for g, t in zip(got, truth)])
        touch = np.array([t["touching"] == "1" for t in truth])
        src = np.array([t["source"] for t in truth])
        cells = [f"{ok.mean():.1%}", f"{ok[~touch].mean():.1%}", f"{ok[touch].mean():.1%}",
                 *(f"{ok[src == s].mean():.1%}" for s in sources)]
        return "| " + " | ".join([name, *cells]) + " |"

    print("numbers-dev (360 numbers of 2-6 real digits; exact match)\n")
    print("| reader | all | digits apart | touching pair | " + " | ".join(sources) + " |")
    print("|" + " --- |" * (4 + len(sources)))
    print(row("split at empty columns, classify each piece", recipe))
    print(row("**`mnist-onnx read`**", read))

    # --- synthetic photo cases ---------------------------------------------------------------------------
    x, y = load_split(DATA, "test")
    p = clf.predict(x)
    pool = number_cases.clear_digits(x, y, p.max(1) * (p.argmax(1) == y))
    rng = np.random.default_rng(11)
    print(f"\nphoto cases ({args.cases} numbers each, written with MNIST digits the model reads right alone)\n")
    print("| case | empty columns | `read` |")
    print("| --- | --- | --- |")
    examples = []
    for case in number_cases.CASES:
        labels = number_cases.labels(case, args.cases, rng)
        images = [number_cases.make(case, label, x, pool, rng) for label in labels]
        got = [r.number for r in clf.read(images, min_confidence=0)]
        base = [empty_columns(clf, im) for im in images]
        print(f"| {case} | {np.mean([b == t for b, t in zip(base, labels)]):.0%} | "
              f"{np.mean([g == t for g, t in zip(got, labels)]):.0%} |")
        examples.append((images[0], labels[0]))

    # --- single digits: read gives classify's digit -------------------------------------------------------
    paths = [str(REALWORLD / r["file"]) for r in csv.DictReader(open(REALWORLD / "labels.csv"))]
    classified = [r.digit for r in clf.classify_files(paths)]
    single = [r.number for r in clf.read_files(paths)]
    same = np.mean([(None if d is None else str(d)) == n for d, n in zip(classified, single)])
    print(f"\nrealworld-dev (2,200 single digits): read gives classify's digit on {same:.2%}")

    # --- unsure -----------------------------------------------------------------------------------------
    readings = list(clf.read_files(map(str, files), min_confidence=0))
    ok = np.array([r.number == t["label"] for r, t in zip(readings, truth)])
    conf = np.array([r.confidence or 0.0 for r in readings])
    print("\n`--min-confidence` on numbers-dev\n")
    print("| min confidence | rows `ok` | `ok` rows right | wrong answers given as `ok` |")
    print("| --- | --- | --- | --- |")
    for t in (0.0, 0.5, 0.9, 0.99):
        keep = conf >= t
        print(f"| {t:g} | {keep.mean():.1%} | {ok[keep].mean():.1%} | {int((~ok & keep).sum())} |")

    # --- speed and memory, whole processes ----------------------------------------------------------------
    print("\nspeed: `mnist-onnx read` on numbers-dev as a whole process (best of 3), and peak RSS\n")
    print("| run | numbers/s | peak RSS |")
    print("| --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "x10"
        big.mkdir()
        for k in range(10):
            for f in files:
                os.link(f, big / f"{k}_{f.name}") if _same_fs(f, big) else shutil.copy(f, big / f"{k}_{f.name}")
        for folder, n in ((NUMBERS, len(files)), (big, 10 * len(files))):
            for workers in (1, 2):
                cmd = [cli(), "read", str(folder), "-f", "csv", "-q", "-p", "cpu", "--workers", str(workers)]
                wall = min(run_timed(cmd)[0] for _ in range(3))
                rss = peak_rss_mib(cmd)
                print(f"| {n:,} numbers, --workers {workers} | {n / wall:.0f} | {rss:.0f} MiB |", flush=True)

    if args.pictures is not None:
        real = [(Image.open(files[i]), truth[i]["label"]) for i in (0, 6, 7)]
        _picture(clf, real + examples[:3], args.pictures / "numbers.png")


def _same_fs(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev


def _picture(clf: Classifier, images: list[tuple[Image.Image, str]], out: Path) -> None:
    """Each input with the boxes `read` found, the number it read and the truth."""
    from PIL import ImageDraw, ImageFont

    font = ImageFont.load_default(size=16)
    tiles = []
    for im, label in images:
        r = clf.read(im)
        tile = im.convert("RGB")
        s = 110 / tile.height
        tile = tile.resize((round(tile.width * s), 110), Image.Resampling.BILINEAR)
        canvas = Image.new("RGB", (max(tile.width, 360), tile.height + 26), "white")
        canvas.paste(tile, (0, 0))
        draw = ImageDraw.Draw(canvas)
        for d in r.digits:
            left, top, right, bottom = (round(v * s) for v in d.box)
            draw.rectangle([left, top, right - 1, bottom - 1], outline=(26, 115, 232), width=2)
            draw.text((left + 2, top + 1), str(d.digit), font=font, fill=(200, 0, 0))
        mark = "right" if r.number == label else f"wrong: it is {label}"
        draw.text((4, tile.height + 4), f"read {r.number} ({r.confidence:.0%}, {r.status}); {mark}", font=font,
                  fill="black" if r.number == label else (200, 0, 0))
        tiles.append(canvas)
    width = max(t.width for t in tiles[:3]) + max(t.width for t in tiles[3:]) + 30
    height = sum(t.height + 10 for t in tiles[:3])
    sheet = Image.new("RGB", (width, height), "white")
    for k, t in enumerate(tiles):
        col, rowi = divmod(k, 3)
        sheet.paste(t, (col * (max(u.width for u in tiles[:3]) + 30), sum(u.height + 10 for u in tiles[col * 3 : col * 3 + rowi])))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
