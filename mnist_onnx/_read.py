"""Read whole numbers: one `Reading` per image -- the digit string, each digit with its confidence and box.

The same engine shape as classifying: decode and plan a chunk of files (in worker processes with
`--workers`), then one model call for every candidate digit of every image in the chunk, then pick each
image's reading (`_segment`). Decoding, polarity, background and clean-up are classify's own, and so are the
error words: a file that `classify` cannot read gets the same error here.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Union

import numpy as np

from ._batch import Pool, Predict
from ._chunk import Item, blank, failed, item_name, nan_scores
from ._defaults import DEFAULT_MIN_CONFIDENCE, READ_CHUNK
from ._decode import decode_sized
from ._preprocess import PreprocessConfig
from ._segment import Plan, TooManyMarks, decide, plan
from .errors import ImageError, MnistOnnxError, Row

if TYPE_CHECKING:
    from concurrent.futures import Future



@dataclass(frozen=True)
class DigitBox:
    """One digit of a reading: the digit, the model's confidence in it, and where it is in the image."""

    digit: int
    confidence: float
    box: tuple[int, int, int, int]  # left, top, right, bottom (exclusive), in the image's own pixels


@dataclass(slots=True)
class Reading(Row):
    """The number read in one image. `number` keeps leading zeros ("0042"); `confidence` is the product of
    its digits' confidences (the chance that every digit is right, if the model's confidences were exact).
    `status` (a `Status`): `ok`; `unsure` (read, but below the minimum confidence: check it); `no-digit`;
    `error` (`error` says why, `problem` is the typed error)."""

    path: str
    number: str | None = None
    confidence: float | None = None
    digits: list[DigitBox] = field(default_factory=list)
    error: str | None = None
    unsure: bool = False
    blank: bool = False  # readable, no digit in it (`error` says so)
    problem: MnistOnnxError | None = None


Planned = Union[tuple[Plan, float, float], str]  # (plan, x scale, y scale) to the image's own pixels, or an error


def plan_each(items: Sequence[Item], config: PreprocessConfig,
              plan_one: Callable[[np.ndarray, tuple[int, int], PreprocessConfig], Any]) -> list:
    """Decode every item and plan it with *plan_one*(gray, the file's own size, config): what decoding
    processes do for either reader (numpy and Pillow only). Never raises for a bad file: its entry is the
    error words."""
    out: list = []
    for item in items:
        try:
            if isinstance(item, tuple):
                gray, size = decode_sized(item[1], config.max_pixels, name=item[0])
            else:
                gray, size = decode_sized(item, config.max_pixels)
            out.append(plan_one(gray, size, config))
        except ImageError as e:
            out.append(e.problem)
        except TooManyMarks as e:
            out.append(str(e))
        except Exception as e:  # noqa: BLE001 -- a batch never dies on one file
            out.append(f"cannot preprocess ({type(e).__name__}: {e})")
    return out


def _plan_one(gray: np.ndarray, size: tuple[int, int], config: PreprocessConfig) -> Planned:
    return plan(gray, config.invert, config.center), size[0] / gray.shape[1], size[1] / gray.shape[0]


def plan_chunk(items: Sequence[Item], config: PreprocessConfig) -> list[Planned]:
    """Decode and segment every item (`plan_each`)."""
    return plan_each(items, config, _plan_one)


def readings(names: Sequence[str], planned: Sequence[Planned], predict: Predict,
             min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> list[Reading]:
    """One model call for every candidate of every planned image, then each image's reading."""
    inputs: list[np.ndarray] = []
    spans: list[tuple[int, int]] = []
    for entry in planned:
        start = len(inputs)
        if not isinstance(entry, str):
            inputs.extend(c.pixels for c in entry[0].candidates)
            if entry[0].single is not None:
                inputs.append(entry[0].single)
        spans.append((start, len(inputs)))
    probs = predict(np.stack(inputs)) if inputs else np.zeros((0, 10), np.float32)
    out = []
    for name, entry, (start, end) in zip(names, planned, spans):
        if isinstance(entry, str):
            out.append(failed(Reading, name, entry))
            continue
        p, sx, sy = entry
        scores = probs[start:end]
        if not np.isfinite(scores).all():
            out.append(nan_scores(Reading, name))
            continue
        n = len(p.candidates)
        found = decide(p, scores[:n], scores[n] if p.single is not None else None)
        if not found:
            out.append(blank(Reading, name))
            continue
        digits = [DigitBox(d.digit, d.confidence, (math.floor(d.box[0] * sx), math.floor(d.box[1] * sy),
                                                   math.ceil(d.box[2] * sx), math.ceil(d.box[3] * sy)))
                  for d in found]
        confidence = float(np.prod([d.confidence for d in digits]))
        out.append(Reading(name, "".join(str(d.digit) for d in digits), confidence, digits,
                           unsure=confidence < min_confidence))
    return out


def read_items(items: Sequence[Item], config: PreprocessConfig, predict: Predict,
               min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> list[Reading]:
    """Read one chunk -- paths, uploads (name, bytes) or PIL images -- in one go: the server, the Ray actors
    and `Classifier.read` call this."""
    return readings([item_name(i) for i in items], plan_chunk(items, config), predict, min_confidence)


class ReadTask(NamedTuple):
    """How a reader turns a chunk into Readings: `plan` (decoding processes run it, by its `job` name),
    then `readings` (this process, with the model)."""

    plan: Callable[[Sequence[Item], PreprocessConfig], list]
    readings: Callable[[Sequence[str], Sequence, Any, float], list[Reading]]
    job: str


SEGMENT = ReadTask(plan_chunk, readings, "plan")  # the digit classifier over candidate cuts


def read_chunks(paths: Iterable[str], config: PreprocessConfig, predict: Predict, batch_size: int = READ_CHUNK,
                pool: Pool | None = None, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                task: ReadTask = SEGMENT) -> Iterator[Reading]:
    """Yield a Reading for every path, in order, chunk by chunk (memory bounded by the chunks in flight).
    With a *pool*, its processes decode and plan the chunks -- each chunk split across them, so a small
    folder keeps every worker busy -- while this thread runs the model. *task*: the segmentation reader
    (`SEGMENT`, *predict* classifies digits) or the sequence reader (`_sequence.LINES`, *predict* reads lines)."""
    plan_chunk, readings, job_name = task
    it = iter(paths)
    window = 2 if pool is not None else 1
    pending: deque[tuple[list[str], list[Future] | list[Planned]]] = deque()

    def planned(job: list[Future] | list[Planned]) -> list[Planned]:
        if pool is None:
            return job  # type: ignore[return-value]
        return [entry for part in job for entry in part.result()]  # type: ignore[union-attr]

    try:
        while True:
            while len(pending) < window and (chunk := list(islice(it, batch_size))):
                if pool is None:
                    pending.append((chunk, plan_chunk(chunk, config)))
                else:
                    step = -(-len(chunk) // pool.size)
                    pending.append((chunk, [pool.submit(chunk[i : i + step], config, job=job_name)
                                            for i in range(0, len(chunk), step)]))
            if not pending:
                return
            chunk, job = pending.popleft()
            yield from readings(chunk, planned(job), predict, min_confidence)
    finally:
        if pool is not None:  # stopped early: drop queued chunks
            for _, job in pending:
                for part in job:
                    part.cancel()  # type: ignore[union-attr]
