"""Morphology for the clean-up (`_clean`) and number segmentation (`_segment`): k x k minimum and maximum
filters, 8-connected components with their boxes, stroke width.

All numpy with no per-pixel Python: sparse-table filters, union-find over runs in whole-array rounds.
OpenCV's C++ (`connectedComponentsWithStats`, `erode`/`dilate`) gives identical arrays and was measured in
their place for 0.6.0 (interleaved, one process, 500 user-like 200x200 digits): preprocessing 1.03 -> 0.87 ms
an image, about a tenth of a whole `classify` per file, for a 170 MB wheel and 80 ms more start-up; not
taken. scipy.ndimage.label was slower than OpenCV's (0.24 ms a label) and takes 330 ms to import.
"""

from __future__ import annotations

import numpy as np


def sliding(x: np.ndarray, k: int, reduce: np.ufunc) -> np.ndarray:
    """Separable k x k minimum or maximum filter (edges replicated).

    Per axis a sparse table: windows of 1, 2, 4 ... p <= k by doubling, then two overlapping windows of p
    cover k (min and max do not mind the overlap). log2(k) array operations instead of k."""
    lo, hi = k // 2, k - 1 - k // 2
    for axis in (0, 1):
        n = x.shape[axis]
        # edges replicated (np.pad's "edge", without its per-call overhead)
        y = np.concatenate([_head(x, 1, axis).repeat(lo, axis), x, _tail(x, n - 1, axis).repeat(hi, axis)], axis)
        p = 1
        while 2 * p <= k:
            m = y.shape[axis] - p
            y = reduce(_head(y, m, axis), _tail(y, p, axis))
            p *= 2
        x = reduce(_head(y, n, axis), _tail(y, k - p, axis, n))
    return x


def _head(y: np.ndarray, m: int, axis: int) -> np.ndarray:
    return y[:m] if axis == 0 else y[:, :m]


def _tail(y: np.ndarray, start: int, axis: int, length: int | None = None) -> np.ndarray:
    end = None if length is None else start + length
    return y[start:end] if axis == 0 else y[:, start:end]


def components(mask: np.ndarray) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """8-connected components of a boolean mask: (labels, count, boxes, areas). Labels are int32, 0 the
    background, 1..count numbered in the order a row-major scan meets them; boxes (count, 4) int64 are each
    component's top, left, bottom, right (bottom and right exclusive); areas (count,) their pixel counts."""
    labels, n, boxes, areas = _labelled(mask, paint_one=True)
    assert labels is not None
    return labels, n, boxes, areas


def components_or_one(mask: np.ndarray) -> tuple[np.ndarray | None, int, np.ndarray, np.ndarray]:
    """`components`, except that a mask of exactly one component comes back with labels None (the mask is
    its own label image): the painting skipped in the common case of a clean digit."""
    return _labelled(mask, paint_one=False)


def _labelled(mask: np.ndarray, paint_one: bool) -> tuple[np.ndarray | None, int, np.ndarray, np.ndarray]:
    n, runs = _components(mask)
    rows, starts, ends, run_label = runs
    if n == 1:
        box = np.array([[rows[0], starts.min(), rows[-1] + 1, ends.max()]], np.int64)
        area = np.array([int((ends - starts).sum())], np.int64)
        return (_paint(mask.shape, runs) if paint_one else None), 1, box, area
    lab = run_label - 1  # boxes from the runs: a few hundred, not every ink pixel
    boxes = np.zeros((n, 4), np.int64)
    boxes[:, :2] = mask.shape
    np.minimum.at(boxes[:, 0], lab, rows)
    np.minimum.at(boxes[:, 1], lab, starts)
    np.maximum.at(boxes[:, 2], lab, rows + 1)
    np.maximum.at(boxes[:, 3], lab, ends)
    labels = _paint(mask.shape, runs)
    return labels, n, boxes, np.bincount(lab, weights=ends - starts, minlength=n).astype(np.int64)


Runs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # row, start, end (exclusive), label of each run


