"""Clutter out of an image's ink (`clean`): ruled and squared lines (level, or a page turned up to 10
degrees: `remove_lines`), frame edges, specks and marks away from the digit (`keep_digit`). Works on
`levels`' output; every threshold is named with its reason.
"""

from __future__ import annotations

import numpy as np

from .levels import RING
from .morphology import components_or_one, not_digits


_STROKE = 0.25  # ink level that counts as stroke for components (anti-aliased edges below it stay if near)
_COMPANION_MASS = 0.03  # a component with less ink than this share of the digit's is a speck
_COMPANION_WIDTH = 0.4  # ... and one whose strokes are this much thinner is a printed line or an outline
_LINE_COVER = 0.6  # a row (or column) inked over 60 % of the image is a straight line across it ...
_LINE_INK = 0.05  # ... counting any ink above this level (faint printed ruling too)
_FRAME_BAND = 0.12  # a single line within this outer band is a frame edge; further in it may be a digit's bar
_LINES_MIN_SIDE = 40  # images smaller than this (28x28 canvases, tiny scans) have no ruling to remove
_MIN_DIGIT_SIZE = 0.02  # of the image's larger side: anything smaller is a speck, not a digit
# A digit is pen strokes: they leave much of the square around them empty. Ink over 15 % of nearly every cell
# of an 8x8 grid on that square is a blot, a block or noise -- real digits fill at most 84 % of the cells
# (realworld-dev's 2,200; bold, blurred ones 91 %), a page of random dots 90-100 %.
_BLOT_GRID, _BLOT_CELL, _BLOT_COVER = 8, 0.15, 0.95


def _line_runs(frac: np.ndarray) -> list[tuple[int, int]]:
    """Runs [start, end) of consecutive rows whose ink covers at least 60 % of the width."""
    on = np.concatenate([[False], frac >= _LINE_COVER, [False]])
    d = np.flatnonzero(np.diff(on.astype(np.int8)))
    return list(zip(d[::2].tolist(), d[1::2].tolist()))


def remove_lines(x: np.ndarray, full: tuple[int, int] | None = None, at: tuple[int, int] = (0, 0),
                  axes: tuple[int, ...] = (0, 1)) -> np.ndarray:
    """Erase straight lines across most (60 %) of the image: ruled or grid paper (two or more parallel lines)
    and a frame edge (a line in the outer band). A single line through the middle may be a digit's bar and
    stays; so does anything thicker than 1/8 of the image (ink, not a printed line). Strokes crossing a
    line survive: the line is filled with the smaller of the rows just above and below it.

    *x* may be the crop at *at* of an image of shape *full* that holds all of its ink (zeros around it):
    sizes are then measured against the full image, so the result is the full image's, cropped. *axes*:
    0 for rows (horizontal lines), 1 for columns."""
    full = full or x.shape
    for axis in axes:
        y = x if axis == 0 else x.T
        n, m = full[axis], full[1 - axis]
        if y.shape[1] / m < _LINE_COVER:  # the ink is too narrow for any line across 60 % of the image
            continue
        if _remove_rows(y, n, m, at[axis], at[1 - axis]):
            continue
        # none level: a page photographed a little askew has its lines at a slant. Sheared by whole pixels
        # per column (exactly undone after), they lie level and go as level ones do.
        slope = _slant(y, m, at[1 - axis])
        if slope is None:
            continue
        shift = -np.round((np.arange(y.shape[1]) + at[1 - axis]) * slope).astype(np.intp)
        low = int(shift.min())
        rows = np.arange(y.shape[0])[:, None] + (shift - low)[None, :]
        cols = np.arange(y.shape[1])[None, :]
        sheared = np.zeros((y.shape[0] + int(shift.max()) - low, y.shape[1]), y.dtype)
        sheared[rows, cols] = y
        if _remove_rows(sheared, n, m, at[axis] + low, at[1 - axis], span=_span(sheared.shape[0], n, m, slope, at[axis] + low)):
            y[...] = sheared[rows, cols]
    return x


def _span(rows: int, n: int, m: int, slope: float, base: int) -> tuple[np.ndarray, np.ndarray]:
    """For each row of a sheared image (`remove_lines`), the first and last column of the n x m image it
    crosses: a slanted line near a corner leaves the image through a side, not the far edge. Row r' at
    column X is the image's row r' + base + round(X * slope)."""
    lift = np.round(np.arange(m) * slope).astype(np.intp)
    r = np.arange(rows)
    lo, hi = -r - base, n - r - base  # the row is in the image where lo <= lift[X] < hi
    if slope < 0:
        rev = lift[::-1]
        first = m - np.searchsorted(rev, hi, "left")
        last = m - 1 - np.searchsorted(rev, lo, "left")
    else:
        first = np.searchsorted(lift, lo, "left")
        last = np.searchsorted(lift, hi, "left") - 1
    return first, last


