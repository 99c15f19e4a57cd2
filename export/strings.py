"""Handwritten number strings, synthesised on the fly for the sequence reader (NumPy and Pillow only).

Each string is 1-12 digits drawn from a pool of single digits (MNIST's, with 1s and 7s in the world's other
styles: flags, crossbars, hooked tops), each cropped to its ink and set on a line as people write: varied
height, aspect, slant, baseline and gaps (overlapping and touching, apart, a phone number's space), then the
line's look varied (pen width, blur, a low-resolution scan's blocks, a bilevel scan, faint ink), with
underlines, a line above, a register cell's box, a tick after it, dots and specks near it. A share of the
strings is then photographed (`_photo`): dark ink on paper of any grey, lit by a gradient or a hand's shadow,
on ruled or squared paper, with sensor noise and JPEG, and brought back by the runtime's own `levels`.
Every canvas then goes through the runtime's own `find_line` and `to_input` -- what the reader will see of a
real image. A string whose line still holds an upright stroke beyond its digits (what the runtime left of a
box's side or a grid line) is drawn again: unlabelled, it taught readers to drop a straight 1 at a number's end.
"""

from __future__ import annotations

from dataclasses import dataclass

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from mnist_onnx.parts import STRIDE, find_line, levels, to_input

LENGTHS = np.arange(1, 13)
LENGTH_WEIGHTS = np.array([8, 10, 10, 10, 10, 10, 8, 8, 7, 7, 6, 6], float)


@dataclass
class Pool:
    """Single digits cropped to their ink: float32 [0, 1] white on black, by label."""

    glyphs: list[np.ndarray]
    by_label: list[np.ndarray]  # indices into glyphs for each digit 0-9

    @classmethod
    def from_images(cls, images: np.ndarray, labels: np.ndarray) -> "Pool":
        glyphs = []
        for img in images:
            a = np.asarray(img, np.float32).reshape(28, 28)
            a = a / 255.0 if a.max() > 1.0 else a
            rows, cols = np.flatnonzero((a > 0.1).any(1)), np.flatnonzero((a > 0.1).any(0))
            if len(rows) == 0:
                a, rows, cols = np.ones((4, 2), np.float32), np.arange(4), np.arange(2)
            glyphs.append(np.ascontiguousarray(a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]))
        labels = np.asarray(labels)
        return cls(glyphs, [np.flatnonzero(labels == d) for d in range(10)])


