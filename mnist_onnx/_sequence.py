"""Read whole numbers with the sequence reader: the number's line in, the digit string out, nothing cut.

The reader task beside `_read`'s segmentation one (`Lines`), run by the one engine loop (`_engine`): decode
and clean each image as for a single digit (`levels`), find the number's row of ink (`image.line.find_line`:
specks, page edges and far marks left out), scale it to the reader's height, run the network on every line of
a chunk at once (lines of similar width together), and decode its output along the line with CTC's best path
(NumPy). Each digit's confidence is its peak probability, its box the ink between its neighbours' peaks; the
number's confidence is the probability the reader gives the whole string (`ctc_probability`: every alignment
of it, so a digit that may have been lost counts against it), which the model's `min_confidence` (chosen on
held-out synthetic strings) turns into `unsure`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Union

import numpy as np

from ._chunk import Item
from .image.levels import levels
from .image.line import SIDE, STRIDE, ctc_greedy, ctc_probability, find_line, to_input
from .image.normal import PreprocessConfig, normal_form
from ._read import plan_each
from ._schema import DigitBox, Reading, blank, failed, nan_scores

BLANK = 10
_BATCH_COLUMNS = 64 * 512  # input columns per model call
ONE_WIDE = 1.875  # a line at most this times as wide as high may be one digit (as the segmentation has it:
# Semeion's box-stretched digits are square, an 8x8 scan's blobs wider still)
_BUCKET = 32  # a line is padded to a multiple of this many columns (a multiple of STRIDE)

RunLines = Callable[[np.ndarray], np.ndarray]  # (N, 32, W) lines -> (N, W / 4, 11) probabilities


@dataclass
class LinePlan:
    """One image's line: the reader's input, and how its columns map back to the image's own pixels."""

    pixels: np.ndarray  # (32, W) float32
    ink: np.ndarray  # the line's ink, cropped to its box (for the digits' boxes)
    box: tuple[int, int, int, int]  # the line's left, top, right, bottom in the decoded image
    sx: float  # ink columns per input column
    scale: tuple[float, float]  # decoded image -> the file's own pixels (x, y)
    single: np.ndarray | None = None  # classify's own (28, 28) input, when the line could be one digit


Planned = Union[LinePlan, str, None]  # a line, an error's words, or None: no ink at all


def _plan_line(gray: np.ndarray, size: tuple[int, int], config: PreprocessConfig) -> Planned:
    x = levels(gray, config.invert)
    line = find_line(x.copy())
    if line is None:
        return None
    pixels, sx, _ = to_input(line.ink)
    left, top, right, bottom = line.box
    # could be one digit: classify's own input too, from the same levels (`to_mnist`)
    single = normal_form(x, config.center) if right - left <= ONE_WIDE * (bottom - top) else None
    return LinePlan(pixels, line.ink, line.box, sx, (size[0] / gray.shape[1], size[1] / gray.shape[0]), single)


def plan_lines(items: Sequence[Item], config: PreprocessConfig) -> list[Planned]:
    """Decode every item and find its line (`_read.plan_each`): what decoding processes do."""
    return plan_each(items, config, _plan_line)


