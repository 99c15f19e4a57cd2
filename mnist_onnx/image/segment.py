"""Find the digits of a handwritten number: over-segment the ink, then let the model choose the split.

The number's ink (the `levels` image: polarity, paper, shadows and noise handled exactly as for a single
digit; ruling, frames and underlines erased) is cut into *pieces*: its connected components, and wide
components -- touching or overlapping digits -- cut further along the paths through the least ink near
each dip of their column profile. Pieces are ordered left to right. Every run of neighbouring pieces that
could be one digit is a *candidate*, brought to MNIST's normal form like any single digit.

`plan` does all of that without the model (it runs in decoding processes); the caller reads every
candidate of many images in one model call; `decide` then picks, per image, the run of candidates that
reads best: dynamic programming over the sum of log-probabilities, with three rules learnt from how
people write numbers -- a mark far shorter than the line is not a digit, two components side by side are
rarely one digit (one above the other are: a 5's bar, a two-stroke 4), and a component the model reads
confidently as one digit of a digit's width is not cut. Touching digits are thus split where the model
reads the pieces best, not only at empty columns.

Constants were chosen by grid searches on ../shared/numbers-dev and realworld-dev together (a reading of
one digit must stay classify's); benchmarks/read_numbers.py measures the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .clutter import remove_lines
from .levels import Invert, levels
from .morphology import components
from .normal import normal_form, normalize

_MASK = 0.25  # ink level that counts for components (as in `keep_digit`)
_MAX_COMPONENTS = 3  # components one digit may be made of (a 5's bar, a broken stroke, a two-stroke 4)
_MAX_PIECES = 12  # pieces of one digit (a cut-through component rejoined)
_MAX_WIDTH = 1.25  # a digit made of several pieces is at most this times the line's height wide
_SPLIT_WIDTH = 0.8  # components wider than this times the line's height may hold several digits
_SLIVER = 0.15  # a cut leaving less ink width than this times the line's height on a side is not made
_CUT_WINDOW = 0.18  # a cut path may wander this share of the line's height either side of its column
_CUT_STEP = 0.35  # besides the profile's dips, a cut is tried every this share of the line's height
_SPECK = 0.25  # a component lower than this share of the line's height, and light, is a stray mark
_SHORT = 0.6  # a candidate lower than this share of the line's height is a piece of a digit ...
_SHORT_PENALTY = 10.0  # ... and costs this much (log-probability) per line height it falls short
_APART_PENALTY = 6.0  # cost of reading two side-by-side components as one digit
_SURE = 0.8  # a whole component read at least this confidently ...
_SURE_WIDTH = 1.0  # ... and at most this times the line's height wide, is one digit: never cut
# The whole image as one digit (classify's reading) against the best reading of several:
_TALL = 0.75  # two confidently read components this share of the ink's height or taller make a number
_ONE_WIDE = 1.1  # ink at most this times as wide as high may well be one digit: ...
_ONE_BONUS = 1.0  # ... its one-digit reading gets this much (log-probability) in hand
_FRAGMENTS = 0.8  # components all lower than this share of the ink's height are pieces of one digit ...
_FRAGMENTS_BONUS = 4.0  # ... (a binarised 16x16 scan): the one-digit reading gets this much in hand
# What one image may cost: past these it is refused (an error row), before the work grows with its marks.
# numbers-dev and realworld-dev have at most 17 pieces and 107 candidates; an 11-digit phone number ~35 pieces.
MAX_PIECES = 96
MAX_CANDIDATES = 512


class TooManyMarks(Exception):
    """An image with more marks than a written number has (a page of text, dither, noise): reading it would
    cost time and memory in proportion to its marks, so it is refused (#29)."""

    def __init__(self, marks: int, what: str = "marks", limit: int | None = None) -> None:
        if limit is None:
            limit = MAX_CANDIDATES if what == "candidate digits" else MAX_PIECES
        super().__init__(f"too many marks to read as one number ({marks:,} {what}; at most {limit:,})")


@dataclass
class Candidate:
    """Pieces [start, end) read as one digit: its box (top, left, bottom, right; exclusive) in the working
    image and the 28x28 model input."""

    start: int
    end: int
    box: tuple[int, int, int, int]
    pixels: np.ndarray
    apart: int = 0  # joins of side-by-side components inside it
    whole: int = -1  # the component it is, whole and alone; -1 when it is not exactly one component
    cuts: frozenset = frozenset()  # components its first or last piece was cut from


@dataclass
class Plan:
    """What `plan` found in one image. `single` is classify's own input for the whole image, made when
    the ink could be one digit: a one-digit reading then gives exactly `classify`'s digit."""

    shape: tuple[int, int]
    ink_box: tuple[int, int, int, int] = (0, 0, 0, 0)  # left, top, right, bottom (exclusive) of all the ink
    pieces: int = 0
    height: float = 0.0  # the line's height: of its taller components
    ink_height: int = 0  # of all its pieces together
    candidates: list[Candidate] = field(default_factory=list)
    single: np.ndarray | None = None


@dataclass
class _Piece:
    ink: np.ndarray  # its pixels, cropped to its box
    box: tuple[int, int, int, int]  # top, left, bottom, right (exclusive) in the working image
    component: int


def plan(gray: np.ndarray, invert: Invert = "auto", center: bool = True) -> Plan:
    """Pieces and candidates of one decoded image (no model needed)."""
    x = levels(gray, invert)
    out = Plan(shape=(int(x.shape[0]), int(x.shape[1])))
    if not x.any():
        out.single = np.zeros((28, 28), np.float32)
        return out
    inked = x > _MASK
    rows, cols = np.flatnonzero(inked.any(1)), np.flatnonzero(inked.any(0))
    if len(rows) == 0:  # only faint ink: classify's reading decides
        rows, cols = np.flatnonzero(x.any(1)), np.flatnonzero(x.any(0))
        out.ink_box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
        out.single = normal_form(x.copy(), center)
        return out
    t, b, l, r = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    out.ink_box = (l, t, r, b)
    if r - l <= _MAX_WIDTH * (b - t) * 1.5:  # could be one digit: classify's reading, from the same levels
        out.single = normal_form(x.copy(), center)
    crop = x[t:b, l:r]
    if min(x.shape) >= 40:
        # Ruled paper and frame edges along the rows, as classify does. Not along the columns: a number's
        # 1s are vertical strokes (two of them would pass for ruling); only a frame's edge goes there.
        remove_lines(crop, x.shape, (t, l), axes=(0,))
        remove_side_edges(crop, x.shape, l)
    remove_underline(crop)
    pieces = _pieces(x, out)
    out.pieces = len(pieces)
    if pieces:
        out.ink_height = max(p.box[2] for p in pieces) - min(p.box[0] for p in pieces)
    for i in range(len(pieces)):
        for j in range(i + 1, min(len(pieces), i + _MAX_PIECES) + 1):
            c = _candidate(pieces, i, j, out.height)
            if c is None:
                if len({p.component for p in pieces[i:j]}) > 1:
                    break  # wider runs only get wider
                continue
            out.candidates.append(c)
            if len(out.candidates) > MAX_CANDIDATES:
                raise TooManyMarks(len(out.candidates), "candidate digits")
    return out


def _pieces(x: np.ndarray, out: Plan) -> list[_Piece]:
    """The components that are not stray marks, wide ones cut, ordered left to right; sets `out.height`."""
    labels, n, boxes, _ = components(x > _MASK)  # boxes: top, left, bottom, right (exclusive)
    if n == 0:
        return []
    mass = np.bincount(labels.ravel(), weights=x.ravel(), minlength=n + 1)[1:]
    heights = boxes[:, 2] - boxes[:, 0]
    # The line's height: the taller half of the components that carry real ink (not specks, not a dash).
    heavy = mass >= 0.1 * mass.max()
    tall = np.sort(heights[heavy])
    out.height = height = float(np.median(tall[len(tall) // 2 :]))
    keep = (heights >= _SPECK * height) | (mass >= 0.25 * np.median(mass[heavy]))
    kept = np.flatnonzero(keep).tolist()
    if len(kept) > MAX_PIECES:  # before any piece is made: the cost so far is classify's
        raise TooManyMarks(len(kept))
    pieces: list[_Piece] = []
    for c in kept:
        t, l, b, r = (int(v) for v in boxes[c])
        t, l, b, r = max(0, t - 1), max(0, l - 1), min(x.shape[0], b + 1), min(x.shape[1], r + 1)
        near = labels[t:b, l:r]
        # its pixels and the faint (anti-aliased) ink around them; other components' ink is not its own
        ink = np.where((near == c + 1) | (near == 0), x[t:b, l:r], 0.0).astype(np.float32)
        parts = _split(ink, height, MAX_PIECES - len(pieces)) if r - l > _SPLIT_WIDTH * height else [ink]
        for part in parts:
            pr, pc = np.flatnonzero(part.any(1)), np.flatnonzero(part.any(0))
            if len(pr):
                box = (t + int(pr[0]), l + int(pc[0]), t + int(pr[-1]) + 1, l + int(pc[-1]) + 1)
                # a copy: a view would keep the whole component-sized part alive with every piece
                pieces.append(_Piece(part[pr[0] : pr[-1] + 1, pc[0] : pc[-1] + 1].copy(), box, c))
        if len(pieces) > MAX_PIECES:
            raise TooManyMarks(len(pieces))
    pieces.sort(key=lambda p: p.box[1] + p.box[3])
    return pieces


def _candidate(pieces: list[_Piece], i: int, j: int, height: float) -> Candidate | None:
    """Pieces [i, j) as one digit, or None when they are too wide to be one."""
    run = pieces[i:j]
    comps = {p.component for p in run}
    if len(comps) > _MAX_COMPONENTS:
        return None
    t, l = min(p.box[0] for p in run), min(p.box[1] for p in run)
    b, r = max(p.box[2] for p in run), max(p.box[3] for p in run)
    first_of = i == 0 or pieces[i - 1].component != run[0].component
    last_of = j == len(pieces) or pieces[j].component != run[-1].component
    whole = len(comps) == 1 and first_of and last_of
    if j - i > 1 and r - l > _MAX_WIDTH * height and not whole:
        return None
    canvas = np.zeros((b - t, r - l), np.float32)
    for p in run:
        region = canvas[p.box[0] - t : p.box[2] - t, p.box[1] - l : p.box[3] - l]
        np.maximum(region, p.ink, out=region)
    apart = 0
    for a, q in zip(run[:-1], run[1:]):
        if a.component != q.component:
            overlap = min(a.box[3], q.box[3]) - max(a.box[1], q.box[1])
            apart += overlap < 0.3 * min(a.box[3] - a.box[1], q.box[3] - q.box[1])
    cuts = frozenset(([] if first_of else [run[0].component]) + ([] if last_of else [run[-1].component]))
    return Candidate(i, j, (t, l, b, r), normalize(canvas, pen=True), apart,
                     run[0].component if whole else -1, cuts)


def remove_side_edges(x: np.ndarray, full: tuple[int, int], left: int) -> None:
    """Erase a photo's or a frame's vertical edge: a thin column of ink over 90 % of the image's height
    within 3 % of its left or right side. *x* is the box around the ink, at column *left*; in place."""
    h, w = full
    cover = np.count_nonzero(x > 0.05, axis=0) / h
    margin = max(1, round(0.03 * w))
    for c in np.flatnonzero(cover >= 0.9).tolist():
        if c + left < margin or c + left >= w - margin:
            x[:, c] = 0.0


def remove_underline(x: np.ndarray) -> None:
    """Erase a straight stroke across most of a number's width near its top or bottom (an underline, a
    line above): one unbroken run of ink over 60 % of the width, in a thin band of rows. Two digits' bars
    (77) are separate runs and stay. *x* is the box around the ink; changed in place."""
    h, w = x.shape
    if w < 1.5 * h or h < 6:
        return
    padded = np.zeros((h, w + 2), np.int8)
    padded[:, 1:-1] = x > _MASK
    edges = np.diff(padded, axis=1)
    run_rows, run_starts = np.nonzero(edges == 1)
    _, run_ends = np.nonzero(edges == -1)
    longest = np.zeros(h, np.int64)
    np.maximum.at(longest, run_rows, run_ends - run_starts)
    on = np.concatenate([[False], longest >= 0.6 * w, [False]])
    bounds = np.flatnonzero(np.diff(on.astype(np.int8)))
    for a, b in zip(bounds[::2].tolist(), bounds[1::2].tolist()):
        if b - a <= max(2, h // 8) and (a < 0.3 * h or b > 0.7 * h):
            above = x[a - 1] if a > 0 else np.zeros(w, np.float32)
            below = x[b] if b < h else np.zeros(w, np.float32)
            x[a:b] = np.minimum(above, below)


def _split(ink: np.ndarray, height: float, room: int = MAX_PIECES) -> list[np.ndarray]:
    """Cut a wide component into pieces along its cut paths (each piece the component's size, zeros
    outside it). No cut leaves a sliver. More than *room* cuts to try: TooManyMarks, before any is made."""
    h, w = ink.shape
    cols = np.arange(w)[None, :]
    inked = ink > _MASK
    bounds = [np.zeros(h, np.int64)]
    for path in _cut_paths(ink, height, room) + [np.full(h, w, np.int64)]:
        path = np.maximum(path, bounds[-1])
        ink_cols = np.flatnonzero(((cols >= bounds[-1][:, None]) & (cols < path[:, None]) & inked).any(0))
        wide = len(ink_cols) > 0 and ink_cols[-1] - ink_cols[0] + 1 >= _SLIVER * height
        if path[0] >= w:  # the right edge: a sliver before it moves the last cut there
            if not wide and len(bounds) > 1:
                bounds.pop()
            bounds.append(path)
        elif wide:
            bounds.append(path)
    return [np.where((cols >= a[:, None]) & (cols < b[:, None]), ink, 0.0).astype(np.float32)
            for a, b in zip(bounds[:-1], bounds[1:])]


def _cut_paths(ink: np.ndarray, height: float, room: int = MAX_PIECES) -> list[np.ndarray]:
    """Top-to-bottom paths through the least ink (moving at most one column a row, within a window), one
    from each dip of the smoothed column profile and every `_CUT_STEP` line heights. A path is, per row,
    the first column right of the cut."""
    h, w = ink.shape
    k = max(1, round(0.06 * height))
    smooth = np.convolve(ink.sum(0), np.ones(2 * k + 1) / (2 * k + 1), mode="same")
    margin = max(2, int(0.2 * height))
    starts: list[int] = []
    for c in range(margin, w - margin):
        if smooth[c] <= smooth[max(0, c - k) : c + k + 1].min() + 1e-6 and (not starts or c - starts[-1] > k):
            starts.append(c)
    for c in range(margin, w - margin, max(2, int(_CUT_STEP * height))):
        if all(abs(c - s) > k for s in starts):
            starts.append(c)
    if len(starts) > room:
        raise TooManyMarks(len(starts), "places to cut")
    window = max(1, int(_CUT_WINDOW * height))
    cost = ink + 0.002  # through paper, the straighter path
    paths = []
    for c in sorted(starts):
        lo, hi = max(1, c - window), min(w - 1, c + window + 1)
        paths.append(lo + _min_path(cost[:, lo:hi]))
    return paths


def _min_path(cost: np.ndarray) -> np.ndarray:
    """Column per row of the cheapest top-to-bottom path through *cost* moving at most one column a row."""
    h, n = cost.shape
    acc = cost[0].copy()
    step = np.zeros((h, n), np.int8)
    inf = np.array([np.inf])
    for row in range(1, h):
        options = np.stack([np.concatenate([inf, acc[:-1]]), acc, np.concatenate([acc[1:], inf])])
        choice = options.argmin(0)
        acc = options[choice, np.arange(n)] + cost[row]
        step[row] = choice - 1
    path = np.empty(h, np.int64)
    j = int(acc.argmin())
    for row in range(h - 1, -1, -1):
        path[row] = j
        j = min(max(j + int(step[row, j]), 0), n - 1)
    return path


@dataclass
class Digit:
    digit: int
    confidence: float
    box: tuple[int, int, int, int]  # left, top, right, bottom (exclusive) in the working image


def decide(p: Plan, probs: np.ndarray, single: np.ndarray | None = None) -> list[Digit]:
    """The best reading of *p* given the model's probabilities for its candidates (and for `p.single`:
    *single*). A reading of one digit is classify's (none when classify finds no digit)."""
    n = p.pieces
    if n == 0:  # only faint ink or specks: classify may still see a digit
        if single is None or p.single is None or not p.single.any():
            return []
        return [Digit(int(single.argmax()), float(single.max()), p.ink_box)]
    sure = set()
    tall_sure = 0  # digit-high components read confidently: two of them make a number
    for k, c in enumerate(p.candidates):
        if c.whole >= 0 and probs[k].max() >= _SURE and c.box[3] - c.box[1] <= _SURE_WIDTH * p.height:
            sure.add(c.whole)
            tall_sure += c.box[2] - c.box[0] >= _TALL * p.ink_height
    logp = np.log(np.maximum(probs, 1e-9))
    best = np.full(n + 1, -np.inf)
    best[0] = 0.0
    back = [-1] * (n + 1)
    for k, c in sorted(enumerate(p.candidates), key=lambda kc: kc[1].end):
        if not np.isfinite(best[c.start]) or c.cuts & sure:
            continue
        t, _, b, _ = c.box
        short = max(0.0, _SHORT - (b - t) / max(p.ink_height, 1))
        score = best[c.start] + float(logp[k].max()) - _SHORT_PENALTY * short - _APART_PENALTY * c.apart
        if score > best[c.end]:
            best[c.end], back[c.end] = score, k
    if single is not None and p.single is not None and p.single.any() and tall_sure < 2:
        # the whole image as one digit, read exactly as classify reads it
        l, t, r, b = p.ink_box
        if p.height < _FRAGMENTS * p.ink_height:
            bonus = _FRAGMENTS_BONUS
        else:
            bonus = _ONE_BONUS if r - l <= _ONE_WIDE * (b - t) else 0.0
        if float(np.log(max(single.max(), 1e-9))) + bonus >= best[n]:
            return [Digit(int(single.argmax()), float(single.max()), p.ink_box)]
    chosen: list[int] = []
    end = n
    while end > 0 and back[end] >= 0:
        chosen.append(back[end])
        end = p.candidates[back[end]].start
    chosen.reverse()
    if len(chosen) == 1 and single is not None and p.single is not None:
        if not p.single.any():
            return []
        c = p.candidates[chosen[0]]
        return [Digit(int(single.argmax()), float(single.max()), (c.box[1], c.box[0], c.box[3], c.box[2]))]
    out = []
    for k in chosen:
        t, l, b, r = p.candidates[k].box
        out.append(Digit(int(probs[k].argmax()), float(probs[k].max()), (l, t, r, b)))
    return out