def straight_ones(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 28, 28) 1s written as one straight upright stroke (a mouse on a drawing pad, a ruler-straight
    pen): MNIST's 1s lean and bend, and a reader that has seen a box's sides and ticks only as straight
    strokes at a number's ends learns to drop such a 1 there (the pad's "174" read as "74")."""
    out = np.zeros((n, 28, 28), np.float32)
    scale = 4
    for i in range(n):
        im = Image.new("L", (28 * scale, 28 * scale), 0)
        height = rng.uniform(16, 22) * scale
        lean = rng.normal(0, 0.06) * height
        top = (28 * scale - height) / 2
        x = 14 * scale + rng.uniform(-2, 2) * scale
        ImageDraw.Draw(im).line([(x + lean / 2, top), (x - lean / 2, top + height)], fill=255,
                                width=max(1, round(rng.uniform(1.5, 3.5) * scale)))
        out[i] = np.asarray(im.resize((28, 28), Image.Resampling.BOX), np.float32) / 255.0
    return out


def hooked_sevens(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """7s with a hook down from the left end of their top bar (the continental 7 read as 1 most often)."""
    out = []
    for img in images:
        a = np.asarray(img, np.float32).reshape(28, 28)
        a = a / 255.0 if a.max() > 1.0 else a
        rows = np.flatnonzero((a > 0.3).any(1))
        if len(rows) == 0:
            out.append(a)
            continue
        top = int(rows[0])
        cols = np.flatnonzero(a[top : top + 3].max(0) > 0.3)
        im = Image.fromarray((a * 255).astype(np.uint8), "L")
        x0, y0 = int(cols[0]), top + 1
        drop = rng.uniform(0.15, 0.35) * (rows[-1] - top + 1)
        ImageDraw.Draw(im).line([(x0, y0), (x0 - rng.uniform(0, 2), y0 + drop)], fill=255,
                                width=int(rng.integers(1, 3)))
        out.append(np.asarray(im, np.float32) / 255.0)
    return np.stack(out)


def _glyph(g: np.ndarray, height: int, rng: np.random.Generator) -> np.ndarray:
    """One digit at *height* rows (+-10 %), aspect varied, slanted."""
    h0, w0 = g.shape
    th = max(4, round(height * rng.uniform(0.9, 1.1)))
    tw = max(1, round(w0 * th / h0 * rng.uniform(0.8, 1.2)))
    img = Image.fromarray(g, "F").resize((tw, th), Image.BILINEAR)
    shear = float(rng.normal(0.0, 0.12))
    if abs(shear) > 0.02:
        extra = int(np.ceil(abs(shear) * th))
        # output (x, y) samples input (x + shear * y + c, y): shear > 0 leans the top to the right
        c = -shear * th if shear > 0 else 0.0
        img = img.transform((tw + extra, th), Image.AFFINE, (1, shear, c, 0, 1, 0), Image.BILINEAR)
    return np.clip(np.asarray(img, np.float32), 0.0, 1.0)


def _gap(height: int, rng: np.random.Generator) -> int:
    u = rng.random()
    if u < 0.15:
        g = rng.uniform(-0.22, 0.0)  # overlapping or touching
    elif u < 0.8:
        g = rng.uniform(0.03, 0.45)
    elif u < 0.95:
        g = rng.uniform(0.45, 1.0)
    else:
        g = rng.uniform(1.0, 2.2)  # a phone number's space
    return round(g * height)


def compose(digits: list[int], pool: Pool, rng: np.random.Generator, height: int = 0) -> np.ndarray:
    """The canvas of one number, its digits about *height* rows (18-63 at random for 0): ink in [0, 1],
    white on black."""
    return _compose(digits, pool, rng, height)[0]


def _compose(digits: list[int], pool: Pool, rng: np.random.Generator, height: int = 0
             ) -> tuple[np.ndarray, int, int]:
    """`compose`, and the columns where its digits start and end."""
    height = height or int(rng.integers(18, 64))
    glyphs = [_glyph(pool.glyphs[int(rng.choice(pool.by_label[d]))], height, rng) for d in digits]
    gaps = [_gap(height, rng) for _ in digits[1:]]
    pad = height
    width = sum(g.shape[1] for g in glyphs) + sum(max(0, g) for g in gaps) + 2 * pad
    canvas = np.zeros((int(height * 1.8) + 2 * pad, width), np.float32)
    base = pad + int(height * 0.4)  # top of the line
    wave_amp, wave_len = rng.uniform(0, 0.08) * height, rng.uniform(3, 12) * height
    phase = rng.uniform(0, 2 * np.pi)
    x = pad
    for i, g in enumerate(glyphs):
        if i:
            x = max(pad // 2, x + gaps[i - 1])
        dy = round(rng.normal(0, 0.04) * height + wave_amp * np.sin(phase + 2 * np.pi * x / wave_len))
        y = base + dy + (height - g.shape[0]) // 2
        region = canvas[y : y + g.shape[0], x : x + g.shape[1]]
        np.maximum(region, g[: region.shape[0], : region.shape[1]], out=region)
        x += g.shape[1]
    canvas = canvas[:, : x + pad]
    _marks(canvas, base, height, pad, x, rng)
    return _look(canvas, height, rng), pad, x


def _marks(canvas: np.ndarray, top: int, height: int, left: int, right: int, rng: np.random.Generator) -> None:
    """Underlines, a line above, dots and specks near the number, marks far off (in place)."""
    im = Image.fromarray(canvas, "F")
    draw = ImageDraw.Draw(im)
    width = max(1, round(height * rng.uniform(0.04, 0.1)))
    if rng.random() < 0.12:  # an underline, touching the digits or just below
        y = top + height + rng.uniform(-0.05, 0.25) * height
        draw.line([(left - rng.uniform(0, 0.5) * height, y), (right + rng.uniform(0, 0.5) * height, y + rng.normal(0, 2))],
                  fill=float(rng.uniform(0.5, 1)), width=width)
    if rng.random() < 0.04:  # a line above
        y = top - rng.uniform(0.1, 0.3) * height
        draw.line([(left - 5, y), (right + 5, y)], fill=float(rng.uniform(0.5, 1)), width=width)
    if rng.random() < 0.06:  # a register cell's box around the number
        m = rng.uniform(0.25, 0.5) * height  # sides reaching well past the digits (find_line drops them)
        draw.rectangle([left - m, top - m, right + m, top + height + m], outline=float(rng.uniform(0.4, 1)),
                       width=max(1, width - 1))
    if rng.random() < 0.05:  # a tick (or a full stop) after the number
        x0, y0, s = right + rng.uniform(0.3, 0.8) * height, top + rng.uniform(0.2, 0.7) * height, \
            rng.uniform(0.2, 0.45) * height
        if rng.random() < 0.6:
            draw.line([(x0, y0), (x0 + 0.4 * s, y0 + 0.5 * s), (x0 + s, y0 - 0.6 * s)], fill=1.0, width=width)
        else:
            r = max(1.0, 0.5 * width)
            y0 = top + height * rng.uniform(0.85, 1.0)
            draw.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], fill=1.0)
    for _ in range(int(rng.poisson(1.0)) if rng.random() < 0.4 else 0):  # dots and specks near the line
        r = rng.uniform(0.5, max(1.0, 0.06 * height))
        cx = rng.uniform(0, canvas.shape[1])
        cy = rng.choice([rng.uniform(0, top), rng.uniform(top + height, canvas.shape[0])])
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=float(rng.uniform(0.4, 1)))
    canvas[:] = np.asarray(im)


def _look(canvas: np.ndarray, height: int, rng: np.random.Generator) -> np.ndarray:
    """The pen, the scan and the ink: width, blur, low resolution, bilevel, faint."""
    im = Image.fromarray(np.rint(canvas * 255).astype(np.uint8), "L")  # Pillow's filters work on 8 bits
    u = rng.random()
    if u < 0.2 and height >= 30:
        im = im.filter(ImageFilter.MaxFilter(3))  # a broad pen
    elif u < 0.3 and height >= 40:
        im = im.filter(ImageFilter.MinFilter(3))  # a fine pen
    if rng.random() < 0.15:  # a low-resolution source scaled up (16x16 scans, thumbnails)
        f = rng.uniform(12, 20) / height
        small = im.resize((max(1, round(im.width * f)), max(1, round(im.height * f))), Image.BILINEAR)
        im = small.resize(im.size, Image.NEAREST if rng.random() < 0.5 else Image.BILINEAR)
    if rng.random() < 0.25:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.2) * height / 28))
    x = np.asarray(im, np.float32) / 255.0
    if rng.random() < 0.12:
        x = (x > rng.uniform(0.3, 0.6)).astype(np.float32)  # a bilevel scan
    peak = x.max()
    if peak > 0:
        x = x / peak * rng.uniform(0.7, 1.0)
    if rng.random() < 0.2:
        x = x + rng.normal(0, 0.03, x.shape).astype(np.float32)
    return np.clip(x, 0.0, 1.0)


PHOTO_SHARE = 0.3  # strings photographed on paper (the rest stay clean scans and drawings)


def _light(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """How the paper is lit, 1 at its brightest: even, a gradient from a side or a corner, a hand's shadow."""
    u, low = rng.random(), rng.uniform(0.45, 0.9)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if u < 0.3:
        return np.ones((h, w), np.float32)
    if u < 0.75:  # a gradient in any direction
        a = rng.uniform(0, 2 * np.pi)
        t = np.cos(a) * xx / w + np.sin(a) * yy / h
        t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
        return (1 - (1 - low) * t).astype(np.float32)
    slope = rng.uniform(-0.6, 0.6)  # a hand's shadow: a hard slanted edge, a few pixels of penumbra
    side = (xx - w * rng.uniform(0.2, 0.8)) - slope * (yy - h / 2)
    return (1 - (1 - low) * 0.5 * (1 + np.tanh(side / rng.uniform(4, 16)))).astype(np.float32)  # a logistic


