"""Turn real-world digit images into what an MNIST model expects: 28x28, white ink on black, in [0, 1].

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
import io
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from . import _png
from .errors import ImageError

Invert = Literal["auto", "always", "never"]
# Raster formats people's digits arrive in. Pillow is never asked to open anything else: an EPS file would
# go to Ghostscript, a PDF or a font to other parsers.
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM")
EXTENSIONS = ("png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp", "ppm", "pgm", "pbm")
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


def decode(source: str | Path | Image.Image | bytes, max_pixels: int = DEFAULT_MAX_PIXELS,
           name: str | None = None) -> np.ndarray:
    """Decode one image to a (H, W) grayscale array (uint8, or float32 0..255 for 16-bit/alpha images).

    *source* is a path, a PIL image, or the bytes of an image file (an upload; *name* then names it in
    errors). Raises ImageError with a one-line message naming the file and the problem.
    """
    return decode_sized(source, max_pixels, name)[0]


def decode_sized(source: str | Path | Image.Image | bytes, max_pixels: int = DEFAULT_MAX_PIXELS,
                 name: str | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """`decode`, and the image's own (width, height): very large images come back reduced, and what is
    found in them (a digit's box) is reported in the image's own pixels."""
    if isinstance(source, Image.Image):
        return _reduce(_to_gray(source)), source.size
    opened: BinaryIO
    data: bytes | None
    if isinstance(source, (bytes, bytearray, memoryview)):
        path: object = name or "<bytes>"
        data = bytes(source)
    else:
        path = source
        data, opened = _read_regular(source)
    if data is not None:  # in memory: a small file, or an upload
        if len(data) == 0:
            raise _fail(path, "empty file (0 bytes)")
        fast = _fast_png(data, max_pixels) if _png.available() else None
        if fast is not None:
            return fast, (fast.shape[1], fast.shape[0])  # at most 64x64: never reduced
        opened = io.BytesIO(data)
    with opened:  # Pillow leaves a file object it was given open
        return _decode_open(opened, path, max_pixels)


def _fast_png(data: bytes, max_pixels: int) -> np.ndarray | None:
    """Plain 8-bit PNGs through libspng (see `_png`): the same array Pillow would give, or None."""
    if not data.startswith(_png.SIGNATURE):
        return None
    png = _png.plain_mode(data, max_pixels)
    if png is None:
        return None
    image = _png.decode(data, png)
    if image is None:
        return None
    return image if isinstance(image, np.ndarray) else _to_gray(image)


def _decode_open(opened: BinaryIO, path: object, max_pixels: int) -> tuple[np.ndarray, tuple[int, int]]:
    try:
        im = Image.open(opened, formats=FORMATS)
    except FileNotFoundError:
        raise _fail(path, "file not found (missing, or vanished after listing)") from None
    except IsADirectoryError:
        raise _fail(path, "is a directory, not an image") from None
    except PermissionError:
        raise _fail(path, "unreadable (permission denied)") from None
    except UnidentifiedImageError:
        with contextlib.suppress(OSError):
            if opened.seek(0, os.SEEK_END) == 0:
                raise _fail(path, "empty file (0 bytes)") from None
        raise _fail(path, "not an image (unrecognised format)") from None
    except Image.DecompressionBombError:
        raise _fail(path, "too many pixels (over Pillow's decompression-bomb limit)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise _fail(path, _describe(e)) from None
    with im:
        image: Image.Image = im
        try:
            if image.width * image.height > max_pixels:
                raise _fail(path, f"too many pixels ({image.width}x{image.height} > {max_pixels:,} limit)")
            if image.width == 0 or image.height == 0:
                raise _fail(path, "image has no pixels")
            size = image.size
            if max(image.size) > 2 * _WORK_SIDE and image.mode in ("L", "RGB", "RGBA", "LA"):
                factor = _factor(image.size)
                image.draft(image.mode, (image.width // factor, image.height // factor))  # JPEG: decode smaller
            image.load()
            if max(image.size) > 2 * _WORK_SIDE and image.mode in ("L", "RGB", "RGBA", "LA", "RGBa", "La", "I", "F", "P"):
                # Box-reduce in Pillow, before any float copy: a 7000x7000 RGBA PNG stays ~200 MB at peak.
                if image.mode == "P":
                    image = image.convert("RGBA" if "transparency" in image.info else "RGB")
                image = _reduce_in_strips(image, _factor(image.size))
            return _reduce(_to_gray(image)), size
        except ImageError:
            raise
        except Image.DecompressionBombError:
            raise _fail(path, "too many pixels (over Pillow's decompression-bomb limit)") from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError) as e:
            raise _fail(path, _describe(e)) from None


_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device"}


_SMALL_FILE = 1 << 20  # files up to this are read in one system call and decoded from memory


def _read_regular(path: str | Path) -> tuple[bytes | None, BinaryIO]:
    """Open *path* for reading only if it is a regular file: reading a FIFO blocks forever, /dev/zero never
    ends. Opened non-blocking (a FIFO without a writer opens at once) and checked with fstat, so a file costs
    one open, not a stat and an open. Folders get their own words (one that could not be listed lands here).

    Returns (its bytes, an empty stream) for a small file -- one `read` call, no buffered file object -- or
    (None, the open file) for Pillow to stream a large one."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
                     | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise _fail(path, "file not found (missing, or vanished after listing)") from None
    except IsADirectoryError:  # Windows; POSIX opens a directory and fstat tells
        raise _fail(path, "is a directory, not an image") from None
    except OSError as e:
        if e.errno == errno.ENXIO:  # a socket (or a FIFO on some systems)
            raise _fail(path, "not a regular file (a socket)") from None
        raise _fail(path, _describe(e)) from None
    st = os.fstat(fd)
    if stat.S_ISREG(st.st_mode):
        if st.st_size <= _SMALL_FILE:
            try:
                data = os.read(fd, st.st_size + 1)  # +1: a file that grew since fstat is streamed instead
                if len(data) <= st.st_size:
                    os.close(fd)
                    return data, io.BytesIO()
                os.lseek(fd, 0, os.SEEK_SET)
            except OSError as e:
                os.close(fd)
                raise _fail(path, _describe(e)) from None
        return None, os.fdopen(fd, "rb")
    os.close(fd)
    if stat.S_ISDIR(st.st_mode):
        try:
            os.listdir(path)
        except OSError as e:
            raise _fail(path, f"unreadable directory ({e.strerror or e})") from None
        raise _fail(path, "is a directory, not an image")
    raise _fail(path, f"not a regular file ({_KINDS.get(stat.S_IFMT(st.st_mode), 'special file')})")


def _factor(size: tuple[int, ...]) -> int:
    """Box-reduction factor for a very large image, never so large that a side vanishes (a 6000x4 strip)."""
    return max(1, min(max(size) // _WORK_SIDE, min(size)))


def _reduce_in_strips(im: Image.Image, factor: int) -> Image.Image:
    """Pillow's box reduction, a strip of rows at a time: for RGBA it premultiplies into a full-size copy
    first, which would double the peak memory of a huge image."""
    w, h = im.size
    rows = factor * 16
    out = Image.new(im.mode, (w // factor, h // factor))
    for top in range(0, (h // factor) * factor, rows):
        bottom = min(top + rows, (h // factor) * factor)
        strip = im.crop((0, top, (w // factor) * factor, bottom)).reduce(factor)
        out.paste(strip, (0, top // factor))
    return out


def _describe(e: Exception) -> str:
    if isinstance(e, OSError) and e.errno in (errno.EIO, errno.EACCES):
        return f"unreadable ({e.strerror})"
    if isinstance(e, OSError) and e.errno == errno.ELOOP:
        return "unreadable (too many levels of symbolic links)"
    if isinstance(e, OSError) and e.errno == errno.ENAMETOOLONG:
        return "unreadable (path too long)"
    detail = str(e).splitlines()[0] if str(e) else type(e).__name__
    return f"truncated or corrupt image data ({detail})"


def _reduce(gray: np.ndarray) -> np.ndarray:
    """Box-reduce very large images so later float work stays small; the digit ends up 20 px anyway."""
    side = max(gray.shape)
    if side <= 2 * _WORK_SIDE:
        return gray
    factor = _factor(gray.shape)
    if factor == 1:
        return gray
    h, w = (gray.shape[0] // factor) * factor, (gray.shape[1] // factor) * factor
    g = gray[:h, :w].astype(np.float32)
    return g.reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))


# --- levels and polarity -------------------------------------------------------------------------------

NO_DIGIT = "no digit found (blank, or nothing stands out from the background)"
_NO_INK_CONTRAST = 24.0  # of 255: ink must stand out from the background by at least this much
_MIN_DIGIT_SIZE = 0.02  # of the image's larger side: anything smaller is a speck, not a digit
_LOCAL_BACKGROUND_MIN_SIDE = 48  # below this (tiny sources, 28x28 canvases) the background is one level


def _ring(x: np.ndarray) -> np.ndarray:
    """The image's outer ring of pixels (3 % of the shorter side, at least 1 px)."""
    h, w = x.shape
    r = max(1, round(0.03 * min(h, w)))
    if min(h, w) <= 2 * r:
        return x.ravel()
    return np.concatenate([x[:r].ravel(), x[-r:].ravel(), x[r:-r, :r].ravel(), x[r:-r, -r:].ravel()])


def _sliding(x: np.ndarray, k: int, reduce: np.ufunc) -> np.ndarray:
    """Separable k x k minimum or maximum filter (edges replicated).

    Per axis a sparse table: windows of 1, 2, 4 ... p <= k by doubling, then two overlapping windows of p
    cover k (min and max do not mind the overlap). log2(k) array operations instead of k."""
    lo, hi = k // 2, k - 1 - k // 2
    for axis in (0, 1):
        n = x.shape[axis]
        # edges replicated (np.pad's "edge", without its per-call overhead)
        y = np.concatenate([_head(x, 1, axis).repeat(lo, axis), x, _tail(x, n - 1, axis).repeat(hi, axis)], axis)
        p = 1
        while 2 * p <= k:
            m = y.shape[axis] - p
            y = reduce(_head(y, m, axis), _tail(y, p, axis))
            p *= 2
        x = reduce(_head(y, n, axis), _tail(y, k - p, axis, n))
    return x


def _head(y: np.ndarray, m: int, axis: int) -> np.ndarray:
    return y[:m] if axis == 0 else y[:, :m]


def _tail(y: np.ndarray, start: int, axis: int, length: int | None = None) -> np.ndarray:
    end = None if length is None else start + length
    return y[start:end] if axis == 0 else y[:, start:end]


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
    if not _sliding(small > 0, k, np.minimum).any():
        # Every k x k window holds a zero (clean paper, strokes thinner than the window): the minimum filter,
        # hence the opening, is zero everywhere. Exact, and a boolean filter costs a fraction of a float one.
        return None
    opened = _sliding(_sliding(small, k, np.minimum), k, np.maximum)
    surface = Image.fromarray(np.ascontiguousarray(opened, np.float32), mode="F").resize((w, h), Image.Resampling.BILINEAR)
    return np.minimum(np.asarray(surface, dtype=np.float32), x)


def _levels(gray: np.ndarray, invert: Invert) -> np.ndarray:
    """(H, W) 0..255 -> float32 [0, 1], ink high, background 0. All zeros when there is no ink to see."""
    x = gray.astype(np.float32, copy=True)
    # The background is the median of the outer ring: a digit crop is framed by paper, even when the digit
    # fills half the box (USPS) or the paper is dark (a photo in a dim room).
    ring = _ring(x)
    background = float(np.median(ring))
    if invert == "auto":  # ink is whichever side of the background holds more ink beyond the noise
        margin = max(8.0, 3.0 * 1.4826 * float(np.median(np.abs(ring - background))))
        dev = x - background
        flip = float(np.maximum(-dev - margin, 0).sum()) > float(np.maximum(dev - margin, 0).sum())
    else:
        flip = invert == "always"
    out = _ink(x, flip, background)
    if out.any() or invert != "auto":
        return out
    lo, hi = float(x.min()), float(x.max())
    if hi - lo >= _NO_INK_CONTRAST:
        # A digit stretched to fill its box covers half the ring too (Semeion): the ring told the wrong side.
        out = _ink(x, not flip, lo if flip else hi, ring_floor=False)
    return out


def _ink(x: np.ndarray, flip: bool, background: float, ring_floor: bool = True) -> np.ndarray:
    """Ink-high [0, 1] for one polarity: background removed, noise floored, faint ink stretched."""
    if flip:
        x = 255.0 - x
        background = 255.0 - background
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
        floor = med + 3.0 * 1.4826 * float(np.median(np.abs(ring - med)))
    peak = float(x.max())
    floor = np.minimum(floor, 0.5 * peak).astype(np.float32)  # noise never hides the ink itself
    level = float(np.max(floor))
    if peak - level < _NO_INK_CONTRAST:
        return np.zeros_like(x)
    top = peak if peak - level < 0.75 * 255 else 255.0  # stretch faint ink; keep well-exposed images as they are
    return np.clip((x - floor) / np.float32(top - level), 0.0, 1.0)


def _block_floor(x: np.ndarray, n: int = 4) -> np.ndarray | float:
    """Noise floor surface: per block of an n x n grid, the background level plus three sigma, both read
    from the low end of the values (the 2nd and 16th percentiles are mu - 2 sigma and mu - sigma for
    Gaussian noise), which ink -- always on the high side, up to 80 % of a block -- cannot move. Smoothly
    upsampled to the image."""
    h, w = x.shape
    bh, bw = h // n, w // n
    blocks = x[: bh * n, : bw * n].reshape(n, bh, n, bw).transpose(0, 2, 1, 3).reshape(n, n, -1)
    # x >= 0 here. Where zeros fill a block past the 15.9th percentile's two neighbouring ranks, both
    # percentiles are exactly 0, so the floor is 0: true of clean paper, and 10x cheaper to count than sort.
    if (np.count_nonzero(blocks == 0, axis=2) >= math.ceil(0.159 * (blocks.shape[2] - 1)) + 2).all():
        return 0.0
    p2, p16 = np.percentile(blocks, [2.3, 15.9], axis=2)
    sigma = np.maximum(p16 - p2, 0.0)
    grid = (p16 + 4.0 * sigma).astype(np.float32)
    return np.asarray(Image.fromarray(grid, mode="F").resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)


# --- clutter: ruled lines, frame edges, specks, second marks -------------------------------------------

def _line_runs(frac: np.ndarray) -> list[tuple[int, int]]:
    """Runs [start, end) of consecutive rows whose ink covers at least 60 % of the width."""
    on = np.concatenate([[False], frac >= 0.6, [False]])
    d = np.flatnonzero(np.diff(on.astype(np.int8)))
    return list(zip(d[::2].tolist(), d[1::2].tolist()))


def _remove_lines(x: np.ndarray, full: tuple[int, int] | None = None, at: tuple[int, int] = (0, 0),
                  axes: tuple[int, ...] = (0, 1)) -> np.ndarray:
    """Erase straight lines across most (60 %) of the image: ruled or grid paper (two or more parallel lines)
    and a frame edge (a line in the outer band). A single line through the middle may be a digit's bar and
    stays; so does anything thicker than 1/8 of the image (ink, not a printed line). Strokes crossing a
    line survive: the line is filled with the smaller of the rows just above and below it.

    *x* may be the crop at *at* of an image of shape *full* that holds all of its ink (zeros around it):
    sizes are then measured against the full image, so the result is the full image's, cropped. *axes*:
    0 for rows (horizontal lines), 1 for columns."""
    full = full or x.shape
    for axis in axes:
        y = x if axis == 0 else x.T
        n, m = full[axis], full[1 - axis]
        off = at[axis]
        runs = [(a, b) for a, b in _line_runs(np.count_nonzero(y > 0.05, axis=1) / m) if b - a <= max(2, n // 8)]
        band = max(1, round(0.12 * n))
        for a, b in runs:
            if len(runs) >= 2 or a + off < band or b + off > n - band:
                above = y[a - 1] if a > 0 else np.zeros(y.shape[1], np.float32)  # (outside a crop: no ink)
                below = y[b] if b < y.shape[0] else np.zeros(y.shape[1], np.float32)
                y[a:b] = np.minimum(above, below)
    return x


Runs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # row, start, end (exclusive), label of each run


def _components(mask: np.ndarray) -> tuple[np.ndarray, int, Runs]:
    """8-connected components of a boolean mask: (labels, count, runs), labels 0 = background.

    Union-find over horizontal runs, all in whole-array numpy operations: the runs, which runs of
    neighbouring rows touch, and the unions (hook and compress, a handful of rounds).
    """
    h, w = mask.shape
    padded = np.zeros((h, w + 2), np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    sr, sc = np.nonzero(edges == 1)  # row-major order: runs sorted by row, then column
    _, ec = np.nonzero(edges == -1)
    n_runs = len(sr)
    if n_runs == 0:
        return np.zeros((h, w), np.int32), 0, (sr, sc, ec, sr)
    # Run j of row r-1 touches run i of row r when ps <= e and s <= pe. Runs of a row are sorted and
    # disjoint, so those j form one contiguous range: found by binary search on a (row, column) key.
    key_start = sr.astype(np.int64) * (w + 2) + sc
    key_end = sr.astype(np.int64) * (w + 2) + ec
    prev_row = (sr - 1).astype(np.int64) * (w + 2)
    first = np.searchsorted(key_end, prev_row + sc, side="left")  # first run above ending at or after s
    last = np.searchsorted(key_start, prev_row + ec, side="right")  # past the last starting at or before e
    # Every pair (run i, run j above it that it touches), then union-find in whole-array steps: hook each
    # pair's larger root onto the smaller, compress paths fully, repeat until no pair spans two roots.
    count = np.maximum(last - first, 0)
    i_idx = np.repeat(np.arange(n_runs), count)
    j_idx = np.repeat(first, count) + np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    roots = np.arange(n_runs)
    while True:
        ri, rj = roots[i_idx], roots[j_idx]
        apart = ri != rj
        if not apart.any():
            break
        np.minimum.at(roots, np.maximum(ri, rj)[apart], np.minimum(ri, rj)[apart])
        while True:
            jumped = roots[roots]
            if np.array_equal(jumped, roots):
                break
            roots = jumped
    _, first_run, component = np.unique(roots, return_index=True, return_inverse=True)
    rank = np.empty(len(first_run), np.int32)
    rank[np.argsort(first_run, kind="stable")] = np.arange(1, len(first_run) + 1)  # numbered as met, row-major
    run_label = rank[component.ravel()]
    # paint: each run's label on its columns, via a cumulative sum of +label at start, -label at end
    paint = np.zeros((h, w + 1), np.int32)
    paint[sr, sc] = run_label  # no two runs share a start or an end, and an end never meets a start
    paint[sr, ec] = -run_label
    labels = np.cumsum(paint, axis=1)[:, :w]
    return labels.astype(np.int32), int(run_label.max()), (sr, sc, ec, run_label)


def _keep_digit(x: np.ndarray, full: tuple[int, int] | None = None) -> np.ndarray:
    """Keep the digit, drop specks and marks away from it: the heaviest ink component, plus every component
    with at least 8 % of its ink that lies close to it (a 5's detached bar, a broken faint stroke). All zeros
    when what is left is a speck. *x* may be a crop holding all the ink of an image of shape *full*."""
    mask = x > 0.25
    labels, n, (rows, starts, ends, run_label) = _components(mask)
    if n == 0:
        return np.zeros_like(x)
    mass = np.bincount(labels.ravel(), weights=x.ravel(), minlength=n + 1)[1:]
    order = np.argsort(-mass)
    lab = run_label - 1  # boxes and areas from the runs: a few hundred, not every ink pixel
    boxes = np.zeros((n, 4), np.int64)  # top, left, bottom, right (inclusive)
    boxes[:, :2] = x.shape
    np.minimum.at(boxes[:, 0], lab, rows)
    np.minimum.at(boxes[:, 1], lab, starts)
    np.maximum.at(boxes[:, 2], lab, rows)
    np.maximum.at(boxes[:, 3], lab, ends - 1)
    # Width of each component's strokes (2 area / perimeter): a frame edge, a ruled line or the outline of a
    # pasted photo is far thinner than the pen that wrote the digit.
    # Needed only when a second component is heavy enough to be considered (often there is none).
    width = np.zeros(n)
    if n > 1 and mass[order[1]] >= 0.03 * mass[order[0]]:
        area = np.bincount(lab, weights=ends - starts, minlength=n)
        perimeter = np.zeros(n + 1)
        p = np.pad(labels, 1)
        for u, v in ((p[1:, :], p[:-1, :]), (p[:, 1:], p[:, :-1])):
            edge = u != v
            perimeter += np.bincount(u[edge], minlength=n + 1) + np.bincount(v[edge], minlength=n + 1)
        width = 2 * area / np.maximum(perimeter[1:], 1)
    keep = [int(order[0])]
    t, l, b, r = boxes[order[0]]
    for c in order[1:]:
        if mass[c] < 0.03 * mass[order[0]]:
            break
        if width[c] < 0.4 * width[order[0]]:
            continue
        ct, cl, cb, cr = boxes[c]
        reach = 0.5 * max(b - t + 1, r - l + 1)
        if ct - b <= reach and t - cb <= reach and cl - r <= reach and l - cr <= reach:
            keep.append(int(c))
            t, l, b, r = min(t, ct), min(l, cl), max(b, cb), max(r, cr)
    if max(b - t + 1, r - l + 1) < max(3, _MIN_DIGIT_SIZE * max(full or x.shape)):
        return np.zeros_like(x)
    keep_mask = mask if len(keep) == n else np.isin(labels, np.asarray(keep) + 1)
    # ink just below the mask threshold next to kept strokes (anti-aliased edges) stays; far-away ink goes
    near = np.zeros_like(keep_mask)
    near[max(0, t - 2) : b + 3, max(0, l - 2) : r + 3] = True
    return np.where(keep_mask | (near & ~mask), x, 0.0).astype(np.float32)


def _clean(x: np.ndarray) -> np.ndarray:
    """Lines and clutter out; returns ink-high [0, 1], all zeros when no digit is left.

    Works on the box around all the ink (often a third of a photo): the steps measure sizes against the
    whole image, and there is nothing outside the box, so the result is exactly the whole image's."""
    rows, cols = np.flatnonzero(x.any(1)), np.flatnonzero(x.any(0))
    if len(rows) == 0:
        return np.zeros_like(x)
    t, b, l, r = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    crop = x[t:b, l:r]
    if min(x.shape) >= 40:
        crop = _remove_lines(crop, x.shape, (t, l))
    out = np.zeros_like(x)
    out[t:b, l:r] = _keep_digit(crop, x.shape)
    return out


# --- MNIST normal form ---------------------------------------------------------------------------------

def _center_of_mass(x: np.ndarray) -> tuple[float, float]:
    total = x.sum()
    if total <= 0:
        return (x.shape[0] - 1) / 2, (x.shape[1] - 1) / 2
    return float((x.sum(1) * np.arange(x.shape[0])).sum() / total), float((x.sum(0) * np.arange(x.shape[1])).sum() / total)


def stroke_width(x: np.ndarray) -> float:
    """Mean stroke width in pixels of a [0, 1] ink image: twice the ink area over the ink's perimeter."""
    m = x > 0.5
    area = np.count_nonzero(m)
    if area == 0:
        return 0.0
    p = np.pad(m, 1)
    perimeter = np.count_nonzero(p[1:] != p[:-1]) + np.count_nonzero(p[:, 1:] != p[:, :-1])
    return 2.0 * area / max(int(perimeter), 1)


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
        p = np.pad(fit, ((0, 1), (0, 1)))
        fit = np.max([p[:-1, :-1], p[1:, :-1], p[:-1, 1:], p[1:, 1:]], axis=0)  # 2x2 grey dilation
    elif w > _THICK:
        p = np.pad(fit, ((1, 0), (1, 0)))
        fit = np.min([p[1:, 1:], p[:-1, 1:], p[1:, :-1], p[:-1, :-1]], axis=0)  # 2x2 grey erosion
    return fit


def normalize(x: np.ndarray, pen: bool = False) -> np.ndarray:
    """Any (H, W) [0, 1] white-on-black image -> MNIST normal form (28x28, ink fitted to 20x20, COM centred).

    *pen* also brings the stroke width into MNIST's range (see `_pen`); off for MNIST-like inputs."""
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
    return normal_form(_levels(gray, invert), center)


def normal_form(x: np.ndarray, center: bool = True) -> np.ndarray:
    """The second half of `to_mnist`: a `_levels` image (ink high, [0, 1]) -> the (28, 28) model input.
    May change *x*."""
    if x.shape == (28, 28) and (not center or is_normal_form(x[None])[0]):
        return x
    if not center:  # only resize: the caller asked us not to crop or centre
        return np.clip(np.asarray(Image.fromarray(x, mode="F").resize((28, 28), Image.Resampling.LANCZOS)), 0, 1)
    return normalize(_clean(x), pen=True)


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
        # Exactly the cases where _levels() reduces to x / 255: the majority of pixels are exactly 0 once
        # white-on-black, and the ink reaches 192 or more (no contrast stretch).
        ok = (np.count_nonzero(u8 == 0, axis=1) >= half) & (u8.max(1) >= 192)
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
