"""Synthetic versions of the failure modes seen on real phone photos, scans and tiny sources.

Each case takes a 28x28 uint8 MNIST digit (white ink on black) and a NumPy generator and returns a PIL image
that fails the way real images did before the preprocessing learned to read them. The digit's shape stays
MNIST's own, so the label is known and accuracy is comparable with the plain arrays. Used by the tests
(`tests/test_photos.py`), the README picture (`docs/make_pictures.py`) and `benchmarks/realworld.py`.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from benchmarks.styles import _ink  # the digit scaled up smoothly, as ink coverage in [0, 1]


def _thin_ink(digit: np.ndarray, size: int, core: int = 3) -> np.ndarray:
    """The digit's strokes thinned to a pen line about *core*/256 of the size wide (eroded at 256 px)."""
    big = (_ink(digit, 256) > 0.5).astype(np.uint8) * 255
    im = Image.fromarray(big)
    for _ in range(6):  # erode, but never past a line `core` px wide
        thinner = im.filter(ImageFilter.MinFilter(3))
        if np.count_nonzero(np.asarray(thinner)) < np.count_nonzero(np.asarray(im)) * 0.45:
            break
        im = thinner
    line = im.filter(ImageFilter.MaxFilter(core)) if core > 1 else im
    return _ink(np.asarray(line), size)


def _photo(ink: np.ndarray, paper: float, pen: float, noise: float, rng: np.random.Generator) -> Image.Image:
    gray = paper * (1 - ink) + pen * ink + rng.normal(0, noise, ink.shape)
    rgb = np.stack([gray, gray * 0.98, gray * 0.94], -1)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def _place(ink: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    page = np.zeros(shape, np.float32)
    y = int(rng.integers(0, shape[0] - ink.shape[0] + 1))
    x = int(rng.integers(0, shape[1] - ink.shape[1] + 1))
    page[y : y + ink.shape[0], x : x + ink.shape[1]] = ink
    return page


def dark_photo(digit, rng):
    """1. A photo in a dim room: paper at about 100/255, ink at about 25."""
    return _photo(_ink(digit, 320), rng.uniform(85, 115), rng.uniform(15, 35), 3.0, rng)


def pasted_crop(digit, rng):
    """2. A grey photo crop pasted on a white square: the grey patch must not be taken for ink."""
    side = 400
    page = np.full((side, side), 255.0, np.float32)
    ph, pw = int(rng.integers(230, 300)), int(rng.integers(230, 300))
    top, left = int(rng.integers(10, side - ph - 10)), int(rng.integers(10, side - pw - 10))
    patch = np.full((ph, pw), rng.uniform(140, 175), np.float32)
    ink = _place(_ink(digit, int(min(ph, pw) * 0.8)), (ph, pw), rng)
    patch = patch * (1 - ink) + 30 * ink + rng.normal(0, 3, patch.shape)
    page[top : top + ph, left : left + pw] = patch
    return Image.fromarray(np.clip(page, 0, 255).astype(np.uint8), "L").convert("RGB")


def grid_paper(digit, rng):
    """3. Squared paper: thin grey lines every 40 px under a digit written across several squares."""
    side = 360
    page = np.full((side, side), rng.uniform(235, 250), np.float32)
    step, off = 40, int(rng.integers(0, 40))
    lines = np.zeros((side, side), bool)
    lines[off::step, :] = True
    lines[:, (off + 17) % step :: step] = True
    page[lines] = rng.uniform(150, 190)
    ink = _place(_ink(digit, 220), (side, side), rng)
    page = page * (1 - ink) + 35 * ink + rng.normal(0, 2, page.shape)
    return Image.fromarray(np.clip(page, 0, 255).astype(np.uint8), "L").convert("RGB")


def thin_pen(digit, rng):
    """4. A thin pen (or faint marker) on a 1,280 px photo: strokes a few px wide, grey rather than black."""
    side = 1280
    ink = _place(_thin_ink(digit, 900), (side, side), rng)
    return _photo(ink, rng.uniform(205, 235), rng.uniform(110, 150), 4.0, rng)


def tiny_source(digit, rng):
    """5. An 8x8 or 16x16 source, size-normalised like optdigits/USPS, saved at its own size (black on white)."""
    rows, cols = np.flatnonzero(digit.any(1)), np.flatnonzero(digit.any(0))
    crop = digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    side = int(rng.choice([8, 16]))
    small = np.asarray(Image.fromarray(crop).resize((side, side), Image.Resampling.BOX), dtype=np.float32)
    small = small / max(float(small.max()), 1.0)
    return Image.fromarray((255 - small * 255).astype(np.uint8), "L")


def filled_box(digit, rng):
    """6. A digit that fills half its 16x16 box (USPS-like): the median pixel is ink, not paper."""
    rows, cols = np.flatnonzero(digit.any(1)), np.flatnonzero(digit.any(0))
    crop = digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    big = np.asarray(Image.fromarray(crop).resize((16, 16), Image.Resampling.BICUBIC))
    pad = np.pad(big, ((0, 1), (0, 1)))
    thick = np.max([pad[:-1, :-1], pad[1:, :-1], pad[:-1, 1:], pad[1:, 1:]], axis=0)  # a broad pen
    return Image.fromarray(255 - thick, "L")


def clutter(digit, rng):
    """7. Specks, a shadow, a frame edge and a second small mark beside the digit."""
    side = 360
    ink = _place(_ink(digit, 200), (side, side), rng)
    yy, xx = np.mgrid[0:side, 0:side] / side
    paper = 235 - 70 * np.clip(1.2 - xx - yy, 0, 1)  # a shadow across one corner
    page = paper * (1 - ink) + 30 * ink
    for _ in range(12):  # specks
        y, x = rng.integers(0, side - 3, 2)
        page[y : y + 3, x : x + 3] = 60
    edge = int(rng.integers(4, 10))  # the edge of the photo frame / table
    page[:, -edge:] = 40
    y, x = int(rng.integers(20, side - 30)), int(rng.integers(5, 25))  # a short pen mark at the left
    page[y : y + 3, x : x + 18] = 50
    page += rng.normal(0, 3, page.shape)
    return Image.fromarray(np.clip(page, 0, 255).astype(np.uint8), "L").convert("RGB")


CASES = {
    "dark_photo": dark_photo,
    "pasted_crop": pasted_crop,
    "grid_paper": grid_paper,
    "thin_pen": thin_pen,
    "tiny_source": tiny_source,
    "filled_box": filled_box,
    "clutter": clutter,
}


def blank_images(rng: np.random.Generator) -> dict[str, Image.Image]:
    """8. Images with no digit at all: they must get status `no-digit`, never a confident-looking digit."""
    paper = np.clip(rng.normal(228, 4, (300, 300)), 0, 255).astype(np.uint8)
    specks = paper.copy()
    for _ in range(5):
        y, x = rng.integers(0, 297, 2)
        specks[y : y + 2, x : x + 2] = 90
    return {
        "white": Image.new("L", (64, 64), 255),
        "black": Image.new("L", (28, 28), 0),
        "paper_photo": Image.fromarray(paper).convert("RGB"),
        "paper_with_specks": Image.fromarray(specks).convert("RGB"),
        "transparent": Image.new("RGBA", (100, 100), (0, 0, 0, 0)),
    }