def _photo(canvas: np.ndarray, height: int, rng: np.random.Generator) -> np.ndarray:
    """The number photographed: dark ink on paper (ruled, squared or dotted, lit unevenly), noise, JPEG;
    then the runtime's own `levels` turns it back into ink."""
    h, w = canvas.shape
    paper = np.full((h, w), rng.uniform(150, 250), np.float32)
    u = rng.random()
    if u < 0.45:  # squared, ruled or dotted paper: printed lines lighter than the ink
        step = int(rng.uniform(0.6, 1.6) * height)
        level = paper[0, 0] * rng.uniform(0.6, 0.9)
        lw = int(rng.integers(1, 3))
        for y in range(int(rng.integers(0, step)), h, step):
            if u < 0.35:
                paper[y : y + lw] = level
            else:
                paper[y : y + lw, :: int(rng.integers(4, 9))] = level
        if u < 0.25:
            for x in range(int(rng.integers(0, step)), w, step):
                paper[:, x : x + lw] = level
    ink_level = rng.uniform(0, 0.5) * paper[0, 0]
    gray = paper - canvas * (paper - ink_level)
    gray *= _light(h, w, rng)
    gray += rng.normal(0, rng.uniform(0, 6), gray.shape).astype(np.float32)
    im = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8), "L")
    if rng.random() < 0.7:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=int(rng.integers(30, 92)))
        im = Image.open(io.BytesIO(buf.getvalue()))
    return levels(np.asarray(im), "auto")


