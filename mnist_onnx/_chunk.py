"""One chunk of files -> model inputs and rows: what decoding processes run, and the row type every front
end writes. A leaf: it imports only the image pipeline (numpy, Pillow) and errors, so worker processes load
nothing else, and every layer above may use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Union

import numpy as np
from PIL import Image

from ._decode import decode
from ._preprocess import NO_DIGIT, PreprocessConfig, no_digit, to_mnist, to_mnist_batch
from .errors import ImageError, MnistOnnxError, ModelError, Row

NAN_SCORES = "model returned NaN or infinite scores"
Item = Union[str, tuple[str, bytes], Image.Image]  # a path, an upload (name, file bytes), or a PIL image


class Decoded(NamedTuple):
    """A decoded chunk: the model inputs of the items that decoded, their indices, the error per item."""

    pixels: np.ndarray  # (len(good), 28, 28) float32
    good: list[int]
    errors: list[str | None]


@dataclass(slots=True)
class FileResult(Row):
    """One image's digit. `status` (a `Status`): `ok`; `unsure` (classified below the minimum confidence: a
    person should look); `no-digit` (readable, but nothing to classify) or `error` (unusable, `error` says
    why and `problem` is the typed error)."""

    path: str
    digit: int | None = None
    confidence: float | None = None
    probabilities: np.ndarray | None = None
    pixels: np.ndarray | None = None  # the (28, 28) input the model saw, when asked for (keep_pixels)
    error: str | None = None
    unsure: bool = False  # classified, but below the minimum confidence: the digit is given, check it
    blank: bool = False  # readable, no digit in it (`error` says so)
    problem: MnistOnnxError | None = None


def failed(row_type: type, name: str, error: str) -> Any:
    """A row (of *row_type*) for a file that cannot be used: its words and its ImageError."""
    return row_type(name, error=error, problem=ImageError(name, error))


def blank(row_type: type, name: str) -> Any:
    """A row for a readable image with nothing to read in it: status `no-digit`."""
    return row_type(name, error=NO_DIGIT, blank=True, problem=ImageError(name, NO_DIGIT))


def nan_scores(row_type: type, name: str) -> Any:
    """A row whose model answered NaN or infinite scores: a fault of the model (or its normalisation), never
    an `ok` row with confidence nan."""
    return row_type(name, error=NAN_SCORES, problem=ModelError(f"{NAN_SCORES} for {name}"))


def decode_chunk(paths: Sequence[Item], config: PreprocessConfig) -> Decoded:
    """Decode and preprocess *paths* (or (name, file bytes) pairs: uploads; or PIL images); return the
    pixels of the good ones, their indices, and the error per item.

    28x28 images are preprocessed together at the end (a vectorised fast path); any other image right after
    decoding, so a chunk holds 28x28 results, never a thousand decoded photos. Runs in worker processes, so
    it needs only numpy and Pillow, and never raises for a bad file.
    """
    invert, center, max_pixels = config.invert, config.center, config.max_pixels
    out = np.zeros((len(paths), 28, 28), np.float32)
    small: list[np.ndarray] = []
    small_at: list[int] = []
    ok = np.zeros(len(paths), bool)
    errors: list[str | None] = [None] * len(paths)
    for i, item in enumerate(paths):
        try:
            if isinstance(item, tuple):
                gray = decode(item[1], max_pixels, name=item[0])
            else:
                gray = decode(item, max_pixels)
            if gray.shape == (28, 28):
                small.append(gray)
                small_at.append(i)
            else:
                out[i] = to_mnist(gray, invert, center)
            ok[i] = True
        except ImageError as e:
            errors[i] = e.problem
        except Exception as e:  # noqa: BLE001 -- a batch never dies on one file
            errors[i] = f"cannot preprocess ({type(e).__name__}: {e})"
    if small:
        try:
            out[small_at] = to_mnist_batch(small, invert, center)
        except Exception:  # noqa: BLE001 -- find the culprit one by one
            for i, g in zip(small_at, small):
                try:
                    out[i] = to_mnist(g, invert, center)
                except Exception as e:  # noqa: BLE001
                    errors[i], ok[i] = f"cannot preprocess ({type(e).__name__}: {e})", False
    good = np.flatnonzero(ok).tolist()
    return Decoded(out[ok], good, errors)


def rows(names: Sequence[str], decoded: Decoded, probs: np.ndarray | None, keep_probabilities: bool,
         keep_pixels: bool = False, min_confidence: float = 0.0) -> list[FileResult]:
    """One FileResult per item of a decoded chunk: its prediction (`unsure` below *min_confidence*),
    `no-digit`, or its error."""
    pixels, good, errors = decoded
    results = [FileResult(n) if e is None else failed(FileResult, n, e) for n, e in zip(names, errors)]
    if keep_pixels:
        for j, i in enumerate(good):
            results[i].pixels = pixels[j]
    if probs is not None and len(good):
        digits, conf = probs.argmax(1).tolist(), probs.max(1).tolist()
        empty = no_digit(pixels).tolist()
        finite = np.isfinite(probs).all(1).tolist()
        for j, i in enumerate(good):
            r = results[i]
            if empty[j]:
                results[i] = blank(FileResult, r.path)
                results[i].pixels = r.pixels
                continue
            if not finite[j]:  # a broken model or normalisation: never an "ok" row with confidence nan
                results[i] = nan_scores(FileResult, r.path)
                results[i].pixels = r.pixels
                continue
            r.digit, r.confidence = digits[j], conf[j]
            r.unsure = conf[j] < min_confidence
            if keep_probabilities:
                r.probabilities = probs[j]
    return results


def item_name(item: Item) -> str:
    """What a row calls an item: its path, the upload's file name, or `<image>` for a PIL image."""
    if isinstance(item, tuple):
        return item[0]
    return "<image>" if isinstance(item, Image.Image) else str(item)
