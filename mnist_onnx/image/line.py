"""The line of a number: find the main row of ink in an image and bring it to the sequence reader's input.

`find_line` takes the cleaned ink (the `levels` image: polarity, paper, shadows and noise handled as for a
single digit; ruling along the rows, frame edges and underlines erased as the segmentation reader does) and
keeps the row of similar-sized marks that carries the most ink: specks, page borders and marks far off the
row are left out, and so are a box's sides left at its ends. `to_input` scales that row to the reader's height. The export side synthesises its training
strings and sends them through these same two functions, so the network sees what the runtime will show it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .clutter import remove_lines
from .._contract import LINE_HEIGHT, LINE_STRIDE
from .morphology import FLAT, components, not_digits
from .segment import TooManyMarks, remove_side_edges, remove_underline

HEIGHT = LINE_HEIGHT  # the reader's input height
MARGIN = 2  # rows of background above and below the ink: the ink's box is HEIGHT - 2 * MARGIN rows high
SIDE = 4  # columns of background left and right
MAX_WIDTH = 1536  # input columns at most (~60 digits); a longer line is squeezed to this
STRIDE = LINE_STRIDE  # input columns per output frame of our reader
_MASK = 0.25  # ink level that counts for components
_SPECK = 0.3  # a component lower than this share of the line's height, and light, is a stray mark
_FAR = 3.0  # marks further than this many line heights from the row's others are not part of the number
_TALL_EDGE = 1.6  # a thin upright stroke this many line heights tall is a box's side, not a 1
_SMALL_END = 0.5  # a mark at an end of the number lower than this share of the line's height ...
_END_GAP = 0.25  # ... and further than this many line heights from the rest: a tick or a full stop
_SIDE_REACH = 0.15  # a thin stroke at an end reaching this many line heights past the rest's top and bottom
_SIDE_SLACK = 0.05  # ... or two at the two ends, level within this many line heights: a box's sides
_LINE_OVERLAP = 0.4  # a mark belongs to a row when it shares this much of its own height with the row's band
# Marks (not specks) one image may have: a written number of 60 digits has ~180; a page of text or dither has
# thousands, and sorting them into rows costs in proportion. Past this: TooManyMarks, an error row (#29).
MAX_MARKS = 384


@dataclass
class Line:
    """The number's row of ink: `ink` cropped to `box` (left, top, right, bottom, exclusive, in the ink
    image's pixels), other marks erased; `marks` components kept, `rows` rows of marks found."""

    ink: np.ndarray
    box: tuple[int, int, int, int]
    marks: int
    rows: int


def _peel(chosen: list[int], drop: Callable[[int, list[int], bool], bool]) -> list[int]:
    """*chosen* (marks left to right) less the marks at its right end, then its left end, that
    *drop(mark, the rest, at the right end)* says are no digits; one mark always stays."""
    while len(chosen) > 1 and drop(chosen[-1], chosen[:-1], True):
        chosen = chosen[:-1]
    while len(chosen) > 1 and drop(chosen[0], chosen[1:], False):
        chosen = chosen[1:]
    return chosen


