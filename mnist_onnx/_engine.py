"""The engine: one loop for every task. Files go in chunks; a chunk is decoded (in this process, or split
across the decoding processes of a `Pool`), the model runs on it on its own thread while the next chunk
decodes, and its rows come out in input order as soon as it is done.

A task (`Task`) says what a chunk becomes -- `classify` (`_chunk.Classify`), `read` by segmentation
(`_read.Segment`) or by the sequence reader (`_sequence.Lines`) -- in three steps: `prepare` (decoding
processes run it, by its `job` name: numpy and Pillow only), `infer` (the model: it may run on the
inference thread) and `rows` (this thread). The engine knows no task by name, and no model: the front ends
hand it a task and the task's model (`Classifier.task`).

Memory is bounded by the chunks in flight, never by the number of files.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ._chunk import Item, item_name
from .image.normal import PreprocessConfig

if TYPE_CHECKING:  # a run over a few files starts no thread: the pool is imported when needed
    from concurrent.futures import Future, ThreadPoolExecutor

Predict = Callable[[np.ndarray], np.ndarray]  # (N, 28, 28) model inputs -> (N, 10) probabilities


class Task(Protocol):
    """What a chunk of items becomes. `prepare(items, config)` decodes them (what a decoding process runs:
    the task's `job`, registered in `_workers.JOBS`); `join(parts)` makes one prepared chunk of the parts
    decoded apart; `infer(prepared, model)` runs the model; `rows(names, prepared, inferred)` gives one row
    per item. `window`: the chunks a run keeps decoding at once (None: two per worker)."""

    @property
    def job(self) -> str: ...

    @property
    def window(self) -> int | None: ...

    def prepare(self, items: Sequence[Item], config: PreprocessConfig) -> Any: ...

    def join(self, parts: list[Any]) -> Any: ...

    def infer(self, prepared: Any, model: Any) -> Any: ...

    def rows(self, names: Sequence[str], prepared: Any, inferred: Any) -> list[Any]: ...


class Pool(Protocol):
    """Decoding processes (`_workers.DecoderPool`): run a task's job on a chunk elsewhere."""

    size: int

    def submit(self, items: list, config: PreprocessConfig, job: str = "decode") -> Future: ...


def run_items(items: Sequence[Item], task: Task, config: PreprocessConfig, model: Any) -> list[Any]:
    """One chunk -- file paths, in-memory image files (name, bytes) or PIL images -- in one go, exactly as
    `run_chunks` does it: the same decoding, preprocessing, errors and rows. The server, the Ray actors and
    the library's one-call methods use this."""
    prepared = task.prepare(items, config)
    return task.rows([item_name(i) for i in items], prepared, task.infer(prepared, model))


def _chunks(items: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def inference_threads(workers: int) -> int:
    """ONNX Runtime threads beside *workers* decoding processes: decoding is the bottleneck, so it keeps its
    cores and inference gets the rest (at least one)."""
    return max(1, (os.cpu_count() or 1) - workers)


class _Parts:
    """The parts of one chunk, decoded by several workers, behind one Future-like `result()`."""

    __slots__ = ("parts", "task")

    def __init__(self, parts: list[Future], task: Task) -> None:
        self.parts, self.task = parts, task

    def result(self) -> Any:
        return self.task.join([part.result() for part in self.parts])

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


def run_chunks(paths: Iterable[str], task: Task, config: PreprocessConfig, model: Any, batch_size: int,
               pool: Pool | None = None) -> Iterator[Any]:
    """Yield *task*'s row for every path, in order, *batch_size* files a chunk. With a *pool*, its
    processes decode the chunks (a chunk of at least two files per worker is split across them, so a folder
    that fits in one chunk still keeps every worker busy, and the model still sees the whole chunk at once).

    The model runs on its own thread while the next chunk decodes, from the second chunk on: the first
    runs inline, so a run over a few files starts no thread (and imports no thread pool)."""
    workers = pool.size if pool is not None else 1
    infer: ThreadPoolExecutor | None = None
    window = task.window or max(2, 2 * workers)  # chunks decoding at once: every worker busy, no more

    def submit(chunk: list[str]) -> Future | _Ready | _Parts:
        if pool is None:
            return _Ready(task.prepare(chunk, config))
        if len(chunk) < 2 * workers:
            return pool.submit(chunk, config, task.job)
        step = -(-len(chunk) // workers)
        return _Parts([pool.submit(chunk[i : i + step], config, task.job) for i in range(0, len(chunk), step)],
                      task)

    def start_model(prepared: Any, first: bool) -> Future | _Ready:
        nonlocal infer
        if first:
            return _Ready(task.infer(prepared, model))
        if infer is None:
            from concurrent.futures import ThreadPoolExecutor

            infer = ThreadPoolExecutor(1, thread_name_prefix="mnist-onnx-infer")
        return infer.submit(task.infer, prepared, model)

    decoding: deque[tuple[list[str], Future | _Ready | _Parts]] = deque()
    try:
        pending = None  # (chunk, prepared, the model's future): its model runs while the next chunk decodes
        chunks = _chunks(paths, batch_size)
        first = True
        while True:
            for chunk in chunks:  # keep up to `window` chunks decoding (one, in-process)
                decoding.append((chunk, submit(chunk)))
                if len(decoding) >= window or pool is None:
                    break
            if not decoding:
                break
            chunk, fut = decoding.popleft()
            prepared = fut.result()
            nxt = (chunk, prepared, start_model(prepared, first))
            first = False
            if pending is not None:  # rows are built on this thread: only the model runs on the other
                yield from task.rows(pending[0], pending[1], pending[2].result())
            pending = nxt
        if pending is not None:
            yield from task.rows(pending[0], pending[1], pending[2].result())
    finally:
        if infer is not None:
            infer.shutdown(wait=True, cancel_futures=True)
        for _, fut in decoding:  # stopped early (error, Ctrl-C, the reader left): drop queued chunks
            fut.cancel()
