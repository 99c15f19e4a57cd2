"""Open and decode one image safely: regular files only (a FIFO or /dev/zero never blocks or floods us),
Pillow asked only for the raster formats in `_formats`, decompression bombs refused, very large images reduced
in strips before any float copy. Any mode becomes one (H, W) grayscale array; the libspng fast path (`_png`)
takes small plain PNGs. Every problem is an ImageError with one line naming the file.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from . import png as _png
from .._formats import DEFAULT_MAX_PIXELS, FORMATS
from ..errors import ImageError

_WORK_SIDE = 512  # larger images are box-reduced to about this before any float work (the digit ends at 20 px)
_MAX_SIDE = 100 * _WORK_SIDE  # a side longer than 51,200 px ...
_MAX_ASPECT = 100  # ... on an image over 100 times longer than wide is a strip, not a photo of a digit


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
    if mode == "F":  # 32-bit float: scientific TIFFs keep 0..1, others 0..255
        a = np.asarray(im, dtype=np.float32)
        finite = np.isfinite(a)
        if not finite.all():  # NaN or infinite pixels carry no ink: they take the paper's (median) level
            a = np.where(finite, a, np.median(a[finite]) if finite.any() else 0.0).astype(np.float32)
        unit = a.size and float(a.max()) <= 1.5  # 0..1 (a resampled one overshoots a little); 0..255 is brighter
        return np.clip(a * 255.0 if unit else a, 0, 255)
    if mode == "LAB":  # Pillow converts LAB to nothing else (and its "A" is a colour axis, not alpha); its L
        return np.asarray(im.getchannel(0))  # band is the lightness, 0..255
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
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
    try:
        return np.asarray(im.convert("L"))  # RGB, CMYK, YCbCr, HSV
    except ValueError as e:  # "conversion from X to L not supported": a mode, not a damaged file (#29)
        raise _Unsupported(f"unsupported image mode {mode}") from e


class _Unsupported(ValueError):
    """A decoded image whose mode has no grayscale conversion: said as such, never as "corrupt"."""


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
        if source.width == 0 or source.height == 0:
            raise _fail(name or "<image>", "image has no pixels")
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
            if max(image.size) > _MAX_SIDE and max(image.size) > _MAX_ASPECT * min(image.size):
                # Pillow keeps a pointer per row: a 1 x 40,000,000 strip costs ~400 MB and seconds to hold,
                # for nothing readable. Refused from the header, before a byte is inflated.
                raise _fail(path, f"extreme shape ({image.width}x{image.height}): too long and thin to hold a "
                                  "digit; not decoded")
            size = image.size
            if max(image.size) > 2 * _WORK_SIDE and image.mode in ("L", "RGB", "RGBA", "LA", "CMYK"):
                fx, fy = _factors(image.size)
                # JPEG: decode smaller, by the DCT scale (1/2, 1/4, 1/8) nearest the box factor from below,
                # or up to a fifth above it (factor 7: 1/8, the cheapest decode, about the size a PNG gets)
                scale = max(k for k in (1, 2, 4, 8) if k <= 1.2 * min(fx, fy))
                # An RGB JPEG decodes its luma only ("L"): what the gray conversion would compute anyway, and
                # the colour planes are never decoded or converted
                image.draft("L" if image.mode in ("L", "RGB") else image.mode,
                            (-(-image.width // scale), -(-image.height // scale)))
            image.load()
            if image.size != size and image.mode in ("L", "RGB"):
                # JPEG's draft reduces by 1/2, 1/4 or 1/8 only: the rest of the box factor, rounded, brings it
                # to about the PNG path's size (the clean-up used to run on 750x1000 for a 3000x4000 photo:
                # 4x the pixels a PNG of it gets).
                rest = round(_factors(size)[0] / (size[0] / image.width))
                if rest > 1:
                    image = image.reduce(rest)
            if max(image.size) > 2 * _WORK_SIDE and image.mode in ("L", "RGB", "RGBA", "LA", "RGBa", "La", "I", "F", "P"):
                # Box-reduce in Pillow, before any float copy: a 7000x7000 RGBA PNG stays ~200 MB at peak.
                if image.mode == "P":
                    image = image.convert("RGBA" if "transparency" in image.info else "RGB")
                image = _reduce_in_strips(image, _factors(image.size))
            elif max(image.size) > 2 * _WORK_SIDE and (image.mode in _STRIP_LOCAL or image.mode.startswith("I;16")):
                # Modes Pillow cannot box-reduce (16-bit, 1-bit, CMYK...): to gray and reduced a strip at a
                # time, never a full-size float copy (a 7000x7000 16-bit PNG peaked at 547 MB)
                return _gray_in_strips(image, _factors(image.size)), size
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


def _factors(size: tuple[int, int]) -> tuple[int, int]:
    """(along the width, along the height): the uniform `_factor`, except for a strip too thin for it (1 x
    40,000,000), whose long side is reduced to about `_WORK_SIDE` on its own: its shape is lost, but there
    is nothing to read in it anyway, and its cost then follows the pixels we keep, not the ones it claims."""
    w, h = size
    factor = _factor(size)
    long = max(1, max(size) // _WORK_SIDE)
    if factor >= long:
        return factor, factor
    return (long, factor) if w >= h else (factor, long)


def _reduce_in_strips(im: Image.Image, factors: tuple[int, int]) -> Image.Image:
    """Pillow's box reduction, a strip of rows at a time: for RGBA it premultiplies into a full-size copy
    first, which would double the peak memory of a huge image."""
    fx, fy = factors
    w, h = im.size
    rows = fy * 16 * max(1, fx // fy)  # a few thousand output pixels a strip, whatever the shape
    out = Image.new(im.mode, (w // fx, h // fy))
    for top in range(0, (h // fy) * fy, rows):
        bottom = min(top + rows, (h // fy) * fy)
        strip = im.crop((0, top, (w // fx) * fx, bottom)).reduce((fx, fy))
        out.paste(strip, (0, top // fy))
    return out


# Modes whose grayscale conversion (`_to_gray`) looks at each pixel alone: they can be converted a strip at a
# time with the same result. (With alpha, `_to_gray` picks the background from the whole image's ink.)
_STRIP_LOCAL = ("1", "CMYK", "YCbCr", "LAB", "HSV")


def _gray_in_strips(im: Image.Image, factors: tuple[int, int]) -> np.ndarray:
    """`_reduce(_to_gray(im))`, computed a strip of rows at a time: the same block means, exactly."""
    fx, fy = factors
    w, h = im.size
    out_w, out_h = w // fx, h // fy
    out = np.empty((out_h, out_w), np.float32)
    rows = fy * 16  # whole blocks: 16 output rows a strip, a few MB of floats whatever the width
    for top in range(0, out_h * fy, rows):
        bottom = min(top + rows, out_h * fy)
        gray = _to_gray(im.crop((0, top, out_w * fx, bottom))).astype(np.float32)
        out[top // fy : bottom // fy] = gray.reshape((bottom - top) // fy, fy, out_w, fx).mean(axis=(1, 3))
    return out


def _describe(e: Exception) -> str:
    if isinstance(e, OSError) and e.errno in (errno.EIO, errno.EACCES):
        return f"unreadable ({e.strerror})"
    if isinstance(e, OSError) and e.errno == errno.ELOOP:
        return "unreadable (too many levels of symbolic links)"
    if isinstance(e, OSError) and e.errno == errno.ENAMETOOLONG:
        return "unreadable (path too long)"
    if isinstance(e, _Unsupported):
        return str(e)
    detail = str(e).splitlines()[0] if str(e) else type(e).__name__
    if "conversion from" in detail and "not supported" in detail:  # Pillow's own words for a mode it cannot convert
        return f"unsupported image mode ({detail})"
    return f"truncated or corrupt image data ({detail})"


def _reduce(gray: np.ndarray) -> np.ndarray:
    """Box-reduce very large images so later float work stays small; the digit ends up 20 px anyway."""
    side = max(gray.shape)
    if side <= 2 * _WORK_SIDE:
        return gray
    fx, fy = _factors((gray.shape[1], gray.shape[0]))
    if fx == fy == 1:
        return gray
    h, w = (gray.shape[0] // fy) * fy, (gray.shape[1] // fx) * fx
    g = gray[:h, :w].astype(np.float32)
    return g.reshape(h // fy, fy, w // fx, fx).mean(axis=(1, 3))
