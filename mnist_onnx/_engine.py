"""Classify many files: decode in chunks (optionally in worker processes) while the model runs on the
previous chunk, and yield one result per input file, in input order, as soon as its chunk is done.

Memory is bounded by the number of chunks in flight, never by the number of files.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ._chunk import Decoded, FileResult, Item, decode_chunk, item_name, rows
from ._defaults import CHUNK
from ._preprocess import PreprocessConfig

if TYPE_CHECKING:  # a run over a few files starts no thread: the pool is imported when needed
    from concurrent.futures import Future, ThreadPoolExecutor

Predict = Callable[[np.ndarray], np.ndarray]  # (N, 28, 28) model inputs -> (N, 10) probabilities



class Pool(Protocol):
    """Decoding processes (`_workers.DecoderPool`): run a chunk job (`decode` or `plan`) elsewhere."""

    size: int

    def submit(self, items: list, config: PreprocessConfig, job: str = "decode") -> Future: ...


def classify_items(items: Sequence[Item], config: PreprocessConfig, predict: Predict,
                   keep_pixels: bool = False, keep_probabilities: bool = True,
                   min_confidence: float = 0.0) -> list[FileResult]:
    """Classify one chunk -- file paths, in-memory image files (name, bytes) or PIL images -- in one go,
    exactly as `classify_chunks` does: the same decoding, preprocessing, errors and rows. The server, the Ray
    actors and `Classifier.classify` call this. *predict* is the model (the server passes its request
    batcher); *keep_pixels* puts the model's input on each decoded row."""
    decoded = decode_chunk(items, config)
    probs = predict(decoded.pixels) if decoded.good else None
    return rows([item_name(i) for i in items], decoded, probs, keep_probabilities=keep_probabilities,
                keep_pixels=keep_pixels, min_confidence=min_confidence)


def _chunks(items: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def inference_threads(workers: int) -> int:
    """ONNX Runtime threads beside *workers* decoding processes: decoding is the bottleneck, so it keeps its
    cores and inference gets the rest (at least one)."""
    return max(1, (os.cpu_count() or 1) - workers)


class _Parts:
    """The decoded parts of one chunk, decoded by several workers, behind one Future-like `result()`."""

    __slots__ = ("parts",)

    def __init__(self, parts: list[Future]) -> None:
        self.parts = parts

    def result(self) -> Decoded:
        pixels: list[np.ndarray] = []
        good: list[int] = []
        errors: list[str | None] = []
        offset = 0
        for part in self.parts:
            decoded = part.result()
            pixels.append(decoded[0])
            good.extend(offset + i for i in decoded[1])
            errors.extend(decoded[2])
            offset += len(decoded[2])
        return Decoded(np.concatenate(pixels), good, errors)

    def cancel(self) -> bool:
        return all([part.cancel() for part in self.parts])


class _Ready:
    """A result already computed, behind a Future's `result()`: in-process work needs no thread."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        return self.value

    def cancel(self) -> bool:
        return False


def classify_chunks(paths: Iterable[str], config: PreprocessConfig, predict: Predict, batch_size: int = CHUNK,
                    pool: Pool | None = None, keep_probabilities: bool = False,
                    keep_pixels: bool = False, min_confidence: float = 0.0) -> Iterator[FileResult]:
    """Yield a FileResult for every path, in order. With a *pool*, its processes decode the chunks.

    The model runs on its own thread while the next chunk decodes, from the second chunk on: the first
    runs inline, so a run over a few files starts no thread (and imports no thread pool)."""
    decoder = pool
    workers = pool.size if pool is not None else 1
    infer: ThreadPoolExecutor | None = None
    window = max(2, 2 * workers)  # chunks decoding at once: enough to keep every worker busy, no more

    def submit_decode(chunk: list[str]) -> Future | _Ready | _Parts:
        if decoder is not None:
            if len(chunk) < 2 * workers:
                return decoder.submit(chunk, config)
            # A chunk is split across the workers: a folder that fits in one chunk (300 photos) still keeps
            # every worker busy, and the model still sees the whole chunk at once.
            step = -(-len(chunk) // workers)
            return _Parts([decoder.submit(chunk[i : i + step], config) for i in range(0, len(chunk), step)])
        return _Ready(decode_chunk(chunk, config))

    def finish(chunk: list[str], decoded, probs: Future | _Ready | None) -> list[FileResult]:
        """Built on the calling thread: only the model itself runs on the inference thread (GIL-free)."""
        return rows(chunk, decoded, None if probs is None else probs.result(), keep_probabilities, keep_pixels,
                    min_confidence)

    def start_model(decoded, first: bool) -> Future | _Ready | None:
        nonlocal infer
        if not len(decoded[1]):
            return None
        if first:
            return _Ready(predict(decoded[0]))
        if infer is None:
            from concurrent.futures import ThreadPoolExecutor

            infer = ThreadPoolExecutor(1, thread_name_prefix="mnist-onnx-infer")
        return infer.submit(predict, decoded[0])

    decoding: deque[tuple[list[str], Future | _Ready | _Parts]] = deque()
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
                yield from finish(*pending)
            pending = nxt
        if pending is not None:
            yield from finish(*pending)
    finally:
        if infer is not None:
            infer.shutdown(wait=True, cancel_futures=True)
        for _, fut in decoding:  # stopped early (error, Ctrl-C, the reader left): drop queued chunks
            fut.cancel()
