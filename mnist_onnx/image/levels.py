"""Levels: a decoded grayscale image -> ink high in [0, 1], background 0 (`levels`): the paper's level and
noise read from the outer ring, polarity decided by where the ink beyond the noise lies, uneven light
(a shadow, a gradient) flattened first (`flatten_light`). All zeros when there is no ink to see.

The thresholds are named below with the reason for each value.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from PIL import Image

from .morphology import may_hold_window, sliding


Invert = Literal["auto", "always", "never"]

_MAD_TO_SIGMA = 1.4826  # median absolute deviation -> standard deviation, for Gaussian noise
_NOISE_SIGMAS = 3.0  # ink stands out from the paper by more than three standard deviations of its noise
RING = 0.03  # the outer ring read for the background: 3 % of the shorter side (at least 1 px)
NO_DIGIT = "no digit found (blank, or nothing stands out from the background)"


_NO_INK_CONTRAST = 24.0  # of 255: ink must stand out from the background by at least this much
_LOCAL_BACKGROUND_MIN_SIDE = 48  # below this (tiny sources, 28x28 canvases) the background is one level


def _ring(x: np.ndarray) -> np.ndarray:
    """The image's outer ring of pixels (3 % of the shorter side, at least 1 px)."""
    h, w = x.shape
    r = max(1, round(RING * min(h, w)))
    if min(h, w) <= 2 * r:
        return x.ravel()
    return np.concatenate([x[:r].ravel(), x[-r:].ravel(), x[r:-r, :r].ravel(), x[r:-r, -r:].ravel()])