def find_line(x: np.ndarray, clean: bool = True) -> Line | None:
    """The main row of ink in *x* ((h, w) float32 in [0, 1], white ink on black), or None when there is no
    ink. *clean*: erase ruling, frame edges and underlines first (as the segmentation reader does); *x* is
    changed in place then. More than MAX_MARKS marks: TooManyMarks."""
    inked = x > _MASK
    if not inked.any():
        return None
    if clean:
        rows, cols = np.flatnonzero(inked.any(1)), np.flatnonzero(inked.any(0))
        t, b, l, r = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        crop = x[t:b, l:r]
        if min(x.shape) >= 40:
            before = float(crop.sum())
            remove_lines(crop, x.shape, (t, l), axes=(0,))
            if float(crop.sum()) < before:  # ruled along the rows: squared paper or a form's boxes too, so
                remove_lines(crop, x.shape, (t, l), axes=(1,))  # the columns' lines go (a lone 1 is no grid)
            remove_side_edges(crop, x.shape, l)
        remove_underline(crop)
        inked = x > _MASK
        if not inked.any():
            return None
    labels, n, boxes, areas = components(inked)  # boxes: top, left, bottom, right (exclusive)
    mass = np.bincount(labels.ravel(), weights=x.ravel(), minlength=n + 1)[1:]
    heights, widths = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    # not digits: a frame (a register cell's box) and long flat strokes standing alone (an underline, a
    # cell's edge); mass 0 leaves them out of every row
    mass = np.where(not_digits(boxes, areas, mass, labels), 0.0, mass)
    if not mass.any():
        return None
    heavy = mass >= 0.1 * mass.max()
    # thin upright strokes (a 1, or what cleaning left of a box's sides) do not set the line's height
    thin = (heights >= FLAT * widths) & (heights >= 12)
    tall = np.sort(heights[heavy & ~thin] if (heavy & ~thin).any() else heights[heavy])
    height = float(np.median(tall[len(tall) // 2 :]))
    keep = ((heights >= _SPECK * height) | (mass >= 0.25 * float(np.median(mass[heavy])))) & (mass > 0)
    keep &= ~(thin & (heights > _TALL_EDGE * height))  # a box's side, far taller than the digits
    if int(keep.sum()) > MAX_MARKS:
        raise TooManyMarks(int(keep.sum()), limit=MAX_MARKS)
    order = [int(c) for c in np.argsort(-mass, kind="stable") if keep[c]]
    # rows of marks: the heaviest mark opens a row; a mark joins the first row whose band it shares enough of
    bands: list[list[int]] = []  # top, bottom, members...
    for c in order:
        t, b = int(boxes[c, 0]), int(boxes[c, 2])
        for band in bands:
            shared = min(b, band[1]) - max(t, band[0])
            if shared >= _LINE_OVERLAP * min(b - t, band[1] - band[0]):
                band.append(c)
                break
        else:
            bands.append([t, b, c])
    best = max(bands, key=lambda band: float(mass[band[2:]].sum()))
    members = best[2:]
    # along the row: groups split by gaps wider than _FAR line heights; the heaviest group is the number
    members.sort(key=lambda c: int(boxes[c, 1]))
    groups: list[list[int]] = [[members[0]]]
    right = int(boxes[members[0], 3])
    for c in members[1:]:
        if boxes[c, 1] - right > _FAR * height:
            groups.append([])
        groups[-1].append(c)
        right = max(right, int(boxes[c, 3]))
    chosen = max(groups, key=lambda g: float(mass[g].sum()))
    # a small mark set apart at either end (a tick, a full stop after the number) is no digit
    def apart(c: int, rest: list[int], last: bool) -> float:
        return float(boxes[c, 1] - boxes[rest, 3].max() if last else boxes[rest, 1].min() - boxes[c, 3])

    chosen = _peel(chosen, lambda c, rest, last: heights[c] < _SMALL_END * height and
                   apart(c, rest, last) > _END_GAP * height)
    # what cleaning leaves of a box round the number (a register cell, once its top and bottom are erased):
    # thin upright strokes at the ends reaching past the digits' top and bottom both (a 1 is written within
    # their height, or above it, not both), or two at the two ends as tall as the digits and level with each
    # other (a box's two sides; two 1s ending a number are not drawn so alike)
    digits = [c for c in chosen if not thin[c]]
    if digits:
        top, bottom = boxes[digits, 0].min(), boxes[digits, 2].max()
        reach, slack = _SIDE_REACH * height, _SIDE_SLACK * height
        past = thin & (boxes[:, 0] < top - reach) & (boxes[:, 2] > bottom + reach)
        spans = thin & (boxes[:, 0] <= top + slack) & (boxes[:, 2] >= bottom - slack)
        first, last = chosen[0], chosen[-1]
        if len(chosen) > 2 and spans[first] and spans[last] and \
                abs(int(boxes[first, 0]) - int(boxes[last, 0])) <= slack and \
                abs(int(boxes[first, 2]) - int(boxes[last, 2])) <= slack:
            chosen = chosen[1:-1]
        chosen = _peel(chosen, lambda c, rest, last: bool(past[c]))  # a digit is never thin: one stays
    sel = boxes[chosen]
    t, l, b, r = int(sel[:, 0].min()), int(sel[:, 1].min()), int(sel[:, 2].max()), int(sel[:, 3].max())
    near = labels[t:b, l:r]
    own = np.isin(near, np.asarray(chosen) + 1) | (near == 0)
    ink = np.where(own, x[t:b, l:r], 0.0).astype(np.float32)
    return Line(ink, (l, t, r, b), len(chosen), len(bands))


def to_input(ink: np.ndarray) -> tuple[np.ndarray, float, float]:
    """A line's ink (cropped to its box) -> the reader's input (HEIGHT, W) float32, and the x and y scale
    from input columns/rows back to the ink's pixels (input column c covers ink columns
    (c - SIDE) * sx ... ). Height fitted to HEIGHT - 2 * MARGIN rows, width by the same factor."""
    h, w = ink.shape
    inner = HEIGHT - 2 * MARGIN
    f = inner / h
    nw = max(1, round(w * f))
    if nw + 2 * SIDE > MAX_WIDTH:
        nw = MAX_WIDTH - 2 * SIDE
    img = Image.fromarray(np.ascontiguousarray(ink, np.float32), "F").resize((nw, inner), Image.Resampling.BILINEAR)
    out = np.zeros((HEIGHT, nw + 2 * SIDE), np.float32)
    out[MARGIN : MARGIN + inner, SIDE : SIDE + nw] = np.clip(np.asarray(img), 0.0, 1.0)
    return out, w / nw, h / inner


def pad_batch(lines: list[np.ndarray]) -> np.ndarray:
    """Lines of different widths -> (N, HEIGHT, W) with W the widest rounded up to a multiple of STRIDE;
    background (0) on the right."""
    width = max(line.shape[1] for line in lines)
    width = -(-width // STRIDE) * STRIDE
    out = np.zeros((len(lines), HEIGHT, width), np.float32)
    for i, line in enumerate(lines):
        out[i, :, : line.shape[1]] = line
    return out


def ctc_greedy(probs: np.ndarray, blank: int = 10) -> list[tuple[int, int, int, float]]:
    """Best path decoding of one line's (T, classes) probabilities: (digit, first frame, end frame, peak
    probability) for each digit, repeats collapsed and blanks dropped."""
    best = probs.argmax(1)
    out: list[tuple[int, int, int, float]] = []
    t = 0
    while t < len(best):
        k = int(best[t])
        end = t + 1
        while end < len(best) and best[end] == k:
            end += 1
        if k != blank:
            out.append((k, t, end, float(probs[t:end, k].max())))
        t = end
    return out


def ctc_probability(probs: np.ndarray, digits: list[int], blank: int = 10) -> float:
    """P(digits | line): the probability the reader gives the whole string, summed over every alignment of it
    to the frames (CTC's forward algorithm, Graves et al. 2006, in log space). Unlike the product of the
    digits' peaks it also counts the frames where a digit might have been and was not -- a lost digit in a
    touching pair -- and, unlike the best path's probability, a stroke read across several frames costs
    nothing. 0 for no digits on a line with ink."""
    if len(probs) == 0:
        return 0.0 if digits else 1.0
    extended = np.full(2 * len(digits) + 1, blank, np.intp)  # blank, d1, blank, d2, ..., blank
    extended[1::2] = digits
    n = len(extended)
    logp = np.log(np.maximum(probs[:, extended], 1e-30))  # (T, n): each frame's log probability of each state
    skip = np.zeros(n, bool)  # a digit may follow the digit before the blank directly, unless it repeats it
    skip[3::2] = extended[3::2] != extended[1:-2:2]
    alpha = np.full(n + 2, -np.inf)  # two -inf states in front: the shifts below read them
    alpha[2] = logp[0, 0]
    if n > 1:
        alpha[3] = logp[0, 1]
    for t in range(1, len(logp)):
        stay, step, jump = alpha[2:], alpha[1:-1], np.where(skip, alpha[:-2], -np.inf)
        alpha[2:] = np.logaddexp(np.logaddexp(stay, step), jump) + logp[t]
    return float(np.exp(np.logaddexp(alpha[-1], alpha[-2]) if n > 1 else alpha[-1]))
