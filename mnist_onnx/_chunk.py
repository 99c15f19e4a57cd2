"""classify's task (`Classify`): one chunk of files -> 28x28 model inputs (`decode_chunk`, what decoding
processes run) -> FileResults (`rows`). It imports only the image pipeline (numpy, Pillow), the rows and
errors, so worker processes load nothing else, and every layer above may use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Union

import numpy as np
from PIL import Image

from .image.decode import decode
from .image.normal import PreprocessConfig, no_digit, to_mnist, to_mnist_batch
from ._schema import FileResult, blank, failed, nan_scores
from .errors import ImageError

Item = Union[str, tuple[str, bytes], Image.Image]  # a path, an upload (name, file bytes), or a PIL image


class Decoded(NamedTuple):
    """A decoded chunk: the model inputs of the items that decoded, their indices, the error per item."""

    pixels: np.ndarray  # (len(good), 28, 28) float32
    good: list[int]
    errors: list[str | None]


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


@dataclass(frozen=True)
class Classify:
    """classify as an engine task (`_engine.Task`): a chunk decoded to 28x28 model inputs, one model call
    (*model*: (N, 28, 28) -> (N, 10) probabilities), a FileResult per item (`rows`)."""

    min_confidence: float = 0.0
    keep_probabilities: bool = False
    keep_pixels: bool = False
    job = "decode"
    window = None  # 28x28 inputs are small: two chunks per worker in flight

    def prepare(self, items: Sequence[Item], config: PreprocessConfig) -> Decoded:
        return decode_chunk(items, config)

    def join(self, parts: list[Decoded]) -> Decoded:
        good: list[int] = []
        errors: list[str | None] = []
        for part in parts:
            good.extend(len(errors) + i for i in part[1])
            errors.extend(part[2])
        return Decoded(np.concatenate([part[0] for part in parts]), good, errors)

    def infer(self, decoded: Decoded, model: Any) -> np.ndarray | None:
        return model(decoded.pixels) if len(decoded.good) else None

    def rows(self, names: Sequence[str], decoded: Decoded, probs: np.ndarray | None) -> list[FileResult]:
        return rows(names, decoded, probs, self.keep_probabilities, self.keep_pixels, self.min_confidence)


def item_name(item: Item) -> str:
    """What a row calls an item: its path, the upload's file name, or `<image>` for a PIL image."""
    if isinstance(item, tuple):
        return item[0]
    return "<image>" if isinstance(item, Image.Image) else str(item)