def _local_background(x: np.ndarray) -> np.ndarray | None:
    """Smooth background surface under ink-high *x*: a grey opening (minimum, then maximum filter) with a
    window of 1/4 of the shorter side, computed on a copy box-reduced to about 128 px and scaled back up.
    Removes shadows, gradients and flat patches larger than the window (a grey photo crop pasted on white);
    keeps strokes thinner than the window. None: the surface is zero everywhere."""
    h, w = x.shape
    f = max(1, min(h, w) // 128)
    hs, ws = h // f, w // f
    small = x[: hs * f, : ws * f].reshape(hs, f, ws, f).mean(axis=(1, 3)) if f > 1 else x
    k = max(3, min(hs, ws) // 4) | 1  # odd: the window is centred, so the opening does not shift
    inked = small > 0
    if not may_hold_window(inked, k) or not sliding(inked, k, np.minimum).any():
        # Every k x k window holds a zero (clean paper, strokes thinner than the window): the minimum filter,
        # hence the opening, is zero everywhere. Exact, and a boolean filter costs a fraction of a float one.
        return None
    opened = sliding(sliding(small, k, np.minimum), k, np.maximum)
    surface = Image.fromarray(np.ascontiguousarray(opened, np.float32), mode="F").resize((w, h), Image.Resampling.BILINEAR)
    return np.minimum(np.asarray(surface, dtype=np.float32), x)


_LEVELS = np.arange(256, dtype=np.float64)


def _median_of_counts(count: np.ndarray, values: np.ndarray) -> float:
    """The median (as np.median: the mean of the two middle values for an even count) of a multiset given
    as *count* of each of *values* (sorted ascending)."""
    cum = np.cumsum(count)
    n = int(cum[-1])
    # the k-th smallest (from 0) is the first value whose cumulative count passes k
    lo, hi = np.count_nonzero(cum <= (n - 1) // 2), np.count_nonzero(cum <= n // 2)
    return (float(values[lo]) + float(values[hi])) / 2


_BY_DISTANCE: dict[float, tuple[np.ndarray, np.ndarray]] = {}  # per background: levels by distance from it


def _ring_levels(gray: np.ndarray) -> tuple[float, float, float]:
    """Median, median absolute deviation and the spread between the 10th and 90th percentiles of the outer
    ring of a uint8 image, from its 256-bin histogram: exactly np.median's values (ring values are integers,
    their halves exact), a few small operations instead of two partitions of the ring."""
    count = np.bincount(_ring(gray), minlength=256)
    cum = np.cumsum(count)
    tails = float(np.searchsorted(cum, 0.9 * cum[-1]) - np.searchsorted(cum, 0.1 * cum[-1]))
    background = _median_of_counts(count, _LEVELS)
    order = _BY_DISTANCE.get(background)
    if order is None:  # at most 511 backgrounds (halves of 0..255), 4 KiB each
        away = np.abs(_LEVELS - background)
        by = np.argsort(away, kind="stable")
        order = _BY_DISTANCE[background] = (by, away[by])
    return background, _median_of_counts(count[order[0]], order[1]), tails


def levels(gray: np.ndarray, invert: Invert) -> np.ndarray:
    """(H, W) 0..255 -> float32 [0, 1], ink high, background 0. All zeros when there is no ink to see."""
    u8 = gray.dtype == np.uint8
    if not u8:
        gray = gray.astype(np.float32, copy=False)  # never changed in place below
    # The background is the median of the outer ring: a digit crop is framed by paper, even when the digit
    # fills half the box (USPS) or the paper is dark (a photo in a dim room).
    if u8:
        background, spread, tails = _ring_levels(gray)
    else:
        ring = _ring(gray)
        background = float(np.median(ring))
        spread = float(np.median(np.abs(ring - background)))
        low, high = np.percentile(ring, [10, 90], method="inverted_cdf")  # as the uint8 histogram's
        tails = float(high - low)
    # the paper around the digit is not one grey (a gradient), or a tenth of it is far darker or lighter than
    # another tenth (a hand's shadow's hard edge across a side or a corner): look at the light
    if spread > _RING_UNEVEN or tails > _RING_SHADOWED:
        even = flatten_light(gray)
        if even is not gray:  # (float32 from here on, whichever the input: both give the same levels)
            gray, u8 = even, False
            ring = _ring(gray)
            background = float(np.median(ring))
            spread = float(np.median(np.abs(ring - background)))
        elif tails > _RING_SHADOWED and min(gray.shape) >= _LIGHT_MIN_SIDE:
            # Not a shadow: the ring is split between the page and something dark (or light) along some of
            # its sides -- a dark border, the table under the page. The page is what most of the photo is.
            sample = gray[::2, ::2].astype(np.float32)
            whole = float(np.median(sample))
            if abs(whole - background) > _RING_SHADOWED:
                background = whole
                spread = float(np.median(np.abs(sample - background)))
    if invert == "auto":  # ink is whichever side of the background holds more ink beyond the noise
        margin = max(8.0, _NOISE_SIGMAS * _MAD_TO_SIGMA * spread)
        if u8:
            # Dark ink beyond the margin against light ink beyond it, summed over the pixels. Paper near
            # white (black) leaves no room for light (dark) ink: then the other side's sum is zero and one
            # minimum (maximum) decides. Else from the histogram: one pass instead of seven.
            if background + margin >= 255:
                flip = float(gray.min()) < background - margin
            elif background - margin <= 0:
                flip = False
            else:
                count = np.bincount(gray.ravel(), minlength=256)
                away = _LEVELS - background
                flip = float(count @ np.maximum(-away - margin, 0)) > float(count @ np.maximum(away - margin, 0))
        else:
            dev = gray - background
            flip = float(np.maximum(-dev - margin, 0).sum()) > float(np.maximum(dev - margin, 0).sum())
    else:
        flip = invert == "always"
    out = _ink(gray, flip, background)
    if out is not None:
        return out
    lo, hi = float(gray.min()), float(gray.max())
    if invert == "auto" and hi - lo >= _NO_INK_CONTRAST:
        # A digit stretched to fill its box covers half the ring too (Semeion): the ring told the wrong side.
        out = _ink(gray, not flip, lo if flip else hi, ring_floor=False)
    return np.zeros(gray.shape, np.float32) if out is None else out


def _ink(gray: np.ndarray, flip: bool, background: float, ring_floor: bool = True) -> np.ndarray | None:
    """Ink-high [0, 1] for one polarity of *gray* (uint8 or float32, left unchanged): background removed,
    noise floored, faint ink stretched. None when no ink stands out (otherwise the peak pixel is above
    zero, so the result is never all zeros)."""
    if flip:
        x = np.subtract(np.float32(255), gray, dtype=np.float32)
        background = 255.0 - background
    else:
        x = gray.astype(np.float32, copy=False)  # only read below: every step makes a new array
    large = min(x.shape) >= _LOCAL_BACKGROUND_MIN_SIDE
    if large:
        surface = _local_background(x)
        if surface is not None:
            x = x - surface
    else:
        x = np.maximum(x - background, 0.0)
    # Noise floor: the background's own spread (paper texture, sensor noise, JPEG). Large images: per block
    # of a 4x4 grid, since a pasted photo crop is noisy where the white around it is not. Small ones: from
    # the outer ring's median absolute deviation, which ink filling the box (USPS) does not move. On clean
    # images the floor is 0.
    floor: float | np.ndarray = 0.0
    if ring_floor and large:
        floor = _block_floor(x)
    elif ring_floor:
        ring = _ring(x)
        med = float(np.median(ring))
        floor = med + _NOISE_SIGMAS * _MAD_TO_SIGMA * float(np.median(np.abs(ring - med)))
    peak = float(x.max())
    if isinstance(floor, float) and floor == 0.0 and peak >= 0:
        # No floor to take off (clean paper): the same values as below, without the full-image operations
        # that change nothing (x - 0; the clip, when no pixel is below zero and none above the top)
        if peak < _NO_INK_CONTRAST:
            return None
        top = peak if peak < 0.75 * 255 else 255.0
        out = np.divide(x, np.float32(top))
        return out if float(x.min()) >= 0 else np.clip(out, 0.0, 1.0, out=out)
    floor = np.minimum(floor, 0.5 * peak).astype(np.float32)  # noise never hides the ink itself
    level = float(np.max(floor))
    if peak - level < _NO_INK_CONTRAST:
        return None
    top = peak if peak - level < 0.75 * 255 else 255.0  # stretch faint ink; keep well-exposed images as they are
    return np.clip((x - floor) / np.float32(top - level), 0.0, 1.0)


def _block_floor(x: np.ndarray, n: int = 4) -> np.ndarray | float:
    """Noise floor surface: per block of an n x n grid, the background level plus three sigma, both read
    from the low end of the values (the 2nd and 16th percentiles are mu - 2 sigma and mu - sigma for
    Gaussian noise), which ink -- always on the high side, up to 80 % of a block -- cannot move. Smoothly
    upsampled to the image."""
    h, w = x.shape
    bh, bw = h // n, w // n
    zeros = math.ceil(0.159 * (bh * bw - 1)) + 2
    # x >= 0 here. Where zeros fill a block past the 15.9th percentile's two neighbouring ranks, both
    # percentiles are exactly 0, so the floor is 0: true of clean paper, and far cheaper to count than sort
    # (the counts per block are sums over each band of rows, then over each block's columns).
    inked = (x[: bh * n, : bw * n] != 0).view(np.uint8)
    ink = np.add.reduce(inked.reshape(n, bh, bw * n), axis=1, dtype=np.int32).reshape(n, n, bw).sum(2)
    if (bh * bw - ink >= zeros).all():
        return 0.0
    blocks = x[: bh * n, : bw * n].reshape(n, bh, n, bw).transpose(0, 2, 1, 3).reshape(n, n, -1)
    p2, p16 = np.percentile(blocks, [2.3, 15.9], axis=2)
    sigma = np.maximum(p16 - p2, 0.0)
    grid = (p16 + 4.0 * sigma).astype(np.float32)
    return np.asarray(Image.fromarray(grid, mode="F").resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)


# --- clutter: ruled lines, frame edges, specks, second marks -------------------------------------------

# --- light: a shadow across the page ---------------------------------------------------------------------

_RING_UNEVEN = 6.0  # of 255: a ring whose median absolute deviation is larger may be lit unevenly (clean
# paper and sensor noise: 0-3; a gradient to 60 % across the ring: ~20)
_RING_SHADOWED = 40.0  # of 255: the ring's 10th and 90th percentiles this far apart: maybe a shadow's edge
_LIGHT_MIN_SIDE = 64  # smaller images (digit crops, scans of one cell) are lit evenly enough
_LIGHT_WINDOW = 6  # the paper's brightness is read over windows of 1/6 of the shorter side: wider than strokes
_LIGHT_UNEVEN = 0.15  # paper darker than this share of its brightest in places: a shadow or a gradient


def flatten_light(gray: np.ndarray) -> np.ndarray:
    """Light paper under uneven light (a hand's or a phone's shadow, a gradient to 45 %) -> the same page
    evenly lit: each pixel divided by the paper's brightness around it, read at a large scale (a maximum over
    windows of 1/6 of the shorter side -- strokes are thinner, so the windows see paper -- scaled up smoothly).
    Ink keeps its contrast to the paper next to it, so a shadowed loop is not filled in. Images lit evenly,
    small ones and dark paper come back unchanged (the same array); others as float32 in 0..255."""
    h, w = gray.shape
    if min(h, w) < _LIGHT_MIN_SIDE:
        return gray
    # first, cheaply: the brightest pixel of each block of an 8x8 grid is paper (a stroke fills no block)
    bh, bw = h // 8, w // 8
    blocks = gray[: bh * 8, : bw * 8].reshape(8, bh, 8, bw).max(axis=(1, 3))
    if float(blocks.min()) >= (1 - _LIGHT_UNEVEN) * float(blocks.max()):
        return gray
    f = max(1, min(h, w) // 96)
    hs, ws = h // f, w // f
    g = gray[: hs * f, : ws * f].astype(np.float32, copy=False)
    small = g.reshape(hs, f, ws, f).mean(axis=(1, 3)) if f > 1 else g
    k = max(3, min(hs, ws) // _LIGHT_WINDOW) | 1
    paper = sliding(sliding(small, k, np.maximum), k, np.minimum)  # a closing: dark strokes out, paper kept
    top = float(paper.max())
    if top < 96 or float(paper.min()) >= (1 - _LIGHT_UNEVEN) * top or float(np.percentile(paper, 5)) < 0.3 * top:
        return gray  # dark paper, even light, or a dark background (light strokes on black): not a shadow
    surface = np.asarray(Image.fromarray(np.ascontiguousarray(paper, np.float32), mode="F")
                         .resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
    out = gray.astype(np.float32) * (top / np.maximum(surface, 1.0))
    return np.clip(out, 0, 255, out=out)  # float32, from uint8 or float input alike
