"""[Frozen copy of mnist-onnx 0.1.0's preprocessing, for benchmarks/realworld.py only.]

Turn real-world digit images into what an MNIST model expects: 28x28, white ink on black, in [0, 1].

Pipeline (per image): decode with Pillow (first frame; any mode) -> composite transparency -> grayscale
-> ink polarity -> background/contrast levels -> MNIST normal form (crop to the ink, fit 20x20 keeping the
aspect ratio, centre of mass at (14, 14) of 28x28), exactly as the MNIST images themselves were made.

Images already in that normal form (28x28, white on black, 20 px tall or wide, centred) pass through
unchanged, so official MNIST images reach the model bit-exact. The checks run vectorised over a batch so the
common case costs little more than the PNG decode.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from mnist_onnx.errors import ImageError

Invert = Literal["auto", "always", "never"]
DEFAULT_MAX_PIXELS = 50_000_000  # decompression-bomb guard: a 50 MP phone photo is fine, a 1 GP PNG is not
_WORK_SIDE = 512  # larger images are box-reduced to about this before any float work (the digit ends at 20 px)
_INK_THRESHOLD = 0.1  # in [0, 1] after levels: what counts as ink for the bounding box


# --- decoding ------------------------------------------------------------------------------------------

def _fail(path: object, problem: str) -> ImageError:
    return ImageError(path, problem)


def _to_gray(im: Image.Image) -> np.ndarray:
    """Any Pillow mode -> (H, W) grayscale; uint8 when that is lossless, float32 0..255 otherwise."""
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "L")
        mode = im.mode
    if mode in ("L", "1"):
        return np.asarray(im if mode == "L" else im.convert("L"))
    if mode.startswith("I"):  # 16-bit (I;16*) or 32-bit integer grayscale
        a = np.asarray(im).astype(np.float32)
        return a / 257.0 if (mode.startswith("I;16") or a.max() > 255) else a
    if mode == "F":
        return np.clip(np.asarray(im, dtype=np.float32), 0, 255)
    if "A" in mode or mode in ("RGBa", "La"):
        if mode in ("RGBa", "La"):  # premultiplied: undo first
            im = im.convert("RGBA" if mode == "RGBa" else "LA")
        alpha = np.asarray(im.getchannel("A"), dtype=np.float32) / 255.0
        lum = np.asarray(im.convert("L"), dtype=np.float32)
        if alpha.min() >= 1.0:
            return lum
        # Composite over the background that contrasts with the ink: dark ink on transparency gets white
        # paper, light ink gets black. The opaque pixels are the ink, so their mean colour decides.
        weight = alpha.sum()
        ink_level = (lum * alpha).sum() / weight if weight > 0 else 0.0
        background = 255.0 if ink_level < 128 else 0.0
        return lum * alpha + background * (1.0 - alpha)
    return np.asarray(im.convert("L"))  # RGB, CMYK, YCbCr, LAB, HSV


def decode(source: str | Path | Image.Image, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode one image to a (H, W) grayscale array (uint8, or float32 0..255 for 16-bit/alpha images).

    Raises ImageError with a one-line message naming the file and the problem.
    """
    if isinstance(source, Image.Image):
        return _reduce(_to_gray(source))
    path = source
    try:
        im = Image.open(path)
    except FileNotFoundError:
        raise _fail(path, "file not found (missing, or vanished after listing)") from None
    except IsADirectoryError:
        raise _fail(path, "is a directory, not an image") from None
    except PermissionError:
        raise _fail(path, "unreadable (permission denied)") from None
    except UnidentifiedImageError:
        with contextlib.suppress(OSError):
            if os.path.getsize(path) == 0:
                raise _fail(path, "empty file (0 bytes)") from None
        raise _fail(path, "not an image (unrecognised format)") from None
    except Image.DecompressionBombError:
        raise _fail(path, "too many pixels (over Pillow's decompression-bomb limit)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise _fail(path, _describe(e)) from None
    with im:
        try:
            if im.width * im.height > max_pixels:
                raise _fail(path, f"too many pixels ({im.width}x{im.height} > {max_pixels:,} limit)")
            if im.width == 0 or im.height == 0:
                raise _fail(path, "image has no pixels")
            if max(im.size) > 2 * _WORK_SIDE and im.mode in ("L", "RGB", "RGBA", "LA"):
                factor = max(im.size) // _WORK_SIDE
                im.draft(im.mode, (im.width // factor, im.height // factor))  # JPEG: decode smaller
            im.load()
            return _reduce(_to_gray(im))
        except ImageError:
            raise
        except Image.DecompressionBombError:
            raise _fail(path, "too many pixels (over Pillow's decompression-bomb limit)") from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError) as e:
            raise _fail(path, _describe(e)) from None


def _describe(e: Exception) -> str:
    if isinstance(e, OSError) and e.errno in (errno.EIO, errno.EACCES):
        return f"unreadable ({e.strerror})"
    detail = str(e).splitlines()[0] if str(e) else type(e).__name__
    return f"truncated or corrupt image data ({detail})"


def _reduce(gray: np.ndarray) -> np.ndarray:
    """Box-reduce very large images so later float work stays small; the digit ends up 20 px anyway."""
    side = max(gray.shape)
    if side <= 2 * _WORK_SIDE:
        return gray
    factor = side // _WORK_SIDE
    h, w = (gray.shape[0] // factor) * factor, (gray.shape[1] // factor) * factor
    g = gray[:h, :w].astype(np.float32)
    return g.reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))


# --- levels and polarity -------------------------------------------------------------------------------

def _levels(gray: np.ndarray, invert: Invert) -> np.ndarray:
    """(H, W) 0..255 -> float32 [0, 1], ink high. Background is the median (ink is the minority of pixels)."""
    x = gray.astype(np.float32, copy=False)
    median = float(np.median(x))
    if invert == "always" or (invert == "auto" and median > 127.5):
        x = 255.0 - x
        median = 255.0 - median
    # Background level and its spread: the darkest 5 % are pure background, the median is its centre; the
    # floor sits above both, so paper texture and shading vanish. On clean images the floor is 0.
    low = float(np.percentile(x, 5)) if median > 0 else 0.0
    floor = median + 1.5 * (median - low)
    peak = float(x.max())
    if peak - floor < 1e-3:
        return np.zeros_like(x)
    top = peak if peak - floor < 0.75 * 255 else 255.0  # stretch faint ink; keep well-exposed images as they are
    return np.clip((x - floor) / (top - floor), 0.0, 1.0)


# --- MNIST normal form ---------------------------------------------------------------------------------

def _center_of_mass(x: np.ndarray) -> tuple[float, float]:
    total = x.sum()
    if total <= 0:
        return (x.shape[0] - 1) / 2, (x.shape[1] - 1) / 2
    return float((x.sum(1) * np.arange(x.shape[0])).sum() / total), float((x.sum(0) * np.arange(x.shape[1])).sum() / total)


def normalize(x: np.ndarray) -> np.ndarray:
    """Any (H, W) [0, 1] white-on-black image -> MNIST normal form (28x28, ink fitted to 20x20, COM centred)."""
    rows = np.flatnonzero((x > _INK_THRESHOLD).any(1))
    cols = np.flatnonzero((x > _INK_THRESHOLD).any(0))
    out = np.zeros((28, 28), np.float32)
    if len(rows) == 0:
        return out
    crop = x[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    s = 20.0 / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    resized = np.asarray(Image.fromarray(np.ascontiguousarray(crop, np.float32), mode="F").resize(
        (nw, nh), Image.Resampling.LANCZOS), dtype=np.float32)
    resized = np.clip(resized, 0.0, 1.0)
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


def to_mnist(gray: np.ndarray, invert: Invert = "auto", center: bool = True) -> np.ndarray:
    """One decoded grayscale image -> (28, 28) float32 [0, 1], white ink on black, MNIST normal form."""
    x = _levels(gray, invert)
    if x.shape == (28, 28) and (not center or is_normal_form(x[None])[0]):
        return x
    if not center:  # only resize: the caller asked us not to crop or centre
        return np.clip(np.asarray(Image.fromarray(x, mode="F").resize((28, 28), Image.Resampling.LANCZOS)), 0, 1)
    return normalize(x)


def to_mnist_batch(grays: list[np.ndarray], invert: Invert = "auto", center: bool = True) -> np.ndarray:
    """Many decoded images -> (N, 28, 28) float32. 28x28 8-bit images take a vectorised fast path."""
    out = np.empty((len(grays), 28, 28), np.float32)
    fast, slow = [], []
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
        # Exactly the cases where _levels() reduces to x / 255: the majority of pixels are exactly 0 once
        # white-on-black, and the ink reaches 192 or more (no contrast stretch).
        ok = (np.count_nonzero(u8 == 0, axis=1) >= half) & (u8.max(1) >= 192)
        if center:
            img = u8.reshape(-1, 28, 28)
            ok &= _normal_form_from_sums(img.sum(2, dtype=np.int32), img.sum(1, dtype=np.int32))
        x = u8.astype(np.float32)
        x /= np.float32(255)
        x = x.reshape(-1, 28, 28)
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
