"""Read MNIST-style IDX files (gzip-compressed or raw) with strict validation.

Lives in the runtime package because both training (export) and `evaluate` read IDX data; numpy only.
"""

from __future__ import annotations

import gzip
import io
import math
from pathlib import Path

import numpy as np

from .errors import DataError

_GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08
_MAX_IDX_BYTES = 1 << 30  # 1 GiB: 20x the largest MNIST-style file (EMNIST's), far below a gzip bomb

# Name stems as the MNIST distribution spells them; `test` is accepted as an alias of `t10k`.
SPLITS = {"train": ("train",), "test": ("t10k", "test")}


def _read_bytes(path: Path) -> bytes:
    try:
        if path.stat().st_size > _MAX_IDX_BYTES + 64:  # a sparse or huge file is refused before it is read
            raise DataError(f"{path}: {path.stat().st_size:,} bytes, over the {_MAX_IDX_BYTES:,}-byte limit for IDX data")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if raw[:2] == _GZIP_MAGIC:
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as f:
                head = f.read(4)
                ndim = head[3] if len(head) == 4 else 0
                head += f.read(4 * ndim)
                # Never inflate more than the header promises (plus one byte to notice trailing data):
                # a small .gz that inflates to gigabytes is cut off, not loaded.
                shape = [int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
                promised = math.prod(shape) if shape else 0  # exact: a fixed-width product wraps
                if promised > _MAX_IDX_BYTES:
                    raise DataError(f"{path}: IDX header promises {promised:,} bytes (shape {tuple(shape)}), over the "
                                    f"{_MAX_IDX_BYTES:,}-byte limit")
                return head + f.read(promised + 1)
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise DataError(f"{path}: corrupt or truncated gzip data ({e})") from None
    return raw


def read_idx(path: str | Path, expected_ndim: int | None = None) -> np.ndarray:
    """Return the array stored in one IDX file, checking magic number, dimensions and length."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path}: too short to be an IDX file ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic number {data[:4].hex()})")
    dtype_code, ndim = data[2], data[3]
    if dtype_code != _UBYTE:
        raise DataError(f"{path}: unsupported IDX element type 0x{dtype_code:02x} (expected unsigned byte 0x08)")
    if expected_ndim is not None and ndim != expected_ndim:
        raise DataError(f"{path}: IDX file has {ndim} dimension(s), expected {expected_ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    size = math.prod(shape) if shape else 0
    body = len(data) - header
    if body < size:
        raise DataError(f"{path}: truncated: header promises {size} bytes of data for shape {shape}, found {body}")
    if body > size:
        raise DataError(f"{path}: {body - size} unexpected trailing bytes after shape {shape}")
    return np.frombuffer(data, dtype=np.uint8, count=size, offset=header).reshape(shape)


def find_split(folder: str | Path, split: str, kind: str) -> Path:
    """Locate e.g. `t10k-images-idx3-ubyte(.gz)` or `t10k-images.idx3-ubyte` in *folder*."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a directory")
    ext = "idx3-ubyte" if kind == "images" else "idx1-ubyte"
    for stem in SPLITS[split]:
        for sep in ("-", "."):
            for suffix in (".gz", ""):
                candidate = folder / f"{stem}-{kind}{sep}{ext}{suffix}"
                if candidate.is_file():
                    return candidate
    raise DataError(f"{folder}: no {SPLITS[split][0]}-{kind}-{ext}[.gz] file")


def load_split(folder: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images `(N, 28, 28) uint8` and labels `(N,) uint8` of one split, validated as a pair."""
    images_path = find_split(folder, split, "images")
    labels_path = find_split(folder, split, "labels")
    images = read_idx(images_path, expected_ndim=3)
    labels = read_idx(labels_path, expected_ndim=1)
    if images.shape[1:] != (28, 28):
        raise DataError(f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28")
    if len(images) != len(labels):
        raise DataError(f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path.name}")
    if len(labels) and labels.max() > 9:
        raise DataError(f"{labels_path}: label {int(labels.max())} outside 0-9")
    if len(images) == 0:
        raise DataError(f"{images_path}: contains no images")
    return images, labels
