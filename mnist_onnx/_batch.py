"""Classify many files: decode in chunks (optionally in worker processes) while the model runs on the
previous chunk, and yield one result per input file, in input order, as soon as its chunk is done.

Memory is bounded by the number of chunks in flight, never by the number of files.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

import numpy as np

from ._preprocess import NO_DIGIT, PreprocessConfig, decode, no_digit, to_mnist, to_mnist_batch
if TYPE_CHECKING:  # the worker module (sockets, subprocesses) loads only when --workers asks for it
    from concurrent.futures import Future, ThreadPoolExecutor

    from ._classifier import Classifier
    from ._workers import DecoderPool
from .errors import ImageError


@dataclass(slots=True)
class FileResult:
    path: str
    digit: int | None = None
    confidence: float | None = None
    probabilities: np.ndarray | None = None
    pixels: np.ndarray | None = None  # the (28, 28) input the model saw, when asked for (keep_pixels)
    error: str | None = None

    @property
    def status(self) -> str:
        """`ok`, `no-digit` (readable, but nothing to classify) or `error` (unreadable)."""
        if self.error is None:
            return "ok"
        return "no-digit" if self.error == NO_DIGIT else "error"

    @property
    def ok(self) -> bool:
        return self.error is None


def decode_chunk(paths: Sequence[str | tuple[str, bytes]], config: PreprocessConfig
                 ) -> tuple[np.ndarray, list[int], list[str | None]]:
    """Decode and preprocess *paths* (or (name, file bytes) pairs: uploads); return (pixels of the good
    ones, their indices, error per item).

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
    return out[ok], good, errors


def _rows(names: list[str], decoded, probs: np.ndarray | None, keep_probabilities: bool,
          keep_pixels: bool = False) -> list[FileResult]:
    """One FileResult per item of a decoded chunk: its prediction, `no-digit`, or its error."""
    pixels, good, errors = decoded
    results = [FileResult(n, error=e) for n, e in zip(names, errors)]
    if keep_pixels:
        for j, i in enumerate(good):
            results[i].pixels = pixels[j]
    if probs is not None and len(good):
        digits, conf = probs.argmax(1).tolist(), probs.max(1).tolist()
        blank = no_digit(pixels).tolist()
        finite = np.isfinite(probs).all(1).tolist()
        for j, i in enumerate(good):
            r = results[i]
            if blank[j]:
                r.error = NO_DIGIT
                continue
            if not finite[j]:  # a broken model or normalisation: never an "ok" row with confidence nan
                r.error = "model returned NaN or infinite scores"
                continue
            r.digit, r.confidence = digits[j], conf[j]
            if keep_probabilities:
                r.probabilities = probs[j]
    return results


def classify_items(classifier: Classifier, items: Sequence[str | tuple[str, bytes]],
                   predict: Callable[[np.ndarray], np.ndarray] | None = None,
                   keep_pixels: bool = False, keep_probabilities: bool = True) -> list[FileResult]:
    """Classify one chunk -- file paths, or in-memory image files (name, bytes) -- in one go, exactly as
    `classify_files` does: the same decoding, preprocessing, errors and rows. The server and the Ray actors
    call this. *predict* replaces `classifier.predict_pixels` (the server passes its request batcher);
    *keep_pixels* puts the model's input on each decoded row."""
    decoded = decode_chunk(items, classifier.config)
    probs = (predict or classifier.predict_pixels)(decoded[0]) if decoded[1] else None
    names = [item[0] if isinstance(item, tuple) else item for item in items]
    return _rows(names, decoded, probs, keep_probabilities=keep_probabilities, keep_pixels=keep_pixels)


def _chunks(items: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def inference_threads(workers: int) -> int:
    """ONNX Runtime threads beside *workers* decoding processes: decoding is the bottleneck, so it keeps its
    cores and inference gets the rest (at least one)."""
    return max(1, (os.cpu_count() or 1) - workers)


class _Ready:
    """A result already computed, behind a Future's `result()`: in-process work needs no thread."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        return self.value

    def cancel(self) -> bool:
        return False


def classify_files(classifier: Classifier, paths: Iterable[str], batch_size: int = 256, pool: DecoderPool | None = None,
                   keep_probabilities: bool = False) -> Iterator[FileResult]:
    """Yield a FileResult for every path, in order. With a *pool*, its processes decode the chunks.

    The model runs on its own thread while the next chunk decodes, from the second chunk on: the first
    runs inline, so a run over a few files starts no thread (and imports no thread pool)."""
    clf = classifier
    config = clf.config
    decoder = pool
    workers = pool.size if pool is not None else 1
    infer: ThreadPoolExecutor | None = None
    window = max(2, 2 * workers)  # chunks decoding at once: enough to keep every worker busy, no more

    def submit_decode(chunk: list[str]) -> Future | _Ready:
        if decoder is not None:
            return decoder.submit(chunk, config)
        return _Ready(decode_chunk(chunk, config))

    def rows(chunk: list[str], decoded, probs: Future | _Ready | None) -> list[FileResult]:
        """Built on the calling thread: only the model itself runs on the inference thread (GIL-free)."""
        return _rows(chunk, decoded, None if probs is None else probs.result(), keep_probabilities)

    def start_model(decoded, first: bool) -> Future | _Ready | None:
        nonlocal infer
        if not len(decoded[1]):
            return None
        if first:
            return _Ready(clf.predict_pixels(decoded[0]))
        if infer is None:
            from concurrent.futures import ThreadPoolExecutor

            infer = ThreadPoolExecutor(1, thread_name_prefix="mnist-onnx-infer")
        return infer.submit(clf.predict_pixels, decoded[0])

    decoding: deque[tuple[list[str], Future | _Ready]] = deque()
    try:
        pending = None  # (chunk, decoded, model future): its model runs while the next chunk decodes
        chunks = _chunks(paths, batch_size)
        first = True
        while True:
            for chunk in chunks:  # keep up to `window` chunks decoding (one, in-process)
                decoding.append((chunk, submit_decode(chunk)))
                if len(decoding) >= window or decoder is None:
                    break
            if not decoding:
                break
            chunk, fut = decoding.popleft()
            decoded = fut.result()
            nxt = (chunk, decoded, start_model(decoded, first))
            first = False
            if pending is not None:
                yield from rows(*pending)
            pending = nxt
        if pending is not None:
            yield from rows(*pending)
    finally:
        if infer is not None:
            infer.shutdown(wait=True, cancel_futures=True)
        for _, fut in decoding:  # stopped early (error, Ctrl-C, the reader left): drop queued chunks
            fut.cancel()
