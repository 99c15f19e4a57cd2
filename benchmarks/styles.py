"""Re-draw real MNIST digits the way people's PNGs really look, to test the preprocessing on them.

Each style takes a 28x28 uint8 MNIST image (white ink on black) and returns a PIL image. Used by the sample
generator, the tests and the accuracy benchmark, so all three measure the same thing.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def _ink(digit: np.ndarray, size: int) -> np.ndarray:
    """The digit scaled up smoothly to size x size, as float ink coverage in [0, 1]."""
    im = Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(im, dtype=np.float32) / 255.0, 0, 1)


def mnist(digit, rng):
    return Image.fromarray(digit, "L")


def paper(digit, rng):
    """Black pen on off-white paper, photographed: RGB, 280x280, tint and sensor noise."""
    ink = _ink(digit, 280)
    tone = rng.uniform(215, 250)
    gray = tone * (1 - ink) + rng.uniform(10, 50) * ink + rng.normal(0, 4, ink.shape)
    rgb = np.stack([gray, gray * 0.98, gray * 0.93], -1)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def large_canvas(digit, rng):
    """A small digit somewhere on a big white page: 640x480 RGB, off-centre."""
    side = int(rng.integers(60, 160))
    ink = _ink(digit, side)
    page = np.full((480, 640), 255.0)
    y, x = int(rng.integers(0, 480 - side)), int(rng.integers(0, 640 - side))
    page[y : y + side, x : x + side] -= 235 * ink
    return Image.fromarray(np.clip(page, 0, 255).astype(np.uint8), "L").convert("RGB")


def transparent(digit, rng):
    """Ink on a transparent background (a drawing-app export): RGBA, colour under alpha 0 arbitrary."""
    ink = _ink(digit, 200)
    color = rng.choice([0, 30, 255])  # dark or light ink
    under = 255 - color  # whatever the app left under transparent pixels
    rgba = np.zeros((200, 200, 4), np.uint8)
    rgba[..., :3] = np.where(ink[..., None] > 0.02, color, under)
    rgba[..., 3] = np.round(ink * 255).astype(np.uint8)
    return Image.fromarray(rgba, "RGBA")


def shaded(digit, rng):
    """Uneven lighting: a gradient background, dark ink, noise; 8-bit gray 256x256."""
    ink = _ink(digit, 256)
    lo, hi = sorted(rng.uniform(150, 245, 2))
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:256, 0:256] / 255.0
    ramp = lo + (hi - lo) * ((np.cos(angle) * xx + np.sin(angle) * yy) - min(0, np.cos(angle)) - min(0, np.sin(angle))) / (abs(np.cos(angle)) + abs(np.sin(angle)))
    gray = ramp * (1 - ink) + 30 * ink + rng.normal(0, 5, ink.shape)
    return Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8), "L")


def transparent_black(digit, rng):
    """Black ink on a fully transparent background, 112x112, scaled up bilinearly, alpha = ink (#16)."""
    im = Image.fromarray(digit).resize((112, 112), Image.Resampling.BILINEAR)
    rgba = np.zeros((112, 112, 4), np.uint8)
    rgba[..., 3] = np.asarray(im)
    return Image.fromarray(rgba, "RGBA")


def grey_paper(digit, rng):
    """Dark-grey ink on light-grey paper with mild noise: 8-bit gray 64x64 (#16)."""
    ink = _ink(digit, 64)
    gray = rng.uniform(185, 215) * (1 - ink) + rng.uniform(70, 100) * ink + rng.normal(0, 4, ink.shape)
    return Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8), "L")


STYLES = {"mnist": mnist, "paper": paper, "large_canvas": large_canvas, "transparent": transparent, "shaded": shaded,
          "transparent_black": transparent_black, "grey_paper": grey_paper}
