"""A fast path for the PNGs most people have: plain 8-bit gray, gray+alpha, RGB or RGBA.

libspng (through pyspng) decodes a 28x28 gray digit in under half of Pillow's time, Python overhead
included (14 vs 32 us per file, measured for 0.3.0; README, Choices). The pixels of colour images then go through
Pillow's own conversion code (`Image.frombuffer(...)` -> `_to_gray`), so what follows is byte-identical to
decoding with Pillow. Only small images (up to 64x64) take the path: libspng skips the zlib checksum, so we
inflate once more to check it, and for larger images that check costs what libspng saves.

Only files whose every chunk we have checked take this path: the chunk layout is one Pillow reads without
complaint (IHDR, a few ancillary chunks of exactly their defined size with a correct CRC, IDAT, IEND), and
the image is small enough that Pillow would not reduce or refuse it. Everything else -- palettes,
transparency keys, 16-bit, APNG, ICC profiles, compressed text, anything odd or broken -- returns None, and
the caller decodes with Pillow, which gives the same pixels or the same error words as it always did. If
libspng itself fails on a file that passed these checks, that also returns None.
"""

from __future__ import annotations

import os
import struct
import zlib
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

def _load_spng() -> Any:
    if os.environ.get("MNIST_ONNX_PILLOW_ONLY"):  # set it to compare with (or fall back to) Pillow alone
        return None
    try:  # optional: no wheel on some platforms (Linux aarch64); Pillow alone always works
        import pyspng

        return pyspng
    except ImportError:  # pragma: no cover -- platforms without a wheel
        return None


_spng: Any = _load_spng()

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PIXELS = 64 * 64  # beyond this, checking the data with zlib costs what libspng saves (measured)
MAX_BYTES = 1 << 20  # a 64x64 PNG is never this large unless it carries junk; Pillow streams those
_MODES = {0: "L", 2: "RGB", 4: "LA", 6: "RGBA"}
_CHANNELS = {"L": 1, "RGB": 3, "LA": 2, "RGBA": 4}
# Ancillary chunks that change nothing Pillow decodes, with their size by the PNG spec (None: any size up
# to 64 KiB, uncompressed). Pillow verifies each one's CRC and raises on a mismatch; so do we (by refusing).
_SIZES: dict[bytes, Any] = {b"gAMA": (4,), b"cHRM": (32,), b"sRGB": (1,), b"pHYs": (9,), b"tIME": (7,),
                            b"sBIT": (1, 2, 3, 4), b"tEXt": None}
_BKGD = {0: 2, 4: 2, 2: 6, 6: 6}  # bKGD size by colour type
_HEAD = struct.Struct(">I4s")


def available() -> bool:
    """Whether the fast path can run here (pyspng installed)."""
    return _spng is not None


class Plain(NamedTuple):
    """What `plain_mode` found: enough to check and decode the file without parsing it again."""

    mode: str
    width: int
    height: int
    interlaced: bool
    idat: list[tuple[int, int]]  # (start, end) of each IDAT chunk's data


def plain_mode(data: bytes, max_pixels: int = MAX_PIXELS) -> Plain | None:
    """The file's layout if *data* is a PNG the fast path takes, else None (see the module docstring)."""
    if len(data) < 45 or len(data) > MAX_BYTES or not data.startswith(SIGNATURE):
        return None
    length, cid = _HEAD.unpack_from(data, 8)
    if cid != b"IHDR" or length != 13:
        return None
    w, h, depth, ctype, compression, filtering, interlace = struct.unpack_from(">IIBBBBB", data, 16)
    mode = _MODES.get(ctype)
    if (mode is None or depth != 8 or compression or filtering or interlace > 1 or w == 0 or h == 0
            or w * h > min(max_pixels, MAX_PIXELS)):
        return None
    pos, size, idat, done_idat = 8, len(data), [], False
    while pos + 12 <= size:
        length, cid = _HEAD.unpack_from(data, pos)
        end = pos + 12 + length
        if end > size:
            return None
        if cid == b"IDAT":
            if done_idat:  # IDAT chunks must be consecutive
                return None
            idat.append((pos + 8, end - 4))
        else:
            done_idat = bool(idat)
            if cid == b"IEND":
                return Plain(mode, w, h, interlace == 1, idat) if idat and length == 0 else None
            if cid != b"IHDR" or pos != 8:
                allowed = (_BKGD[ctype],) if cid == b"bKGD" else _SIZES.get(cid, ())
                if not (length in allowed if allowed is not None else length <= 65536):
                    return None
            if zlib.crc32(data[pos + 4 : end - 4]) != struct.unpack_from(">I", data, end - 4)[0]:
                return None
        pos = end
    return None  # no IEND: Pillow may still decode it, or may not; let it decide


def _stream_intact(data: bytes, png: Plain) -> bool:
    """Whether the compressed pixel data inflates completely, with a correct Adler-32, to exactly the size
    the header promises. pyspng asks libspng to ignore checksums (SPNG_CRC_USE also turns off its Adler-32
    check), so a damaged file would decode to garbage where Pillow reports `broken data stream`; zlib checks
    it here, in C, for a fraction of the decode (3 us for a 28x28 digit)."""
    w, h, channels = png.width, png.height, _CHANNELS[png.mode]
    if png.interlaced:
        size = 0
        for y0, x0, dy, dx in ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)):
            pw, ph = (w - x0 + dx - 1) // dx, (h - y0 + dy - 1) // dy
            size += ph * (1 + pw * channels) if pw and ph else 0
    else:
        size = h * (1 + w * channels)
    z = zlib.decompressobj()
    try:
        raw = z.decompress(b"".join(data[a:b] for a, b in png.idat), size + 1)
    except zlib.error:
        return False
    return z.eof and len(raw) == size


def decode(data: bytes, png: Plain) -> np.ndarray | Image.Image | None:
    """Decode a PNG that `plain_mode` accepted: the (H, W) uint8 array for gray, else a Pillow image of its
    mode (for Pillow's own conversion to gray); None if libspng fails or the data is damaged."""
    if _spng is None or not _stream_intact(data, png):
        return None
    try:
        pixels = _spng.load(data)
    except Exception:  # noqa: BLE001 -- any failure: Pillow decodes it and words the error
        return None
    mode = png.mode
    if pixels.dtype != np.uint8 or pixels.shape[:2] != (png.height, png.width) or pixels.size != png.width * png.height * _CHANNELS[mode]:
        return None
    if mode == "L":
        return pixels
    return Image.frombuffer(mode, (png.width, png.height), np.ascontiguousarray(pixels), "raw", mode, 0, 1)
