"""Read whole numbers: one `Reading` per image -- the digit string, each digit with its confidence and box.

The segmentation reader (`--model mlp|cnn`), a task of the one engine (`Segment`): decode and plan a chunk of
files (in worker processes with `--workers`), then one model call for every candidate digit of every image
in the chunk, then pick each image's reading (`image.segment`). Its rows are `Reading`s (`_schema`), as the sequence reader's. Decoding, polarity, background and clean-up are classify's own, and so are the
error words: a file that `classify` cannot read gets the same error here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, Union

import numpy as np

from ._chunk import Item
from ._schema import DigitBox, Reading, blank, failed, nan_scores
from ._defaults import DEFAULT_MIN_CONFIDENCE
from .image.decode import decode_sized
from .image.normal import PreprocessConfig
from .image.segment import Plan, TooManyMarks, decide, plan
from .errors import ImageError



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


def _candidates(planned: Sequence[Planned]) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """Every candidate digit of every planned image (and its whole-ink reading), and each image's span."""
    inputs: list[np.ndarray] = []
    spans: list[tuple[int, int]] = []
    for entry in planned:
        start = len(inputs)
        if not isinstance(entry, str):
            inputs.extend(c.pixels for c in entry[0].candidates)
            if entry[0].single is not None:
                inputs.append(entry[0].single)
        spans.append((start, len(inputs)))
    return inputs, spans


@dataclass(frozen=True)
class Segment:
    """read by segmentation as an engine task (`_engine.Task`): each image decoded and cut into candidate
    digits (`image.segment.plan`), one model call for every candidate of the chunk (*model*: a digit model's
    (N, 28, 28) -> (N, 10)), then each image's reading (`image.segment.decide`)."""

    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    job = "plan"
    window = 2  # a planned image holds its candidates: fewer chunks in flight than classify's

    def prepare(self, items: Sequence[Item], config: PreprocessConfig) -> list[Planned]:
        return plan_chunk(items, config)

    def join(self, parts: list[list[Planned]]) -> list[Planned]:
        return [entry for part in parts for entry in part]

    def infer(self, planned: Sequence[Planned], model: Any) -> np.ndarray:
        inputs, _ = _candidates(planned)
        return model(np.stack(inputs)) if inputs else np.zeros((0, 10), np.float32)

    def rows(self, names: Sequence[str], planned: Sequence[Planned], probs: np.ndarray) -> list[Reading]:
        """Each image's reading from its candidates' probabilities."""
        _, spans = _candidates(planned)
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
                               unsure=confidence < self.min_confidence))
        return out
