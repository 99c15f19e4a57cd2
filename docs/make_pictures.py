"""Regenerate the README's pictures with the project's own code and commands.

    python docs/make_pictures.py ../shared/mnist-5k
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
from mnist_onnx import Classifier, load_image  # noqa: E402


def preprocessing_grid() -> None:
    """Each sample as stored (over a checkerboard where transparent) above what the model receives."""
    files = sorted((ROOT / "samples").glob("*.png"))
    clf = Classifier(provider="cpu")
    tile, pad, cap = 112, 8, 34
    im = Image.new("RGB", (len(files) * (tile + pad) + pad, 2 * tile + 3 * pad + cap), "white")
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=11)
    for k, path in enumerate(files):
        x0 = pad + k * (tile + pad)
        src = Image.open(path)
        src.seek(0)
        if src.mode.startswith("I"):  # 16-bit: Pillow's own conversion would clip it to white
            src = Image.fromarray((np.asarray(src, dtype=np.float32) / 257).astype(np.uint8))
        src = src.convert("RGBA")
        s = tile / max(src.size)
        src = src.resize((max(1, round(src.width * s)), max(1, round(src.height * s))),
                         Image.Resampling.NEAREST if s > 1 else Image.Resampling.LANCZOS)
        checker = Image.fromarray(((np.indices((tile, tile)).sum(0) // 8 % 2) * 40 + 180).astype(np.uint8)).convert("RGBA")
        checker.alpha_composite(src, ((tile - src.width) // 2, (tile - src.height) // 2))
        im.paste(checker.convert("RGB"), (x0, pad))
        seen = load_image(path)
        im.paste(Image.fromarray((seen * 255).astype(np.uint8)).resize((tile, tile), Image.Resampling.NEAREST), (x0, tile + 2 * pad))
        pred = clf.classify(path)
        draw.text((x0, 2 * tile + 2 * pad + 4), path.stem, font=font, fill="black")
        draw.text((x0, 2 * tile + 2 * pad + 18), f"-> {pred.digit} ({pred.confidence:.0%})", font=font, fill=(170, 0, 0))
    im.save(HERE / "preprocessing.png")


def _tile(a: np.ndarray, size: int) -> Image.Image:
    """A [0, 1] 28x28 array (or any gray image) as a size x size tile."""
    im = Image.fromarray((np.clip(a, 0, 1) * 255).astype(np.uint8)) if isinstance(a, np.ndarray) else a.convert("L")
    s = size / max(im.size)
    im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))),
                   Image.Resampling.NEAREST if s > 1 else Image.Resampling.LANCZOS)
    out = Image.new("L", (size, size), 255 if not isinstance(a, np.ndarray) else 0)
    out.paste(im, ((size - im.width) // 2, (size - im.height) // 2))
    return out


def _grid(rows: list[list[Image.Image]], row_labels: list[str], col_labels: list[str], out: Path, tile: int) -> None:
    pad, left, top = 6, 120, 20
    im = Image.new("RGB", (left + len(col_labels) * (tile + pad), top + len(rows) * (tile + pad)), "white")
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=12)
    for j, label in enumerate(col_labels):
        draw.text((left + j * (tile + pad), 3), label, font=font, fill="black")
    for i, (row, label) in enumerate(zip(rows, row_labels)):
        draw.text((4, top + i * (tile + pad) + tile // 2 - 7), label, font=font, fill="black")
        for j, t in enumerate(row):
            im.paste(t.convert("RGB"), (left + j * (tile + pad), top + i * (tile + pad)))
    im.save(out)


def photo_cases(data: str) -> None:
    """Each synthetic failure case: the image, what release 0.1.0 handed the model, what it gets now."""
    import importlib.util

    from benchmarks.photos import CASES, blank_images
    from mnist_onnx._idx import load_split
    from mnist_onnx.image.decode import decode
    from mnist_onnx.image.normal import to_mnist

    spec = importlib.util.spec_from_file_location("old", ROOT / "benchmarks" / "previous" / "preprocess_0_1_0.py")
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    x, _ = load_split(data, "test")
    rng = np.random.default_rng(3)
    rows, labels = [], []
    for k, ((name, make), i) in enumerate(zip(CASES.items(), [10, 11, 12, 13, 15, 21, 17])):
        image = make(x[i], rng)
        rows.append([_tile(image, 96), _tile(old.to_mnist(old.decode(image), "auto", True), 96),
                     _tile(to_mnist(decode(image)), 96)])
        labels.append(f"{k + 1}. {name.replace('_', ' ')}")
    blank = blank_images(rng)["paper_with_specks"]
    rows.append([_tile(blank, 96), _tile(old.to_mnist(old.decode(blank), "auto", True), 96), _tile(to_mnist(decode(blank)), 96)])
    labels.append("8. no digit")
    _grid(rows, labels, ["the image", "before (0.1.0)", "now"], HERE / "photo_cases.png", 96)


def augmentation_picture(data: str) -> None:
    """What training sees: originals, their low-resolution and regional-style variants, augmented copies."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    from mnist_onnx._idx import load_split
    from mnist_onnx_export.augment import AugmentConfig, augment, lowres_variants, style_variants

    x, y = load_split(data, "test")
    idx = [3, 2, 1, 18, 4, 8, 11, 0, 61, 7, 17, 9]  # 0 1 2 3 4 5 6 7 8 9, another 7 and 1
    xs, ys = x[idx], y[idx]
    flat = xs.reshape(len(idx), 784).astype(np.float32) / 255
    tf.random.set_seed(0)
    rows = [flat, lowres_variants(xs, 0), style_variants(xs, ys, 0)]
    cfg = AugmentConfig()
    rows += [augment(tf.constant(flat), cfg).numpy() for _ in range(3)]
    tiles = [[_tile(a.reshape(28, 28), 56) for a in row] for row in rows]
    _grid(tiles, ["MNIST", "tiny source", "regional style", "augmented", "augmented", "augmented"],
          [""] * len(idx), HERE / "augmentation.png", 56)


def serve_screenshot() -> None:
    """The drawing page after drawing a 7, as headless Chromium (Debian's) renders it."""
    import shutil
    import signal
    import socket
    import time
    import urllib.request

    from playwright.sync_api import sync_playwright

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cli = str(Path(sys.executable).with_name("mnist-onnx"))
    server = subprocess.Popen([cli, "serve", "--port", str(port), "-p", "cpu"], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        browser_path = shutil.which("chromium-headless-shell") or shutil.which("chromium")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 800, "height": 590})
            page.goto(url)
            box = page.locator("#pad").bounding_box()
            page.mouse.move(box["x"] + 70, box["y"] + 60)
            page.mouse.down()
            for x, y in [(210, 55), (150, 150), (115, 235)]:
                page.mouse.move(box["x"] + x, box["y"] + y, steps=15)
            page.mouse.up()
            page.wait_for_function("document.getElementById('prediction').textContent !== ''")
            page.screenshot(path=str(HERE / "serve.png"))
            browser.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)


def main(data: str) -> None:
    preprocessing_grid()
    serve_screenshot()
    photo_cases(data)
    augmentation_picture(data)
    cli = str(Path(sys.executable).with_name("mnist-onnx"))
    subprocess.run([cli, "evaluate", data, "--output", str(HERE), "-p", "cpu"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([cli, "show", str(ROOT / "samples" / "4_shaded.png"), "--output", str(HERE), "-p", "cpu"],
                   check=True, stdout=subprocess.DEVNULL)
    print(f"pictures written to {HERE}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(ROOT.parent / "shared" / "mnist-5k"))