def _components(mask: np.ndarray) -> tuple[int, Runs]:
    """`components` as runs: (count, runs); `_paint` makes the label image.

    Union-find over horizontal runs, all in whole-array numpy operations: the runs, which runs of
    neighbouring rows touch, and the unions (hook and compress, a handful of rounds).
    """
    h, w = mask.shape
    key_start, key_end, stride = _runs(mask)
    n_runs = len(key_start)
    if n_runs == 0:
        return 0, (key_start, key_start, key_end, key_start)
    sr = key_start // stride
    sc, ec = key_start - sr * stride, key_end - sr * stride
    # Run j of row r-1 touches run i of row r when ps <= e and s <= pe. Runs of a row are sorted and
    # disjoint, so those j form one contiguous range: found by binary search on the keys.
    first = np.searchsorted(key_end, key_start - stride, side="left")  # first run above ending at or after s
    last = np.searchsorted(key_start, key_end - stride, side="right")  # past the last starting at or before e
    # Every pair (run i, run j above it that it touches), then union-find in whole-array steps: hook each
    # pair's larger root onto the smaller, compress paths fully, repeat until no pair spans two roots.
    count = np.maximum(last - first, 0)
    pairs = int(count.sum())
    index = np.arange(n_runs)
    roots = index
    if pairs:
        i_idx = np.repeat(index, count)
        j_idx = np.repeat(first - np.cumsum(count) + count, count) + np.arange(pairs)
        # First round in one step: each run hangs from the first run above that it touches (always an
        # earlier run, so a forest of depth at most h), compressed by log2(h) unchecked jumps.
        roots = np.where(count > 0, first, index)
        for _ in range(max(1, int(h - 1).bit_length())):
            roots = roots[roots]
        while True:
            ri, rj = roots[i_idx], roots[j_idx]
            apart = ri != rj
            if not apart.any():
                break
            np.minimum.at(roots, np.maximum(ri, rj)[apart], np.minimum(ri, rj)[apart])
            while True:
                jumped = roots[roots]
                if (jumped == roots).all():
                    break
                roots = jumped
    # A root never points above itself, so each component's root is its first run in row-major order:
    # numbering the roots in order numbers the components as a row-major scan meets them.
    is_root = roots == index
    run_label = np.cumsum(is_root, dtype=np.int32)[roots]
    return int(np.count_nonzero(is_root)), (sr, sc, ec, run_label)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The horizontal runs of True in a 2-D mask as flat positions in the mask padded by a False column each
    side (every run starts and ends in its row): (starts, ends exclusive, the padded row's stride), in
    row-major order. A position is also its run's (row, column) sort key: row = position // stride, and the
    column in the mask is position - row * stride."""
    h, w = mask.shape
    stride = w + 2
    padded = np.zeros((h, stride), bool)
    padded[:, 1:-1] = mask
    flat = padded.ravel()
    edges = np.flatnonzero(flat[1:] != flat[:-1])  # where a pixel differs from the one before: alternating
    return edges[0::2], edges[1::2], stride


def may_hold_window(mask: np.ndarray, k: int) -> bool:
    """Whether *mask* may hold a k x k window all True, as `sliding` (edges replicated) sees it; False is
    exact. Inside the image that takes k consecutive rows, each with a run of k True; pen strokes thinner
    than that rule a page out at a fraction of the minimum filter's cost. A window cut by the image's
    edge holds as little as its inner half (n = k//2 + 1 rows or columns) but then lies along that edge,
    so when an edge holds such a run, n is what is asked for instead."""
    h, w = mask.shape
    n = k // 2 + 1
    at_edge = (max(_longest_run(mask[0]), _longest_run(mask[-1])) >= min(w, n)
               or max(_longest_run(mask[:, 0]), _longest_run(mask[:, -1])) >= min(h, n))
    side = n if at_edge else k
    starts, ends, stride = _runs(mask)
    rows = np.zeros(h, np.int32)
    rows[starts[ends - starts >= min(w, side)] // stride] = 1
    r = min(h, side)
    if np.count_nonzero(rows) < r:
        return False
    run = np.cumsum(rows, dtype=np.int32)
    return bool((run[r - 1 :] - np.concatenate(([0], run[:-r])) == r).any())


def _longest_run(line: np.ndarray) -> int:
    """Length of the longest run of True in a 1-D boolean array."""
    starts, ends, _ = _runs(line[None])
    return int((ends - starts).max()) if len(starts) else 0


def _paint(shape: tuple[int, int], runs: Runs) -> np.ndarray:
    """The int32 label image of *runs*: each run's label on its columns, via a cumulative sum along the
    rows of +label at its start and -label at its end."""
    h, w = shape
    rows, starts, ends, run_label = runs
    stride = w + 1  # one column past the last for ends at the right edge
    paint = np.zeros(h * stride, np.int32)
    at = rows * stride
    paint[at + starts] = run_label  # no two runs share a start or an end, and an end never meets a start
    paint[at + ends] = -run_label
    return np.cumsum(paint.reshape(h, stride), axis=1, dtype=np.int32)[:, :w]


def stroke_width(x: np.ndarray) -> float:
    """Mean stroke width in pixels of a [0, 1] ink image: twice the ink area over the ink's perimeter."""
    m = x > 0.5
    area = np.count_nonzero(m)
    if area == 0:
        return 0.0
    p = np.zeros((m.shape[0] + 2, m.shape[1] + 2), bool)
    p[1:-1, 1:-1] = m
    perimeter = np.count_nonzero(p[1:] != p[:-1]) + np.count_nonzero(p[:, 1:] != p[:, :-1])
    return 2.0 * area / max(int(perimeter), 1)


FLAT = 8.0  # a mark this many times wider than high is a line (an underline, a box's edge), not a digit
_FRAME_CANDIDATES = 8  # the heaviest marks looked at as possible frames
_FRAME_FILL = 0.2  # a frame's ink covers less than this share of its box (a drawn 0 holding a speck: more)
_EDGE_MIN_SIDE = 64  # images at least this large may be photos of pages, with holes and borders at their edges
_EDGE_BAND = 0.15  # the outer band of a page photo where punch holes and a dark border lie
_HOLE_FILL = 0.65  # a filled disc covers ~0.79 of its box; strokes far less


def not_digits(boxes: np.ndarray, areas: np.ndarray, mass: np.ndarray, labels: np.ndarray,
               full: tuple[int, int] | None = None, at: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Which marks cannot be digits, from their boxes (top, left, bottom, right; exclusive), pixel counts,
    ink and the label image (component c is labelled c + 1): long flat strokes standing alone (an underline,
    a form's edge); on a photo of a page (64 px and more), punch holes and a dark border along its edges; and
    frames -- a sparse mark that surrounds another mark with a quarter of its ink or more
    (ink of the frame left and right of that mark's centre, and above and below it: a register cell's box
    round a digit, where a thin 4's bar and stem beside its other stroke is not). Only the heaviest few marks
    are looked at as frames, so the cost stays linear in the marks."""
    heights, widths = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    out = (widths >= FLAT * heights) & (widths >= 12)
    H, W = full or labels.shape  # *labels* may be the crop at *at* of an image of shape *full*
    if min(H, W) >= _EDGE_MIN_SIDE:  # a photo of a page: its edges can hold what is not writing
        band_y, band_x = _EDGE_BAND * H, _EDGE_BAND * W
        fb = boxes + np.array([at[0], at[1], at[0], at[1]])  # in the whole image
        in_band = (fb[:, 2] <= band_y) | (fb[:, 0] >= H - band_y) | (fb[:, 3] <= band_x) | (fb[:, 1] >= W - band_x)
        # punch holes: filled round blobs within the outer band (a stroke, even a thick one, fills less)
        aspect = heights / np.maximum(widths, 1)
        out |= in_band & (areas >= _HOLE_FILL * heights * widths) & (aspect > 0.75) & (aspect < 1.33) & (heights >= 6)
        # a dark border (the table under the page, a scanner's lid): touching the image's edge, as long as half
        # a side, nearly all of it within the outer band
        touches = (fb[:, 0] == 0) | (fb[:, 1] == 0) | (fb[:, 2] == H) | (fb[:, 3] == W)
        for c in np.flatnonzero(touches & ((heights >= H // 2) | (widths >= W // 2)) & ~out):
            t, l, b, r = boxes[c]
            ys, xs = np.nonzero(labels[t:b, l:r] == c + 1)
            ys, xs = ys + fb[c, 0], xs + fb[c, 1]
            near = (ys < band_y) | (ys >= H - band_y) | (xs < band_x) | (xs >= W - band_x)
            out[c] = bool(near.mean() >= 0.9)
    live = np.where(out, 0.0, mass)
    for c in np.argsort(-live, kind="stable")[:_FRAME_CANDIDATES]:
        t, l, b, r = boxes[c]
        if live[c] <= 0 or areas[c] >= _FRAME_FILL * (b - t) * (r - l):
            continue
        inside = (boxes[:, 0] >= t) & (boxes[:, 1] >= l) & (boxes[:, 2] <= b) & (boxes[:, 3] <= r)
        inside[c] = False
        for i in np.flatnonzero(inside & (live >= 0.25 * live[c])):
            cy, cx = (boxes[i, 0] + boxes[i, 2]) // 2, (boxes[i, 1] + boxes[i, 3]) // 2
            row, col = labels[cy, l:r] == c + 1, labels[t:b, cx] == c + 1
            if row[: cx - l].any() and row[cx - l :].any() and col[: cy - t].any() and col[cy - t :].any():
                out[c] = True
                break
    return out