def _run_all(lines: list[np.ndarray], run: RunLines) -> list[np.ndarray]:
    """Every line's (frames, 11) probabilities. Each line is padded to its own width rounded up to _BUCKET
    columns, and only lines of one padded width share a model call: a line's reading never depends on which
    other lines were in its chunk (the LSTM reads the padding too), so `--workers` and `--batch-size` give
    the same rows."""
    out: list[np.ndarray] = [np.zeros((0, 11), np.float32)] * len(lines)
    groups: dict[int, list[int]] = {}
    for i, line in enumerate(lines):
        groups.setdefault(-(-line.shape[1] // _BUCKET) * _BUCKET, []).append(i)
    for width, members in sorted(groups.items()):
        step = max(1, _BATCH_COLUMNS // width)
        for start in range(0, len(members), step):
            group = members[start : start + step]
            batch = np.zeros((len(group), lines[group[0]].shape[0], width), np.float32)
            for k, i in enumerate(group):
                batch[k, :, : lines[i].shape[1]] = lines[i]
            probs = run(batch)
            for k, i in enumerate(group):
                out[i] = probs[k, : -(-lines[i].shape[1] // STRIDE)]
    return out


def _digits(plan: LinePlan, found: list[tuple[int, int, int, float]]) -> list[DigitBox]:
    """Each decoded digit with its box: the line's ink between the midpoints to its neighbours' peaks."""
    l, t = plan.box[0], plan.box[1]
    w = plan.ink.shape[1]
    centres = [((a + b) / 2 * STRIDE - SIDE) * plan.sx for _, a, b, _ in found]
    bounds = [0.0] + [(p + q) / 2 for p, q in zip(centres, centres[1:])] + [float(w)]
    sx, sy = plan.scale
    out = []
    for (digit, *_, confidence), a, b in zip(found, bounds, bounds[1:]):
        c0, c1 = max(0, int(math.floor(a))), min(w, max(int(math.ceil(b)), int(math.floor(a)) + 1))
        part = plan.ink[:, c0:c1] > 0.25
        cols, rows = np.flatnonzero(part.any(0)), np.flatnonzero(part.any(1))
        if len(cols):
            c0, c1 = c0 + int(cols[0]), c0 + int(cols[-1]) + 1
            r0, r1 = int(rows[0]), int(rows[-1]) + 1
        else:
            r0, r1 = 0, plan.ink.shape[0]
        out.append(DigitBox(digit, confidence, (math.floor((l + c0) * sx), math.floor((t + r0) * sy),
                                                math.ceil((l + c1) * sx), math.ceil((t + r1) * sy))))
    return out


class LineModels(NamedTuple):
    """What reads a chunk: the sequence reader, and the digit model (classify's) for lines of one digit."""

    lines: RunLines
    digits: Callable[[np.ndarray], np.ndarray]  # (N, 28, 28) -> (N, 10) probabilities


def _reader_prefers(probs: np.ndarray, digit: int, own: float) -> bool:
    """Whether the reader gives the one-digit string *digit* a higher probability (over all alignments) than
    *own*, that of the string its best path found: best-path decoding is not the likeliest string, and a digit
    whose box a scanner stretched to a square (USPS, Semeion) can have its best path split in two while the
    whole string is likelier as one digit."""
    return ctc_probability(probs, [digit], BLANK) > own


@dataclass(frozen=True)
class Lines:
    """read by the sequence reader as an engine task (`_engine.Task`): each image's line found
    (`plan_lines`), one pass of the reader over every line of the chunk and one of the digit model over the
    lines of one digit's width (*model*: `LineModels`), then each line decoded (`rows`)."""

    min_confidence: float
    job = "lines"
    window = 2  # a planned image holds its line's ink

    def prepare(self, items: Sequence[Item], config: PreprocessConfig) -> list[Planned]:
        return plan_lines(items, config)

    def join(self, parts: list[list[Planned]]) -> list[Planned]:
        return [entry for part in parts for entry in part]

    def infer(self, planned: Sequence[Planned], models: LineModels) -> tuple[list[np.ndarray], np.ndarray | None]:
        lines = [p.pixels for p in planned if isinstance(p, LinePlan)]
        singles = [p.single for p in planned if isinstance(p, LinePlan) and p.single is not None]
        return (_run_all(lines, models.lines) if lines else [],
                models.digits(np.stack(singles)) if singles else None)

    def rows(self, names: Sequence[str], planned: Sequence[Planned],
             inferred: tuple[list[np.ndarray], np.ndarray | None]) -> list[Reading]:
        """Each line decoded along its length (CTC's best path). A line of one digit's width that the reader
        reads as one digit (or none) is read as `classify` reads the image: a one-digit image gets exactly
        classify's digit and confidence, as with the segmentation reader. Where the reader reads more digits
        in it, they stand -- the digit model reads a narrow "11" as one digit, confidently (tried: taking the
        surer of the two cost numbers-dev 4 numbers and added 4 wrong `ok` rows) -- unless the reader itself
        finds classify's one digit likelier than its own best path (`_reader_prefers`)."""
        probs = iter(inferred[0])
        digit_probs = iter(inferred[1] if inferred[1] is not None else [])
        out = []
        for name, entry in zip(names, planned):
            if entry is None:
                out.append(blank(Reading, name))
                continue
            if isinstance(entry, str):
                out.append(failed(Reading, name, entry))
                continue
            p = next(probs)
            one = next(digit_probs) if entry.single is not None else None
            if not np.isfinite(p).all() or (one is not None and not np.isfinite(one).all()):
                out.append(nan_scores(Reading, name))
                continue
            found = ctc_greedy(p, BLANK)
            # the string's own probability, as export/reader.py calibrated it
            confidence = ctc_probability(p, [digit for digit, *_ in found], BLANK) if found else 0.0
            # one digit: classify's reading (none where classify finds none), also where the reader read more
            # digits but itself finds classify's one digit likelier than its best path
            if one is not None and entry.single is not None and \
                    (len(found) <= 1 or _reader_prefers(p, int(one.argmax()), confidence)):
                found = [(int(one.argmax()), 0, len(p), float(one.max()))] if entry.single.any() else []
                confidence = float(one.max())
            if not found:
                out.append(blank(Reading, name))
                continue
            digits = _digits(entry, found)
            out.append(Reading(name, "".join(str(d.digit) for d in digits), confidence, digits,
                               unsure=confidence < self.min_confidence))
        return out