def _upright_beyond(line, left: int, right: int, height: int) -> bool:
    """Whether the line found holds an upright stroke beyond the digits' ends (what the runtime left of a box's
    side or a grid line): unlabelled, it would teach the reader to drop a 1 written as a straight stroke at a
    number's end, so such a string is drawn again. Flat marks there (an underline running on) stay."""
    ink = line.ink > 0.25
    outside = np.concatenate([ink[:, : max(0, left - line.box[0])], ink[:, max(0, right - line.box[0]) :]], axis=1)
    return bool(outside.any(axis=1).sum() > 0.5 * height) if outside.size else False


def sample(pool: Pool, rng: np.random.Generator, photo_share: float | None = None) -> tuple[np.ndarray, str]:
    """One training string: the reader's input (HEIGHT, W) and its digits. *photo_share*: the share
    photographed (default PHOTO_SHARE)."""
    share = PHOTO_SHARE if photo_share is None else photo_share
    while True:
        n = int(rng.choice(LENGTHS, p=LENGTH_WEIGHTS / LENGTH_WEIGHTS.sum()))
        digits = [int(d) for d in rng.integers(0, 10, n)]
        height = int(rng.integers(18, 64))
        canvas, left, right = _compose(digits, pool, rng, height)
        if rng.random() < share:
            canvas = _photo(canvas, height, rng)
        line = find_line(canvas)
        if line is None or _upright_beyond(line, left, right, height):
            continue
        x = to_input(line.ink)[0]
        # CTC needs a frame per digit and a blank between repeats: a line too short for its label (what was
        # found is a part of it) would only teach an impossible alignment
        if x.shape[1] // STRIDE >= n + sum(a == b for a, b in zip(digits, digits[1:])):
            return x, "".join(map(str, digits))


def batch(pool: Pool, n: int, rng: np.random.Generator, photo_share: float | None = None
          ) -> tuple[list[np.ndarray], list[str]]:
    out = [sample(pool, rng, photo_share) for _ in range(n)]
    return [o[0] for o in out], [o[1] for o in out]
