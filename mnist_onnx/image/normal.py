"""Turn real-world digit images into what an MNIST model expects: 28x28, white ink on black, in [0, 1].

Pipeline (per image): decode (`_decode`: first frame, any mode, transparency composited, grayscale) ->
levels and clean-up (`_clean`: polarity, background, noise, ruling, clutter) -> MNIST normal form, here
(crop to the ink, fit 20x20 keeping the aspect ratio, pen width into MNIST's range, centre of mass at
(14, 14) of 28x28), exactly as the MNIST images themselves were made.

Images already in that normal form (28x28, white on black, 20 px tall or wide, centred) pass through
unchanged, so official MNIST images reach the model bit-exact. The checks run vectorised over a batch so the
common case costs little more than the PNG decode.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .clutter import clean
from .levels import NO_DIGIT, Invert, levels
from .decode import decode
from .._formats import DEFAULT_MAX_PIXELS
from .morphology import stroke_width

_INK_THRESHOLD = 0.1  # in [0, 1] after levels: what counts as ink for the bounding box
_FULL_INK = 192  # MNIST's own digits reach at least this (of 255): no contrast stretch is needed for them

__all__ = ["NO_DIGIT", "Invert", "PreprocessConfig", "load_image", "no_digit", "normal_form", "normalize",
           "to_mnist", "to_mnist_batch"]


# --- MNIST normal form ---------------------------------------------------------------------------------

def _center_of_mass(x: np.ndarray) -> tuple[float, float]:
    total = x.sum()
    if total <= 0:
        return (x.shape[0] - 1) / 2, (x.shape[1] - 1) / 2
    return float((x.sum(1) * np.arange(x.shape[0])).sum() / total), float((x.sum(0) * np.arange(x.shape[1])).sum() / total)


_THIN, _THICK = 1.2, 3.5  # MNIST test digits fitted to 20x20: stroke width 5th and 99th percentile (measured)


def _pen(fit: np.ndarray) -> np.ndarray:
    """Bring the pen width of a digit fitted to 20 px into MNIST's range: strokes of a thin pen on a large
    photo end up ~1 px and faint (thicken them), a tiny source scaled up gives 5-8 px strokes (thin them)."""
    peak = float(fit.max())
    if peak <= 0:
        return fit
    fit = fit / peak  # faint strokes after a large reduction: full ink, as MNIST's
    w = stroke_width(fit)
    if w < _THIN:
        p = np.zeros((fit.shape[0] + 1, fit.shape[1] + 1), fit.dtype)
        p[:-1, :-1] = fit
        fit = np.maximum(np.maximum(p[:-1, :-1], p[1:, :-1]), np.maximum(p[:-1, 1:], p[1:, 1:]))  # 2x2 grey dilation
    elif w > _THICK:
        p = np.zeros((fit.shape[0] + 1, fit.shape[1] + 1), fit.dtype)
        p[1:, 1:] = fit
        fit = np.minimum(np.minimum(p[1:, 1:], p[:-1, 1:]), np.minimum(p[1:, :-1], p[:-1, :-1]))  # 2x2 grey erosion
    return fit


_MATRIX_SIDE = 256  # crops up to this side are resized by matrix products (a cached matrix: 40 KiB at most)


def _lanczos(crop: np.ndarray, nh: int, nw: int) -> np.ndarray:
    """Pillow's LANCZOS resize of a float crop to (nh, nw), as two matrix products with Pillow's own
    coefficients: a fifth of the time of a round trip through a Pillow image for a digit-sized crop. The
    sums run in another order than Pillow's loops, so a value may differ from Pillow's in its last bit
    (float32, ~6e-8); larger crops go through Pillow itself."""
    h, w = crop.shape
    if max(h, w) > _MATRIX_SIDE:
        return np.asarray(Image.fromarray(np.ascontiguousarray(crop, np.float32), mode="F").resize(
            (nw, nh), Image.Resampling.LANCZOS), dtype=np.float32)
    x = crop.astype(np.float64)
    if nw != w:  # Pillow's horizontal pass first, its result stored as float32
        x = (x @ _lanczos_matrix(w, nw).T).astype(np.float32).astype(np.float64)
    if nh != h:
        x = _lanczos_matrix(h, nh) @ x
    return x.astype(np.float32)


@functools.lru_cache(maxsize=512)  # 20 MiB at most, a few MiB for a folder of digits
def _lanczos_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of Pillow's LANCZOS filter (libImaging/Resample.c, precompute_coeffs): support
    3 x the scale, each output's window of inputs rounded as Pillow rounds it, sinc(x) sinc(x / 3) on
    [-3, 3), normalised to sum 1. Cached: 10,000 user-like digits need about 600 (size, fitted size) pairs."""
    scale = n_in / n_out
    filterscale = max(scale, 1.0)
    support = 3.0 * filterscale
    center = (np.arange(n_out) + 0.5) * scale
    lo = np.maximum((center - support + 0.5).astype(np.int64), 0)[:, None]  # C's (int): towards zero
    hi = np.minimum((center + support + 0.5).astype(np.int64), n_in)[:, None]
    x = np.arange(n_in)
    t = (x - center[:, None] + 0.5) * (1.0 / filterscale)
    with np.errstate(divide="ignore", invalid="ignore"):
        sinc = np.where(t == 0.0, 1.0, np.sin(t * np.pi) / (t * np.pi))
        sinc3 = np.where(t == 0.0, 1.0, np.sin(t / 3 * np.pi) / (t / 3 * np.pi))
    w = np.where((x >= lo) & (x < hi) & (t >= -3.0) & (t < 3.0), sinc * sinc3, 0.0)
    total = w.sum(1, keepdims=True)
    return np.divide(w, total, out=w, where=total != 0.0)


