"""Reading whole numbers, side by side: `mnist-onnx read` (the sequence reader) against the segmentation
reader of 0.7.0 (`--model mlp`), the usual recipe (split at empty columns, classify each piece) and a peer,
RapidOCR's recogniser, run in its own environment (benchmarks/rapidocr_peer.py): on ../shared/numbers-dev
(360 real handwritten numbers) and on synthetic photos of numbers (benchmarks/number_cases.py); `read` on
single real digits against `classify`; the `unsure` trade-off; speed and memory as whole processes.

    python benchmarks/read_numbers.py [--cases 50] [--pictures docs/] [--peer-python /tmp/ocrvenv/bin/python]

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
from mnist_onnx.image.levels import levels  # noqa: E402
from mnist_onnx.image.decode import decode  # noqa: E402
from mnist_onnx.image.normal import to_mnist  # noqa: E402

NUMBERS = Path(os.environ.get("MNIST_ONNX_NUMBERS", ROOT.parent / "shared" / "numbers-dev"))
REALWORLD = Path(os.environ.get("MNIST_ONNX_REALWORLD", ROOT.parent / "shared" / "realworld-dev"))


def empty_columns(clf: Classifier, image) -> str:
    """The usual recipe: levels (our background and polarity), split where a column has no ink, classify
    each piece (cropped from the decoded image) with the full single-digit preprocessing."""
    gray = decode(image)
    on = (levels(gray, "auto") > 0.25).any(0)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], on.astype(np.int8), [0]])))
    pieces = [(a, b) for a, b in zip(edges[::2], edges[1::2]) if b - a >= 2]
    if not pieces:
        return ""
    probs = clf.predict_pixels(np.stack([to_mnist(gray[:, a:b]) for a, b in pieces]))
    return "".join(str(d) for d in probs.argmax(1))


def peer(python: str | None, files: list) -> list[dict] | None:
    """RapidOCR's recogniser on *files*, in its own environment (benchmarks/rapidocr_peer.py), or None."""
    if not python:
        return None
    import json
    import subprocess

    out = subprocess.run([python, str(Path(__file__).with_name("rapidocr_peer.py"))], input="\n".join(map(str, files)),
                         capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=50, help="numbers per synthetic photo case")
    ap.add_argument("--pictures", type=Path, default=None, help="folder for numbers.png (boxes and readings)")
    ap.add_argument("--peer-python", default=os.environ.get("MNIST_ONNX_PEER_PYTHON"),
                    help="python of an environment with rapidocr and onnxruntime (the peer); default "
                         "$MNIST_ONNX_PEER_PYTHON; none: the peer's column is left out")
    ap.add_argument("--no-speed", action="store_true", help="skip the whole-process speed runs")
    ap.add_argument("--compare", nargs="*", default=[], metavar="LABEL=PATH",
                    help="other sequence readers to measure beside the bundled one on numbers-dev (a row each)")
    args = ap.parse_args()
    clf = Classifier(provider="cpu")
    reader = Classifier("reader", provider="cpu")

    # --- numbers-dev ------------------------------------------------------------------------------------
    truth = list(csv.DictReader(open(NUMBERS / "labels.csv")))
    files = [NUMBERS / t["file"] for t in truth]
    readings = list(reader.read_files(map(str, files), min_confidence=0))
    seg = [r.number for r in clf.read_files(map(str, files), min_confidence=0)]
    recipe = [empty_columns(clf, f) for f in files]
    peers = peer(args.peer_python, files)
    sources = sorted({t["source"] for t in truth})

    def row(name: str, got: list) -> str:
        ok = np.array([g == t["label"] for g, t in zip(got, truth)])
        touch = np.array([t["touching"] == "1" for t in truth])
        src = np.array([t["source"] for t in truth])
        length = np.array([len(g or "") != len(t["label"]) for g, t in zip(got, truth)])
        cells = [f"{ok.mean():.1%}", f"{ok[~touch].mean():.1%}", f"{ok[touch].mean():.1%}",
                 *(f"{ok[src == s].mean():.1%}" for s in sources), f"{int(length.sum())} / {int((~ok & ~length).sum())}"]
        return "| " + " | ".join([name, *cells]) + " |"

    print("numbers-dev (360 numbers of 2-6 real digits; exact match)\n")
    print("| reader | all | digits apart | touching pair | " + " | ".join(sources) + " | misses: wrong length / wrong digit |")
    print("|" + " --- |" * (5 + len(sources)))
    print(row("split at empty columns, classify each piece (MLP)", recipe))
    print(row("`read --model mlp` (segmentation, 0.7.0's reader)", seg))
    if peers is not None:
        print(row("RapidOCR 3.10 recogniser only, whole image (peer)", [p["number"] for p in peers]))
    others = []
    for spec in args.compare:
        label, _, path = spec.partition("=")
        other = Classifier(path, provider="cpu")
        got = list(other.read_files(map(str, files), min_confidence=0))
        others.append((label, other, got))
        print(row(f"sequence reader: {label}", [r.number for r in got]))
    print(row("**`mnist-onnx read`** (sequence reader)", [r.number for r in readings]))

    # --- unsure -----------------------------------------------------------------------------------------
    ok = np.array([r.number == t["label"] for r, t in zip(readings, truth)])
    conf = np.array([r.confidence or 0.0 for r in readings])
    own = reader.min_confidence
    print(f"\n`--min-confidence` on numbers-dev (the reader's own threshold: {own:.4f}, chosen on held-out synthetic strings)\n")
    print("| min confidence | rows `ok` | `ok` rows right | wrong answers given as `ok` |")
    print("| --- | --- | --- | --- |")
    for t in (0.0, 0.5, own, 0.9, 0.99):
        keep = conf >= t
        print(f"| {t:.4g}{' (default)' if t == own else ''} | {keep.mean():.1%} | "
              f"{ok[keep].mean() if keep.any() else float('nan'):.1%} | {int((~ok & keep).sum())} |")
    for label, other, got in others:
        o_ok = np.array([r.number == t["label"] for r, t in zip(got, truth)])
        keep = np.array([r.confidence or 0.0 for r in got]) >= other.min_confidence
        print(f"| {label}: its own {other.min_confidence:.4g} | {keep.mean():.1%} | "
              f"{o_ok[keep].mean() if keep.any() else float('nan'):.1%} | {int((~o_ok & keep).sum())} |")

    # --- synthetic photo cases ---------------------------------------------------------------------------
    x, y = load_split(DATA, "test")
    p = clf.predict(x)
    pool = number_cases.clear_digits(x, y, p.max(1) * (p.argmax(1) == y))
    rng = np.random.default_rng(11)
    print(f"\nphoto cases ({args.cases} numbers each, written with MNIST test digits the MLP reads right alone)\n")
    print("| case | empty columns | `read --model mlp` | **`read`** |")
    print("| --- | --- | --- | --- |")
    examples = []
    for case in number_cases.CASES:
        labels = number_cases.labels(case, args.cases, rng)
        images = [number_cases.make(case, label, x, pool, rng) for label in labels]
        got = [r.number for r in reader.read(images, min_confidence=0)]
        segmented = [r.number for r in clf.read(images, min_confidence=0)]
        base = [empty_columns(clf, im) for im in images]
        print(f"| {case} | {np.mean([b == t for b, t in zip(base, labels)]):.0%} | "
              f"{np.mean([g == t for g, t in zip(segmented, labels)]):.0%} | "
              f"{np.mean([g == t for g, t in zip(got, labels)]):.0%} |")
        examples.append((images[0], labels[0]))

    # --- single digits: read against classify --------------------------------------------------------------
    rows = list(csv.DictReader(open(REALWORLD / "labels.csv")))
    paths = [str(REALWORLD / r["file"]) for r in rows]
    right = [r["label"] for r in rows]
    classified = [None if r.digit is None else str(r.digit) for r in clf.classify_files(paths)]
    single = [r.number for r in reader.read_files(paths, min_confidence=0)]
    src = np.array([r["source"] for r in rows])
    c_ok = np.array([c == t for c, t in zip(classified, right)])
    r_ok = np.array([n == t for n, t in zip(single, right)])
    print("\nrealworld-dev (2,200 single real digits): the right digit, `read` against `classify`\n")
    print("| | all | " + " | ".join(sorted(set(src))) + " |")
    print("|" + " --- |" * (2 + len(set(src))))
    for name, okk in (("`classify` (MLP)", c_ok), ("**`read`** (sequence reader)", r_ok)):
        print(f"| {name} | {okk.mean():.1%} | " + " | ".join(f"{okk[src == s].mean():.1%}" for s in sorted(set(src))) + " |")

    # --- speed and memory, whole processes ----------------------------------------------------------------
    if not args.no_speed:
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
                for model in ("reader", "mlp"):
                    cmd = [cli(), "read", str(folder), "-f", "csv", "-q", "-p", "cpu", "--model", model]
                    wall = min(run_timed(cmd)[0] for _ in range(3))
                    rss = peak_rss_mib(cmd)
                    print(f"| {n:,} numbers, --model {model} | {n / wall:.0f} | {rss:.0f} MiB |", flush=True)
        if peers is not None:
            print(f"\nthe peer's recogniser alone (in-process, no start-up): {len(peers) / sum(p['seconds'] for p in peers):.0f} numbers/s")

    if args.pictures is not None:
        real = [(Image.open(files[i]), truth[i]["label"]) for i in (0, 6, 7)]
        _picture(reader, real + examples[:3], args.pictures / "numbers.png")


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