def _remove_rows(y: np.ndarray, n: int, m: int, off: int, off_other: int,
                 span: tuple[np.ndarray, np.ndarray] | None = None) -> bool:
    """`remove_lines` along the rows of *y* (a crop at row *off*, column *off_other* of an image n x m);
    True when lines were found and erased. *span*: *y* is sheared (slanted lines made level by whole-pixel
    steps), each row crossing the image between these columns (`_span`); a line's coverage and its edges
    are measured there. Such a line keeps part of its edges in the rows beside it: where a row beside
    (half as covered) has ink the row beyond has not, that ink is the line's, and goes first."""
    sheared = span is not None
    if span is None:
        cover = np.count_nonzero(y > _LINE_INK, axis=1) / m
    else:
        across = span[1] - span[0] + 1
        # rows crossing less than 60 % of the image's width hold no line across it
        cover = np.where(across >= _LINE_COVER * m, np.count_nonzero(y > _LINE_INK, axis=1) / np.maximum(across, 1), 0.0)
    runs = _line_runs(cover)
    runs = [(a, b) for a, b in runs if b - a <= max(2, n // 8)]
    # A printed line runs from edge to edge: ruled paper off the page's edges, a frame's side to its
    # corners (in the outer band, to within the band). A digit's own stroke -- a 7's bar, a 1's stem or
    # base, a 4's stem, drawn large -- stops where the digit does, short of the margins.
    band = max(1, round(_FRAME_BAND * n))
    margin, corner = max(2, round(RING * m)), max(1, round(_FRAME_BAND * m))
    # (a sheared line's ink hops between its run and the rows beside it: they are looked at together)
    near = [(a - int(sheared and a > 0 and cover[a - 1] >= _LINE_COVER / 2),
             b + int(sheared and b < len(cover) and cover[b] >= _LINE_COVER / 2)) for a, b in runs]
    ends = [(0, m - 1) if span is None else (int(span[0][c:d].min()), int(span[1][c:d].max())) for c, d in near]
    runs = [(a, b) for (a, b), (c, d), e in zip(runs, near, ends)
            if _edge_to_edge(y[c:d], off_other, m, corner if a + off < band or b + off > n - band else margin, e)]
    # A digit's stroke lying along one of several lines (a 1's stem on a squared page's column) makes that
    # run wider than the others: there only the line's own width is taken, where nothing wider crosses it
    usual = int(np.median([b - a for a, b in runs])) if len(runs) >= 3 else None
    erased = False
    for a, b in runs:
        if len(runs) >= 2 or a + off < band or b + off > n - band:
            if sheared:
                for edge, beyond in ((a - 1, a - 2), (b, b + 1)):
                    if 0 <= edge < len(cover) and cover[edge] >= _LINE_COVER / 2:
                        y[edge] = np.minimum(y[edge], y[beyond]) if 0 <= beyond < len(cover) else 0.0
            above = y[a - 1] if a > 0 else np.zeros(y.shape[1], np.float32)  # (outside a crop: no ink)
            below = y[b] if b < y.shape[0] else np.zeros(y.shape[1], np.float32)
            fill = np.minimum(above, below)
            if usual is not None and b - a > usual + 1:
                across = np.count_nonzero(y[a:b] > _LINE_INK, axis=0)  # the run's ink, along the line
                fill = np.where(across <= usual + 1, fill, y[a:b])  # where the stroke is, it stays
            y[a:b] = fill
            erased = True
    return erased


_SLANT_MAX = 0.18  # rows per column: lines up to about 10 degrees off level are looked for
_SLANT_COARSE = 4  # the slant is first looked for on a 4x smaller mask


def _best_slope(r: np.ndarray, c: np.ndarray, slopes: np.ndarray) -> tuple[float, int]:
    """Of *slopes*, the one along which the points (r, c) gather most into lines (the largest sum of squared
    counts per line: all the lines at once, as projection-profile deskewing does), and its fullest line."""
    best, score, most = 0.0, -1.0, 0
    for t in slopes:
        lane = r - np.round(c * t).astype(np.intp)
        counts = np.bincount(lane - lane.min()).astype(np.float64)
        if counts @ counts > score:
            best, score, most = float(t), float(counts @ counts), int(counts.max())
    return best, most


def _slant(y: np.ndarray, m: int, off_other: int) -> float | None:
    """The slope (rows per column, not level, within _SLANT_MAX) of straight lines across 60 % of an image m
    wide in *y* (a crop at column *off_other*), or None. A coarse search on a smaller mask, then the slope to
    half a row across the image on the ink itself: each column meets a slanted row once, so a count of
    pixels is the columns a line covers."""
    ink = y > _LINE_INK
    # only thin ink (no ink a few rows above and below) can be a printed line: a digit's broad bar lies
    # along no slant of the page's lines and would pull the search towards level
    d = max(3, y.shape[0] // 150)
    ink[d:] &= ~(y[:-d] > _LINE_INK)
    ink[:-d] &= ~(y[d:] > _LINE_INK)
    f = _SLANT_COARSE
    h, w = ink.shape
    hs, ws = -(-h // f), -(-w // f)
    padded = np.zeros((hs * f, ws * f), bool)
    padded[:h, :w] = ink
    r, c = np.nonzero(padded.reshape(hs, f, ws, f).any(axis=(1, 3)))
    ms = m / f
    if len(r) < _LINE_COVER * ms:
        return None
    k = int(np.ceil(_SLANT_MAX * ms))
    coarse, most = _best_slope(r, c + off_other / f, np.arange(-k, k + 1) / ms)
    if most < 0.8 * _LINE_COVER * ms or coarse == 0.0:
        return None
    r, c = np.nonzero(ink)
    slope, most = _best_slope(r, c + off_other, coarse + np.arange(-2 * f, 2 * f + 1) / (2 * m))
    return slope if most >= _LINE_COVER * m and abs(slope) * m >= 1 else None


def _edge_to_edge(rows: np.ndarray, off: int, m: int, band: int, span: tuple[int, int] | None = None) -> bool:
    """The ink of *rows* (a crop at column *off* of an image *m* wide) runs unbroken (gaps of a dotted rule
    allowed) from the outer band of width *band* on one side to the other's. A digit's bar between a frame's
    two sides is broken by the margins, so it is not a line even though the row holds ink at both edges.
    *span*: the first and last column where the rows are inside the image (a slanted line's, `_span`)."""
    cols = np.flatnonzero((rows > _LINE_INK).any(0)) + off
    if not len(cols):
        return False
    first, last = span or (0, m - 1)
    gap = max(2, m // 50)
    breaks = np.flatnonzero(np.diff(cols) > gap)
    starts = np.r_[cols[0], cols[breaks + 1]]
    ends = np.r_[cols[breaks], cols[-1]]
    return bool(((starts < first + band) & (ends > last - band)).any())


def keep_digit(x: np.ndarray, full: tuple[int, int] | None = None, at: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Keep the digit, drop specks and marks away from it: the heaviest ink component, plus every component
    with at least 8 % of its ink that lies close to it (a 5's detached bar, a broken faint stroke). All zeros
    when what is left is a speck, or fills its box as no pen stroke does (`fills_its_box`: noise, a blot).
    *x* may be a crop holding all the ink of an image of shape *full*."""
    mask = x > _STROKE
    labels, n, boxes, area = components_or_one(mask)
    if n == 0:
        return np.zeros_like(x)
    boxes = boxes - (0, 0, 1, 1)  # top, left, bottom, right (inclusive)
    if labels is None:  # one component (most clean digits): no labels painted, nothing to weigh
        keep, (t, l, b, r) = None, boxes[0].tolist()
    else:
        keep, (t, l, b, r) = _companions(x, labels, n, boxes, area, full, at)
    if max(b - t + 1, r - l + 1) < max(3, _MIN_DIGIT_SIZE * max(full or x.shape)):
        return np.zeros_like(x)
    # ink just below the mask threshold next to kept strokes (anti-aliased edges) stays; far-away ink goes
    near = slice(max(0, t - 2), b + 3), slice(max(0, l - 2), r + 3)
    if keep is None or labels is None:  # every stroke lies inside the box: what is near it is the digit
        out = np.zeros_like(x)
        if not fills_its_box(mask[near]):
            out[near] = x[near]
        return out
    keep_mask = np.isin(labels, np.asarray(keep) + 1)
    near_mask = np.zeros_like(keep_mask)
    near_mask[near] = True
    out = np.where(keep_mask | (near_mask & ~mask), x, 0.0).astype(np.float32)
    return np.zeros_like(x) if fills_its_box((keep_mask & mask)[near]) else out  # out's strokes


def fills_its_box(mask: np.ndarray) -> bool:
    """Whether ink (*mask*, cropped near its box) covers nearly all of the square around it, as no digit's
    strokes do: noise, a blot, a solid block (`_BLOT_COVER`). Too small to tell (under 2 pixels a cell): no."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if len(rows) == 0:
        return False
    box = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    side = max(box.shape)
    if side < 2 * _BLOT_GRID:
        return False
    square = np.zeros((side, side), np.float32)
    top, left = (side - box.shape[0]) // 2, (side - box.shape[1]) // 2
    square[top : top + box.shape[0], left : left + box.shape[1]] = box
    edges = np.linspace(0, side, _BLOT_GRID + 1).astype(int)
    ink = np.add.reduceat(np.add.reduceat(square, edges[:-1], 0), edges[:-1], 1)
    return bool(((ink / np.outer(np.diff(edges), np.diff(edges)) > _BLOT_CELL).mean()) >= _BLOT_COVER)


def _companions(x: np.ndarray, labels: np.ndarray, n: int, boxes: np.ndarray, area: np.ndarray,
                full: tuple[int, int] | None = None, at: tuple[int, int] = (0, 0)
                ) -> tuple[list[int] | None, tuple[int, int, int, int]]:
    """The components `keep_digit` keeps -- their indices, None for all of them -- and the box (top, left,
    bottom, right, inclusive) around them."""
    mass = np.bincount(labels.ravel(), weights=x.ravel(), minlength=n + 1)[1:]
    dropped = not_digits(boxes + (0, 0, 1, 1), area, mass, labels, full, at)  # a register cell's box, its underline
    if dropped.any() and not dropped.all():
        mass = np.where(dropped, 0.0, mass)
    order = np.argsort(-mass)
    # Width of each component's strokes (2 area / perimeter): a frame edge, a ruled line or the outline of a
    # pasted photo is far thinner than the pen that wrote the digit.
    # Needed only when a second component is heavy enough to be considered (often there is none).
    width = np.zeros(n)
    if n > 1 and mass[order[1]] >= _COMPANION_MASS * mass[order[0]]:
        perimeter = np.zeros(n + 1)
        p = np.zeros((labels.shape[0] + 2, labels.shape[1] + 2), labels.dtype)
        p[1:-1, 1:-1] = labels
        for u, v in ((p[1:, :], p[:-1, :]), (p[:, 1:], p[:, :-1])):
            edge = u != v
            perimeter += np.bincount(u[edge], minlength=n + 1) + np.bincount(v[edge], minlength=n + 1)
        width = 2 * area / np.maximum(perimeter[1:], 1)
    keep = [int(order[0])]
    t, l, b, r = boxes[order[0]]
    for c in order[1:]:
        if mass[c] < _COMPANION_MASS * mass[order[0]]:
            break
        if width[c] < _COMPANION_WIDTH * width[order[0]]:
            continue
        ct, cl, cb, cr = boxes[c]
        reach = 0.5 * max(b - t + 1, r - l + 1)
        if ct - b <= reach and t - cb <= reach and cl - r <= reach and l - cr <= reach:
            keep.append(int(c))
            t, l, b, r = min(t, ct), min(l, cl), max(b, cb), max(r, cr)
    return (None if len(keep) == n else keep), (int(t), int(l), int(b), int(r))


def clean(x: np.ndarray) -> np.ndarray:
    """Lines and clutter out; returns ink-high [0, 1] for the box around all of *x*'s ink (the image holds
    nothing outside it), all zeros when no digit is left -- what `normalize` needs, without writing the
    box back into a full-size page.

    Works on that box (often a third of a photo): the steps measure sizes against the whole image, and
    there is nothing outside the box, so the result is exactly the whole image's."""
    inked = x != 0
    rows, cols = np.flatnonzero(inked.any(1)), np.flatnonzero(inked.any(0))
    if len(rows) == 0:
        return x[:0, :0]
    t, b, l, r = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    crop = x[t:b, l:r]
    if min(x.shape) >= _LINES_MIN_SIDE:
        crop = remove_lines(crop, x.shape, (t, l))
    return keep_digit(crop, x.shape, (t, l))