def normalize(x: np.ndarray, pen: bool = False) -> np.ndarray:
    """Any (H, W) [0, 1] white-on-black image -> MNIST normal form (28x28, ink fitted to 20x20, COM centred).

    *pen* also brings the stroke width into MNIST's range (see `_pen`); off for MNIST-like inputs."""
    inked = x > _INK_THRESHOLD
    rows, cols = np.flatnonzero(inked.any(1)), np.flatnonzero(inked.any(0))
    out = np.zeros((28, 28), np.float32)
    if len(rows) == 0:
        return out
    crop = x[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    s = 20.0 / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    resized = np.clip(_lanczos(crop, nh, nw), 0.0, 1.0)
    if pen:
        resized = _pen(resized)
    cy, cx = _center_of_mass(resized)
    top, left = int(round(14 - cy)), int(round(14 - cx))
    top, left = min(max(top, 0), 28 - nh), min(max(left, 0), 28 - nw)
    out[top : top + nh, left : left + nw] = resized
    return out


def is_normal_form(x: np.ndarray) -> np.ndarray:
    """Vectorised check over (N, 28, 28) images: already laid out the way MNIST lays out its digits?"""
    return _normal_form_from_sums(x.sum(2), x.sum(1))


_IDX28 = np.arange(28, dtype=np.float64)


def _normal_form_from_sums(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Same check from per-row and per-column ink sums (N, 28): bounding box 19-20 px, mass centred.

    MNIST's own digits: larger side exactly 20 px (99.97 %), centre of mass within 0.5 px of (14, 14).
    """
    ink_rows, ink_cols = rows > 0, cols > 0
    h = 28 - ink_rows.argmax(1) - ink_rows[:, ::-1].argmax(1)
    w = 28 - ink_cols.argmax(1) - ink_cols[:, ::-1].argmax(1)
    side = np.maximum(h, w)
    total = rows.sum(1).astype(np.float64)
    safe = np.where(total > 0, total, 1)
    cy = (rows @ _IDX28) / safe
    cx = (cols @ _IDX28) / safe
    return (total > 0) & (side >= 19) & (side <= 20) & (np.abs(cy - 14) <= 0.75) & (np.abs(cx - 14) <= 0.75)


@dataclass(frozen=True)
class PreprocessConfig:
    """How images become model input: one frozen value shared by the Classifier, its decoding processes,
    the server and any other front-end, so they cannot drift apart."""

    invert: Invert = "auto"  # ink polarity: auto decides per image
    center: bool = True  # crop, fit to 20x20, centre by mass (MNIST's normal form)
    max_pixels: int = DEFAULT_MAX_PIXELS  # decompression-bomb guard


def no_digit(pixels: np.ndarray) -> np.ndarray:
    """(N, 28, 28) preprocessed images -> (N,) bool: where preprocessing found no digit (all zeros)."""
    return np.asarray(~pixels.reshape(len(pixels), -1).any(1))


def to_mnist(gray: np.ndarray, invert: Invert = "auto", center: bool = True) -> np.ndarray:
    """One decoded grayscale image -> (28, 28) float32 [0, 1], white ink on black, MNIST normal form.

    All zeros when there is no digit to see (blank page, uniform colour, only specks): see `no_digit`."""
    return normal_form(levels(gray, invert), center)


def normal_form(x: np.ndarray, center: bool = True) -> np.ndarray:
    """The second half of `to_mnist`: a `levels` image (ink high, [0, 1]) -> the (28, 28) model input.
    May change *x*."""
    if x.shape == (28, 28) and (not center or is_normal_form(x[None])[0]):
        return x
    if not center:  # only resize: the caller asked us not to crop or centre
        return np.clip(np.asarray(Image.fromarray(x, mode="F").resize((28, 28), Image.Resampling.LANCZOS)), 0, 1)
    return normalize(clean(x), pen=True)


def to_mnist_batch(grays: list[np.ndarray], invert: Invert = "auto", center: bool = True) -> np.ndarray:
    """Many decoded images -> (N, 28, 28) float32. 28x28 8-bit images take a vectorised fast path."""
    out = np.empty((len(grays), 28, 28), np.float32)
    fast: list[int] = []
    slow: list[int] = []
    for i, g in enumerate(grays):
        (fast if g.shape == (28, 28) and g.dtype == np.uint8 else slow).append(i)
    if fast:
        u8 = np.stack([grays[i] for i in fast]).reshape(len(fast), 784)
        half = 784 // 2 + 1  # "median == v" for 784 pixels <=> at least 393 of them equal v
        if invert == "auto":
            flip = np.count_nonzero(u8 > 127, axis=1) >= half  # median > 127.5: light background, dark ink
        else:
            flip = np.full(len(fast), invert == "always")
        if flip.any():
            u8[flip] = 255 - u8[flip]
        # Exactly the cases where levels() reduces to x / 255: the majority of pixels are exactly 0 once
        # white-on-black, and the ink reaches _FULL_INK or more (no contrast stretch).
        ok = (np.count_nonzero(u8 == 0, axis=1) >= half) & (u8.max(1) >= _FULL_INK)
        if center:
            img = u8.reshape(-1, 28, 28)
            ok &= _normal_form_from_sums(img.sum(2, dtype=np.int32), img.sum(1, dtype=np.int32))
        x = (u8.astype(np.float32) / np.float32(255)).reshape(-1, 28, 28)
        idx = np.asarray(fast)
        out[idx[ok]] = x[ok]
        slow.extend(idx[~ok].tolist())
    for i in slow:
        out[i] = to_mnist(grays[i], invert, center)
    return out


def load_image(source: str | Path | Image.Image, invert: Invert = "auto", center: bool = True,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode and preprocess one image: the (28, 28) float32 [0, 1] array the model will see."""
    return to_mnist(decode(source, max_pixels), invert, center)
