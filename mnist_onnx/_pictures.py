"""PNG pictures drawn with Pillow alone (the runtime has no matplotlib): confusion matrix, a grid of
misclassified inputs, and the per-image "what the model sees" card used by `show --save`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ._paths import atomic_write

_BLUE = np.array([8, 48, 107])


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def _save(im: Image.Image, path: Path) -> Path:
    with atomic_write(path, "wb") as f:
        im.save(f, format="PNG")
    return path


def _digit_tile(pixels: np.ndarray, scale: int) -> Image.Image:
    """A (28, 28) [0, 1] model input as the model sees it (white ink on black), enlarged."""
    im = Image.fromarray(np.clip(pixels * 255, 0, 255).astype(np.uint8), "L")
    return im.resize((28 * scale, 28 * scale), Image.Resampling.NEAREST)


def confusion_png(cm: np.ndarray, path: Path, title: str) -> Path:
    cell, margin = 48, 70
    size = margin + 10 * cell + 20
    im = Image.new("RGB", (size, size + 30), "white")
    draw = ImageDraw.Draw(im)
    f, small = _font(16), _font(13)
    scale = np.log1p(cm) / max(np.log1p(cm).max(), 1e-9)
    for (i, j), v in np.ndenumerate(cm):
        x0, y0 = margin + j * cell, margin + 30 + i * cell
        shade = tuple(int(c) for c in (255 - (255 - _BLUE) * scale[i, j]))
        draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=shade, outline=(220, 220, 220))
        if v:
            draw.text((x0 + cell / 2, y0 + cell / 2), str(v), anchor="mm", font=small,
                      fill="white" if scale[i, j] > 0.6 else "black")
    for d in range(10):
        draw.text((margin + d * cell + cell / 2, margin + 18), str(d), anchor="mm", font=f, fill="black")
        draw.text((margin - 14, margin + 30 + d * cell + cell / 2), str(d), anchor="mm", font=f, fill="black")
    draw.text((margin + 5 * cell, margin - 2), "predicted digit", anchor="mm", font=f, fill="black")
    draw.text((8, margin + 30 + 5 * cell), "true", anchor="lm", font=f, fill="black")
    draw.text((size / 2, 18), title, anchor="mm", font=f, fill="black")
    return _save(im, path)


def misclassified_png(pixels: np.ndarray, labels: np.ndarray, preds: np.ndarray, conf: np.ndarray,
                      path: Path, title: str, limit: int = 100) -> Path:
    """Up to *limit* wrongly classified model inputs, each captioned 'true -> predicted (confidence)'."""
    n = min(len(pixels), limit)
    cols = 10 if n >= 10 else max(n, 1)
    rows = max(1, -(-n // cols))
    scale, cap = 3, 18
    tw, th = 28 * scale + 8, 28 * scale + cap + 8
    im = Image.new("RGB", (cols * tw + 8, rows * th + 36), "white")
    draw = ImageDraw.Draw(im)
    f = _font(13)
    draw.text((8, 10), title, font=_font(16), fill="black")
    for k in range(n):
        x0, y0 = 8 + (k % cols) * tw, 36 + (k // cols) * th
        im.paste(_digit_tile(pixels[k], scale), (x0, y0))
        draw.text((x0, y0 + 28 * scale + 2), f"{labels[k]}->{preds[k]} ({conf[k]:.2f})", font=f, fill=(170, 0, 0))
    return _save(im, path)


def show_png(pixels: np.ndarray, probs: np.ndarray, path: Path, title: str) -> Path:
    """The model's input (left) and its ten probabilities as bars, the prediction highlighted (right)."""
    scale = 8
    tile = _digit_tile(pixels, scale)
    w, h = tile.width + 360, tile.height + 50
    im = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(im)
    f = _font(15)
    draw.text((10, 12), title, font=f, fill="black")
    im.paste(tile, (10, 40))
    best = int(probs.argmax())
    x0, bar_w = tile.width + 40, 260
    row = tile.height / 10
    for d in range(10):
        y = 40 + d * row
        draw.text((x0, y + row / 2), str(d), anchor="lm", font=f, fill="black")
        length = max(1, int(bar_w * float(probs[d])))
        color = (214, 39, 40) if d == best else (31, 119, 180)
        draw.rectangle([x0 + 20, y + 4, x0 + 20 + length, y + row - 4], fill=color)
        draw.text((x0 + 26 + length, y + row / 2), f"{probs[d]:.3f}", anchor="lm", font=_font(12), fill="black")
    return _save(im, path)


def write_report(ev, folder: Path, model_name: str) -> list[Path]:
    """`evaluate --output DIR`: confusion.png and misclassified.png (the first 100) for an Evaluation."""
    folder.mkdir(parents=True, exist_ok=True)
    wrong = ev.misclassified()
    pixels = ev.pixels[wrong] if ev.pixels is not None else np.zeros((0, 28, 28))
    return [
        confusion_png(ev.confusion, folder / "confusion.png",
                      f"{ev.accuracy:.2%} of {len(ev.labels):,} correct: {model_name}"),
        misclassified_png(pixels, ev.labels[wrong], ev.predictions[wrong], ev.confidences[wrong],
                          folder / "misclassified.png",
                          f"{len(wrong):,} misclassified (true->predicted, confidence)"
                          + (", first 100" if len(wrong) > 100 else "")),
    ]
