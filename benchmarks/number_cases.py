"""Synthetic photos and scans of handwritten numbers, for what ../shared/numbers-dev does not hold.

Each case writes a digit string with real MNIST digits (white-on-black 28x28 uint8, picked by the caller)
and returns a PIL image the way people's numbers arrive: on lined paper, in blue ink under a shadow, long
(10+ digits), with a leading zero, cramped until neighbours touch, underlined. The digits' shapes stay
MNIST's own, so the label is known exactly. Used by tests/test_read.py and benchmarks/read_numbers.py.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from benchmarks.styles import _ink


def line_of_digits(digits: list[np.ndarray], height: int, gap: float, rng: np.random.Generator,
                   jitter: float = 0.06) -> np.ndarray:
    """Ink coverage [0, 1] of the digits side by side, each cropped to its ink and scaled to *height*
    (+-8 %), on a slightly wavy baseline, *gap* x height apart (negative: they overlap and touch)."""
    glyphs = []
    for d in digits:
        rows, cols = np.flatnonzero(d.any(1)), np.flatnonzero(d.any(0))
        crop = d[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        h = int(round(height * rng.uniform(0.92, 1.08)))
        w = max(2, int(round(crop.shape[1] * h / crop.shape[0])))
        im = Image.fromarray(crop).resize((w, h), Image.Resampling.BICUBIC)
        glyphs.append(np.clip(np.asarray(im, np.float32) / 255.0, 0, 1))
    margin = height // 2
    width = sum(g.shape[1] for g in glyphs) + int(abs(gap) * height * len(glyphs)) + 2 * margin
    page = np.zeros((2 * height + 2 * margin, width), np.float32)
    x = margin
    for g in glyphs:
        y = margin + int(round(rng.uniform(-jitter, jitter) * height)) + int(0.15 * height)
        region = page[y : y + g.shape[0], x : x + g.shape[1]]
        np.maximum(region, g, out=region)
        x += g.shape[1] + int(round(gap * height))
    cols = np.flatnonzero(page.any(0))
    return page[:, : cols[-1] + 1 + margin]


def _rgb(gray: np.ndarray, tint=(1.0, 0.98, 0.94)) -> Image.Image:
    rgb = np.stack([gray * tint[0], gray * tint[1], gray * tint[2]], -1)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def lined_paper(digits, rng):
    """Ruled paper: grey lines every ~40 px (one just under the number), black pen, a phone photo's noise."""
    ink = line_of_digits(digits, 60, 0.25, rng)
    h, w = ink.shape
    paper = np.full((h, w), rng.uniform(225, 245), np.float32)
    step = 42
    for y in range(int(rng.integers(5, 15)), h, step):
        paper[y : y + 2] = rng.uniform(150, 185)
    gray = paper * (1 - ink) + 30 * ink + rng.normal(0, 3, ink.shape)
    return _rgb(gray)


def blue_shadow(digits, rng):
    """Blue ballpoint on white paper, a shadow across half the photo."""
    ink = line_of_digits(digits, 70, 0.3, rng)
    h, w = ink.shape
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    light = 240 - 90 * np.clip(1.1 - 1.4 * xx - 0.3 * yy, 0, 1)
    r = light * (1 - ink) + 40 * ink
    g = light * (1 - ink) + 60 * ink
    b = light * 0.97 * (1 - ink) + 170 * ink
    noise = rng.normal(0, 3, (h, w, 1))
    return Image.fromarray(np.clip(np.stack([r, g, b], -1) + noise, 0, 255).astype(np.uint8), "RGB")


def long_number(digits, rng):
    """A long number (a phone number, an account): written as on a form, black on white."""
    ink = line_of_digits(digits, 44, 0.2, rng)
    return _rgb(245 * (1 - ink) + 20 * ink + rng.normal(0, 2, ink.shape))


def cramped(digits, rng):
    """Digits written so close that neighbours touch or overlap a little."""
    ink = line_of_digits(digits, 56, -0.06, rng)
    return Image.fromarray(np.clip(250 * (1 - ink) + rng.normal(0, 2, ink.shape), 0, 255).astype(np.uint8), "L")


def underlined(digits, rng):
    """A number with a pen line drawn under it, touching the lowest strokes."""
    ink = line_of_digits(digits, 56, 0.25, rng)
    rows = np.flatnonzero(ink.max(1) > 0.5)
    y = rows[-1] + 1
    cols = np.flatnonzero(ink.any(0))
    ink[y : y + 4, max(0, cols[0] - 8) : cols[-1] + 8] = 1.0
    return _rgb(240 * (1 - ink) + 25 * ink + rng.normal(0, 2, ink.shape))


CASES = {  # name -> (how to draw it, the number's length)
    "lined_paper": (lined_paper, 4),
    "blue_shadow": (blue_shadow, 5),
    "long_number": (long_number, 11),
    "cramped": (cramped, 4),
    "underlined": (underlined, 4),
}


def clear_digits(x: np.ndarray, y: np.ndarray, confidences: np.ndarray, floor: float = 0.999) -> dict[int, list[int]]:
    """Indices of digits the model reads right at at least *floor*, per class: the cases then measure
    finding the digits, not the model's reading of doubtful ones."""
    return {c: [int(i) for i in np.flatnonzero((y == c) & (confidences >= floor))] for c in range(10)}


def make(case: str, label: str, x: np.ndarray, pool: dict[int, list[int]], rng: np.random.Generator) -> Image.Image:
    """The image of *label* (a digit string) drawn as *case*, from digits of *x* picked from *pool*."""
    draw, _ = CASES[case]
    return draw([x[pool[int(c)][int(rng.integers(len(pool[int(c)])))]] for c in label], rng)


def labels(case: str, n: int, rng: np.random.Generator) -> list[str]:
    """n digit strings for *case*; every third one starts with 0 (leading zeros must survive)."""
    length = CASES[case][1]
    out = []
    for i in range(n):
        digits = rng.integers(0, 10, length)
        if i % 3 == 0:
            digits[0] = 0
        out.append("".join(map(str, digits)))
    return out


__all__ = ["CASES", "clear_digits", "labels", "line_of_digits", "make", "_ink"]
