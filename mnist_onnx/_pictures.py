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


def risk_coverage_png(confidences: np.ndarray, correct: np.ndarray, min_confidence: float, path: Path,
                      title: str) -> Path:
    """Accuracy of the answers kept against the share kept (most confident first), from 50 % to all of them;
    the `unsure` threshold marked. What answering only when sure buys."""
    from ._calibration import risk_coverage

    w, h, left, top, bottom = 560, 380, 70, 40, 50
    pw, ph = w - left - 20, h - top - bottom
    im = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(im)
    f, small = _font(15), _font(12)
    cov, acc, conf = risk_coverage(confidences, correct)
    low = min(0.9, float(acc.min()) if len(acc) else 0.9)
    low = np.floor(low * 50) / 50  # the accuracy axis from a round number to 100 %

    def xy(c: float, a: float) -> tuple[float, float]:
        return left + (c - 0.5) / 0.5 * pw, top + (1.0 - a) / max(1.0 - low, 1e-9) * ph

    for c in np.linspace(0.5, 1.0, 6):
        x, _ = xy(c, 1.0)
        draw.line([x, top, x, top + ph], fill=(230, 230, 230))
        draw.text((x, top + ph + 12), f"{c:.0%}", anchor="mm", font=small, fill="black")
    for a in np.linspace(low, 1.0, 6):
        _, y = xy(0.5, a)
        draw.line([left, y, left + pw, y], fill=(230, 230, 230))
        draw.text((left - 6, y), f"{a:.1%}", anchor="rm", font=small, fill="black")
    keep = cov >= 0.5
    if keep.sum() > 1:
        step = max(1, int(keep.sum()) // 800)
        draw.line([xy(c, a) for c, a in zip(cov[keep][::step], acc[keep][::step])] + [xy(cov[-1], acc[-1])],
                  fill=tuple(int(v) for v in _BLUE), width=2)
    if min_confidence > 0 and len(conf):
        kept = int((conf >= min_confidence).sum())
        if kept and cov[kept - 1] >= 0.5:
            x, y = xy(cov[kept - 1], acc[kept - 1])
            draw.ellipse([x - 5, y - 5, x + 5, y + 5], outline=(178, 106, 0), width=2)
            draw.text((x - 8, y + 8), f"ok at >= {min_confidence:g}: {cov[kept - 1]:.1%} kept, {acc[kept - 1]:.2%} right",
                      anchor="ra", font=small, fill=(178, 106, 0))
    draw.rectangle([left, top, left + pw, top + ph], outline=(120, 120, 120))
    draw.text((left + pw / 2, h - 14), "share of answers kept (most confident first)", anchor="mm", font=small, fill="black")
    draw.text((w / 2, 18), title, anchor="mm", font=f, fill="black")
    return _save(im, path)


def write_report(ev, folder: Path, model_name: str) -> list[Path]:
    """`evaluate --output DIR`: confusion.png, misclassified.png (the first 100) and risk-coverage.png for an
    Evaluation."""
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
        risk_coverage_png(ev.confidences, ev.labels == ev.predictions, ev.min_confidence,
                          folder / "risk-coverage.png", f"accuracy of the answers kept: {model_name}"),
    ]
